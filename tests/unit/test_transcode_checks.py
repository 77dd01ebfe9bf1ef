"""Pure helpers around the encode: loudness and progress parsing, SRT shifting, still picking, conformance."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from loa_core.media import ProbeResult, StreamInfo
from loa_core.subtitles import Cue, parse_srt, shift, to_srt
from loa_transcode.conform import Expected, conformance_problems, damage_report, moov_before_mdat
from loa_transcode.loudness import Loudness, clamped, parse_loudnorm
from loa_transcode.profiles import PROFILES, resolve
from loa_transcode.progress import parse_progress
from loa_transcode.thumbnails import pick_frame, pick_frames

LOUDNORM_STDERR = """size=N/A time=00:00:02.00 bitrate=N/A speed= 512x
[Parsed_loudnorm_0 @ 0x55e5e4ce0100]
{
	"input_i" : "-41.75",
	"input_tp" : "-38.05",
	"input_lra" : "0.00",
	"input_thresh" : "-51.75",
	"output_i" : "-14.05",
	"output_tp" : "-10.30",
	"output_lra" : "0.00",
	"output_thresh" : "-24.05",
	"normalization_type" : "linear",
	"target_offset" : "0.05"
}
"""


def test_parse_loudnorm() -> None:
    assert parse_loudnorm(LOUDNORM_STDERR) == Loudness(-41.75, -38.05, 0.0, -51.75, 0.05)


def test_silence_has_no_loudness() -> None:
    silent = LOUDNORM_STDERR.replace('"-41.75"', '"-inf"').replace('"-38.05"', '"-inf"')
    assert parse_loudnorm(silent) is None


def test_no_measurement_is_an_error() -> None:
    with pytest.raises(ValueError, match="no measurement"):
        parse_loudnorm("Error while filtering")


# Captured from the pinned FFmpeg 9.0.2 (measure_loudness_args, the head of the output cut short), on generated
# 1 s sources: a tone in an M4A whose comment holds JSON, as editors such as CapCut write; digital silence;
# a -80 dBFS tone; a full-scale stereo square wave, as hard-clipped loudspeaker recordings approach.
COMMENT = """    comment         : {"editor":"CapCut","version":"13.1.0","input_i":"-5.0"}"""
CAPCUT_HEAD = f"""Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:capcut.m4a':
  Metadata:
    major_brand     : M4A
{COMMENT}
  Duration: 00:00:01.00, start: 0.000000, bitrate: 80 kb/s
  Stream #0:0[0x1](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, mono, fltp, 70 kb/s (default)
Stream mapping:
  Stream #0:0 -> #0:0 (aac (native) -> pcm_s16le (native))
Output #0, null, to 'pipe:':
  Metadata:
{COMMENT}
    encoder         : Lavf63.1.102
