"""Passthrough, the pure decision: a cut copies the source's video only when the source already is that cut."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from loa_core.media import ProbeResult, StreamInfo
from loa_transcode.graph import Bumper, CropPath, Job, Output, Trim, build_args, build_graph, passthrough_problems
from loa_transcode.profiles import PROFILES, resolve
from loa_transcode.source import SourceInfo, source_info

# A phone's 1080p30 recording as ffprobe reads it: H.264 High 4.0, 4:2:0, BT.709 tagged, 16 Mb/s, constant rate.
PHONE = StreamInfo(
    codec_type="video",
    codec_name="h264",
    width=1920,
    height=1080,
    profile="High",
    level=40,
    pix_fmt="yuv420p",
    sample_aspect_ratio="1:1",
    r_frame_rate=30.0,
    avg_frame_rate=30.0,
    field_order="progressive",
    duration_s=10.0,
    bit_rate=16_000_000,
    color_range="tv",
    color_space="bt709",
    color_transfer="bt709",
    color_primaries="bt709",
)
AUDIO = StreamInfo(codec_type="audio", codec_name="aac", width=None, height=None, sample_rate=48000, channels=2)


def _probe(video: StreamInfo = PHONE) -> ProbeResult:
    return ProbeResult("mov,mp4,m4a,3gp,3g2,mj2", 10.0, 21_000_000, (video, AUDIO))


def _job(probed: ProbeResult, name: str = "youtube", **kwargs: object) -> tuple[Job, Output]:
    info = source_info(probed)
    target = resolve(PROFILES[name], source_width=info.width, source_height=info.height, duration_s=info.duration_s)
    out = Output(target, Path(f"/w/{name}.mp4"))
    return Job(Path("/w/source.mp4"), info, (out,), **kwargs), out  # type: ignore[arg-type]


def _problems(video: StreamInfo = PHONE, name: str = "youtube", **kwargs: object) -> list[str]:
    job, out = _job(_probe(video), name, **kwargs)
    return passthrough_problems(job, out, _probe(video))


def test_a_conformant_16_9_h264_source_passes_through_into_the_youtube_cut() -> None:
    assert _problems() == []


def test_a_conformant_vertical_source_passes_through_into_tiktok_and_shorts_but_zalo_is_always_encoded() -> None:
    vertical = replace(PHONE, width=1080, height=1920)
    assert _problems(vertical, "tiktok") == []
    assert _problems(vertical, "shorts") == []
    assert _problems(replace(PHONE, width=1280, height=720), "zalo") == ["zalo: this profile is always encoded"]


def test_a_4k_source_passes_through_within_the_4k_limits() -> None:
    uhd = replace(PHONE, width=3840, height=2160, level=51, bit_rate=45_000_000)
    assert _problems(uhd) == []
    assert _problems(replace(uhd, bit_rate=90_000_000)) != []
    # 45 Mb/s is over the 1080p limit: a 1080p source at that rate is encoded.
    assert _problems(replace(PHONE, bit_rate=45_000_000)) != []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"codec_name": "hevc", "profile": "Main"}, "not h264 High"),
        ({"profile": "Main"}, "not h264 High"),
        ({"profile": "Constrained Baseline"}, "not h264 High"),
        ({"level": 50}, "H.264 level 50"),
        ({"level": -99}, "H.264 level -99"),
        ({"pix_fmt": "yuv420p10le"}, "pixel format yuv420p10le"),
        ({"pix_fmt": "yuvj420p"}, "pixel format yuvj420p"),
        ({"width": 1280, "height": 720}, "frame 1280x720"),
        ({"width": 1440, "height": 1080, "sample_aspect_ratio": "4:3"}, "not square"),
        ({"rotation": 180}, "turned 180"),
        ({"field_order": "tt"}, "interlaced"),
        ({"color_primaries": ""}, "colour tagged untagged/bt709/bt709/tv"),
        ({"color_range": "pc"}, "colour tagged bt709/bt709/bt709/pc"),
        ({"color_transfer": "arib-std-b67", "color_primaries": "bt2020", "color_space": "bt2020nc"}, "colour"),
        ({"avg_frame_rate": 29.6}, "frame rate 29.600"),
        ({"r_frame_rate": 60.0, "avg_frame_rate": 30.0}, "frame rate"),
        ({"bit_rate": 24_000_000}, "video bitrate 24000000"),
    ],
)
def test_a_source_that_is_not_the_cut_is_encoded(change: dict[str, object], words: str) -> None:
    problems = _problems(replace(PHONE, **change))  # type: ignore[arg-type]
    assert any(words in p for p in problems), problems


def test_a_120_fps_source_is_encoded_to_the_profiles_60() -> None:
    assert any("frame rate" in p for p in _problems(replace(PHONE, r_frame_rate=120.0, avg_frame_rate=120.0)))


def test_without_the_streams_bitrate_the_whole_files_decides() -> None:
    mkv = replace(PHONE, bit_rate=None)
    job, out = _job(_probe(mkv))
    assert passthrough_problems(job, out, ProbeResult("matroska,webm", 10.0, 21_000_000, (mkv, AUDIO))) == []
    heavy = ProbeResult("matroska,webm", 10.0, 30_000_000, (mkv, AUDIO))  # 24 Mb/s in all
    assert any("bitrate" in p for p in passthrough_problems(job, out, heavy))


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"logo": Path("/w/logo.png")}, "a logo"),
        ({"trim": Trim(1.0, None)}, "a trim"),
        ({"trim": Trim(0.0, 8.0)}, "a trim"),
        ({"subtitles": Path("/w/subs.srt")}, "subtitles"),
        ({"intro": Bumper(Path("/w/intro.mp4"), SourceInfo(1920, 1080, 3.0, True, "30", 30.0))}, "bumpers"),
        ({"outro": Bumper(Path("/w/outro.mp4"), SourceInfo(1920, 1080, 3.0, True, "30", 30.0))}, "bumpers"),
    ],
)
def test_an_edit_of_the_picture_means_an_encode(edit: dict[str, object], words: str) -> None:
    assert _problems(**edit) == [f"youtube: {words} changes the picture"]


def test_a_subject_crop_or_a_cut_to_the_profiles_length_means_an_encode() -> None:
    vertical = replace(PHONE, width=1080, height=1920, duration_s=300.0)
    probed = ProbeResult("mov,mp4,m4a,3gp,3g2,mj2", 300.0, 600_000_000, (vertical, AUDIO))
    job, out = _job(probed, "shorts")
    assert passthrough_problems(job, out, probed) == ["shorts: a cut to the profile's length changes the picture"]
    job, out = _job(_probe(), "youtube")
    cropped = replace(out, crop=CropPath(608, 1080, ((0.0, 100.0),)))
    assert passthrough_problems(job, cropped, _probe()) == ["youtube: a subject crop changes the picture"]


def test_a_stretch_of_a_source_may_pass_through_whatever_its_own_bitrate_and_length() -> None:
    # A live chunk cannot tell the whole archive's bitrate, nor whether the archive outlasts a cut's length.
    heavy = replace(PHONE, bit_rate=24_000_000, width=1080, height=1920, duration_s=300.0)
    probed = ProbeResult("matroska,webm", 300.0, 900_000_000, (heavy, AUDIO))
    job, out = _job(probed, "shorts")
    assert len(passthrough_problems(job, out, probed)) == 2
    assert passthrough_problems(job, out, probed, stretch=True) == []
    # What every stretch shares still decides.
    job, out = _job(_probe(replace(PHONE, profile="Main")), logo=Path("/w/logo.png"))
    problems = passthrough_problems(job, out, _probe(replace(PHONE, profile="Main")), stretch=True)
    assert len(problems) == 2 and "a logo" in problems[1]


def test_a_copied_cut_maps_the_sources_video_and_still_gets_the_normalized_audio() -> None:
    job, out = _job(_probe())
    tiktok = Output(resolve(PROFILES["tiktok"], source_width=1920, source_height=1080, duration_s=10.0), Path("/t"))
    job = replace(job, outputs=(replace(out, copy_video=True), tiktok))
    graph, video, _ = build_graph(job)
    assert video[0] == "" and video[1] == "v1"
    assert "split=2" in graph  # the TikTok cut's picture and its blurred background; nothing for the copy
    args = build_args(job)
    first = args[: args.index(f"file:{out.path}")]
    assert first[first.index("-map") :][:6] == ["-map", "0:v:0", "-c:v", "copy", "-map", "[a0]"]
    assert "libx264" not in first[first.index("-map") :]
    second = args[args.index(f"file:{out.path}") :]
    assert second[second.index("-map") :][:2] == ["-map", "[v1]"] and "libx264" in second


def test_when_every_cut_is_copied_and_no_still_is_wanted_nothing_decodes_the_video() -> None:
    job, out = _job(_probe())
    graph, video, _ = build_graph(replace(job, outputs=(replace(out, copy_video=True),)))
    assert video == [""] and "0:v" not in graph


def test_ffprobes_level_and_bitrate_are_read() -> None:
    from loa_core.media import parse_probe

    raw = {"format": {"duration": "10.0", "size": "100"}, "streams": [{"codec_type": "video", "codec_name": "h264"}]}
    raw["streams"][0] |= {"width": 1920, "height": 1080, "level": 42, "bit_rate": "16000000"}
    video = parse_probe(raw).video
    assert video is not None and (video.level, video.bit_rate) == (42, 16_000_000)
    raw["streams"][0] |= {"bit_rate": "N/A"}
    bare = parse_probe(raw).video
    assert bare is not None and bare.bit_rate is None