"""
CAPCUT_TAIL = (
    "[out#0/null @ 0x5630103b4280] video:0KiB audio:375KiB subtitle:0KiB other streams:0KiB global headers:0KiB"
    " muxing overhead: unknown\n"
    "size=N/A time=00:00:01.00 bitrate=N/A speed=  32x elapsed=0:00:00.03\n"
)


def _block(i: str, tp: str, lra: str, thresh: str, offset: str) -> str:
    return f"""[Parsed_loudnorm_0 @ 0x7fbbd8001d80]{" "}
{{
\t"input_i" : "{i}",
\t"input_tp" : "{tp}",
\t"input_lra" : "{lra}",
\t"input_thresh" : "{thresh}",
\t"output_i" : "-13.95",
\t"output_tp" : "-9.88",
\t"output_lra" : "0.00",
\t"output_thresh" : "-23.95",
\t"normalization_type" : "linear",
\t"target_offset" : "{offset}"
}}
"""


def test_loudnorm_is_read_by_name_not_as_the_last_braces() -> None:
    tone = CAPCUT_HEAD + _block("-21.84", "-17.72", "0.00", "-31.84", "-0.05") + CAPCUT_TAIL
    assert parse_loudnorm(tone) == Loudness(-21.84, -17.72, 0.0, -31.84, -0.05)
    # A line of JSON after the block (metadata printed late) is not taken for it.
    assert parse_loudnorm(tone + COMMENT + "\n") == Loudness(-21.84, -17.72, 0.0, -31.84, -0.05)
    # No loudnorm line (the filter never ran): the comment's JSON is not a measurement.
    with pytest.raises(ValueError, match="no measurement"):
        parse_loudnorm(CAPCUT_HEAD + CAPCUT_TAIL)


@pytest.mark.parametrize(
    "block",
    [
        _block("-inf", "-inf", "0.00", "-70.00", "inf"),  # digital silence
        _block("-inf", "-98.06", "0.00", "-70.00", "-8.85"),  # -80 dBFS: no block reaches the -70 LUFS gate
    ],
    ids=["silent", "near-silent"],
)
def test_silent_and_near_silent_sources_have_nothing_to_normalize(block: str) -> None:
    assert parse_loudnorm(CAPCUT_HEAD + block + CAPCUT_TAIL) is None


def test_measurements_are_clamped_into_loudnorms_ranges() -> None:
    square = parse_loudnorm(_block("3.05", "2.05", "0.00", "-6.95", "-0.05"))
    assert square == Loudness(3.05, 2.05, 0.0, -6.95, -0.05)  # read as measured: conformance sees the truth
    # loudnorm refuses measured_I=3.05 ("out of range [-99 - 0]"): the second pass gets 0.
    assert clamped(square) == Loudness(0.0, 2.05, 0.0, -6.95, -0.05)
    extreme = Loudness(-120.0, -150.0, 140.0, -130.0, 120.0)
    assert clamped(extreme) == Loudness(-99.0, -99.0, 99.0, -99.0, 99.0)
    ordinary = Loudness(-23.5, -6.1, 4.2, -33.9, 0.3)
    assert clamped(ordinary) == ordinary


def test_progress_percent_fps_eta() -> None:
    p = parse_progress({"out_time_us": "15000000", "fps": "48.2", "speed": "1.5x", "progress": "continue"}, 60.0)
    assert (p.percent, p.fps, p.eta_s, p.done) == (25.0, 48.2, 30.0, False)
    early = parse_progress({"out_time_us": "N/A", "fps": "0.00", "speed": "N/A", "progress": "continue"}, 60.0)
    assert (early.percent, early.eta_s) == (0.0, None)
    end = parse_progress({"out_time_us": "59990000", "progress": "end"}, 60.0)
    assert (end.percent, end.eta_s, end.done) == (100.0, 0.0, True)
    # ffmpeg can report a little past the planned length (the audio tail); never above 99.9 until the end.
    assert parse_progress({"out_time_us": "61000000", "progress": "continue"}, 60.0).percent == 99.9


SRT = (
    "\ufeff1\r\nxx 00:00:01,000 --> 00:00:03,500\r\nChào mừng quý vị đến với phường\r\n\r\n"
    "2\r\n00:00:05,000 --> 00:00:09,000\r\nLễ khai mạc hội thi văn nghệ\r\nnăm 2026\r\n\r\n"
    "3\r\n00:00:10,000 --> 00:00:12,000\r\nHẹn gặp lại\r\n"
)


def test_srt_parse_and_shift_to_the_trim() -> None:
    cues = parse_srt(SRT)
    assert cues[0] == Cue(1.0, 3.5, "Chào mừng quý vị đến với phường")
    assert cues[1].text == "Lễ khai mạc hội thi văn nghệ\nnăm 2026"
    shifted = shift(cues, 2.0, 9.5)
    assert shifted == [
        Cue(0.0, 1.5, "Chào mừng quý vị đến với phường"),
        Cue(3.0, 7.0, "Lễ khai mạc hội thi văn nghệ\nnăm 2026"),
    ]
    text = to_srt(shifted)
    assert text.startswith("1\n00:00:00,000 --> 00:00:01,500\nChào mừng")
    assert parse_srt(text) == shifted


def test_pick_frame_skips_black_and_flat_and_prefers_sharp() -> None:
    w, h = 16, 12
    black = np.zeros((h, w), np.uint8)
    flat = np.full((h, w), 128, np.uint8)
    blurry = np.tile(np.linspace(40, 200, w, dtype=np.uint8), (h, 1))
    sharp = np.where((np.indices((h, w)).sum(axis=0) % 2) == 0, 40, 220).astype(np.uint8)
    raw = b"".join(f.tobytes() for f in (black, flat, blurry, sharp, black))
    assert pick_frame(raw, w, h) == 3
    assert pick_frame(black.tobytes() + (black + 10).tobytes(), w, h) == 1  # all dark: the brightest
    assert pick_frame(b"", w, h) is None


def test_pick_frames_spreads_candidates_over_the_footage() -> None:
    w, h = 16, 12
    black = np.zeros((h, w), np.uint8)
    blurry = np.tile(np.linspace(40, 200, w, dtype=np.uint8), (h, 1))
    sharp = np.where((np.indices((h, w)).sum(axis=0) % 2) == 0, 40, 220).astype(np.uint8)
    # Three stretches of three frames: (black, sharp, blurry), (black, black, blurry), (blurry, black, sharp).
    order = (black, sharp, blurry, black, black, blurry, blurry, black, sharp)
    raw = b"".join(f.tobytes() for f in order)
    assert pick_frame(raw, w, h) == 1, "the default pick: the sharpest of all"
    assert pick_frames(raw, w, h, 3) == [1, 5, 8], "the best of each third, never a black frame"
    assert pick_frames(raw[: 2 * w * h], w, h, 3) == [0, 1], "fewer frames than candidates: one per frame"
    assert pick_frames(b"", w, h, 3) == []


def _mp4(path: Path, boxes: list[bytes]) -> Path:
    path.write_bytes(b"".join(struct.pack(">I4s", 8 + 4, name) + b"\0\0\0\0" for name in boxes))
    return path


def test_moov_before_mdat(tmp_path: Path) -> None:
    assert moov_before_mdat(_mp4(tmp_path / "fast.mp4", [b"ftyp", b"moov", b"mdat"]))
    assert not moov_before_mdat(_mp4(tmp_path / "slow.mp4", [b"ftyp", b"mdat", b"moov"]))
    assert not moov_before_mdat(_mp4(tmp_path / "none.mp4", [b"ftyp", b"free"]))


GOOD_VIDEO = StreamInfo(
    "video",
    "h264",
    1080,
    1920,
    profile="High",
    pix_fmt="yuv420p",
    sample_aspect_ratio="1:1",
    r_frame_rate=30.0,
    avg_frame_rate=30.0,
    duration_s=10.0,
    color_range="tv",
    color_space="bt709",
    color_transfer="bt709",
    color_primaries="bt709",
)
GOOD_AUDIO = StreamInfo("audio", "aac", None, None, sample_rate=48000, channels=2)
TIKTOK = resolve(PROFILES["tiktok"], source_width=1920, source_height=1080, duration_s=10.0)
ON_TARGET = Loudness(-14.2, -1.6, 3.0, -24.0, 0.0)


def _check(video: StreamInfo = GOOD_VIDEO, *, audio: StreamInfo | None = GOOD_AUDIO, **kwargs: object) -> list[str]:
    streams = (video,) if audio is None else (video, audio)
    probe = ProbeResult("mp4", 10.0, 1000, streams)
    options: dict[str, object] = {"faststart": True, "loudness": ON_TARGET}
    options.update(kwargs)
    expected = Expected(duration_s=10.0, fps=30.0, loud=True)
    return conformance_problems(TIKTOK, probe, expected, **options)  # type: ignore[arg-type]


def test_a_conforming_cut_has_no_problems() -> None:
    assert _check() == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"width": 1080, "height": 1080}, "size 1080x1080, expected 1080x1920"),
        ({"sample_aspect_ratio": "4:3"}, "not square"),
        ({"profile": "Main"}, "expected h264 High"),
        ({"pix_fmt": "yuv420p10le"}, "pixel format yuv420p10le"),
        ({"avg_frame_rate": 120.0}, "120.00 fps, at most 60"),
        ({"duration_s": 9.95}, "video lasts 9.950 s"),
        # Full range, as a yuvj420p source gave before its range was converted.
        ({"color_range": "pc"}, "colour range pc, expected BT.709 limited range"),
        # HDR left as it was: 8-bit but still BT.2020 HLG.
        (
            {"color_primaries": "bt2020", "color_transfer": "arib-std-b67", "color_space": "bt2020nc"},
            "colour primaries bt2020, transfer arib-std-b67, matrix bt2020nc, expected",
        ),
        ({"color_primaries": "smpte170m", "color_space": "smpte170m"}, "primaries smpte170m, matrix smpte170m"),
        # An untagged cut: players guess, and guess differently.
        (
            {"color_range": "", "color_primaries": "", "color_transfer": "", "color_space": ""},
            "colour range untagged, primaries untagged, transfer untagged, matrix untagged",
        ),
    ],
)
def test_each_video_check_names_its_reason(change: dict[str, object], problem: str) -> None:
    fields = {**GOOD_VIDEO.__dict__, **change}
    problems = _check(StreamInfo(**fields))  # type: ignore[arg-type]
    assert len(problems) == 1 and problems[0].startswith("tiktok: ") and problem in problems[0]


def test_one_frame_of_duration_slack() -> None:
    fields = {**GOOD_VIDEO.__dict__, "duration_s": 10.0 + 1 / 30}
    assert _check(StreamInfo(**fields)) == []  # type: ignore[arg-type]


def test_audio_checks() -> None:
    assert "no audio stream" in _check(audio=None)[0]
    assert "expected aac at 48000" in _check(audio=StreamInfo("audio", "aac", None, None, sample_rate=44100))[0]
    assert "loudness -19.0 LUFS" in _check(loudness=Loudness(-19.0, -5.0, 3.0, -29.0, 0.0))[0]
    assert "true peak -0.2 dBTP" in _check(loudness=Loudness(-14.0, -0.2, 3.0, -24.0, 0.0))[0]
    assert "silent" in _check(loudness=None)[0]
    assert "not faststart" in _check(faststart=False)[0]


def test_damage_report() -> None:
    clean = "Input #0, mov,mp4\n  Stream #0:0: Video: h264\nframe=   60 fps=0.0 q=-0.0 Lsize=N/A"
    assert damage_report(clean) is None
    damaged = (
        "[h264 @ 0x55] Invalid NAL unit size (1084626034 > 3026).\n"
        "Error while decoding stream #0:0: Invalid data found when processing input\n"
        "[h264 @ 0x55] concealing 122 DC, 122 AC, 122 MV errors in P frame\n"
        "corrupt.mp4: corrupt decoded frame in stream 0\n"
    )
    assert damage_report(damaged) == (
        "2 decoding error(s), first: Error while decoding stream #0:0: Invalid data found when processing input"
    )


def test_damage_report_reads_ffmpeg_9s_wording() -> None:
    # Copied from the pinned FFmpeg 9.0.2 decoding an MP4 with random bytes over its middle.
    damaged = (
        "[h264 @ 0x5585] Error splitting the input into NAL units.\n"
        "[vist#0:0/h264 @ 0x5585] [dec:h264 @ 0x5585] Error submitting packet to decoder: "
        "Invalid data found when processing input\n"
        "[aist#0:1/aac @ 0x5585] [dec:aac @ 0x5585] Decoding error: Invalid data found when processing input\n"
    )
    report = damage_report(damaged)
    assert report is not None and report.startswith("2 decoding error(s), first: [vist#0:0/h264")


def test_out_of_space_is_found_in_python_errors_and_in_what_ffmpeg_said() -> None:
    import errno

    from loa_core.media import MediaError
    from loa_core.streaming import PermanentError, RetryableError
    from loa_transcode.pipeline import out_of_space

    full = OSError(errno.ENOSPC, "No space left on device")
    ffmpeg = MediaError("ffmpeg exited with 1: Error writing trailer", "[out#0/mp4] No space left on device\n")
    assert out_of_space(full) and out_of_space(ffmpeg)
    wrapped = PermanentError("ffmpeg could not transcode this footage")
    wrapped.__cause__ = ffmpeg
    assert out_of_space(wrapped)
    assert not out_of_space(OSError(errno.EACCES, "Permission denied"))
    assert not out_of_space(MediaError("ffmpeg exited with 1: Invalid data found when processing input", "bad"))
    assert not out_of_space(RetryableError("storage unavailable"))
