"""A live's loudness from its chunks (loa_transcode.live.measured_level) against ffmpeg's own ebur128 over the whole:
42 s of sound that steps between loud, quiet (more than 10 LU under the rest: gated out) and silence, cut into five
stretches as a live's chunks are, each measured as a chunk's worker measures it (MEASURE_SOUND). Real ffmpeg, audio
only: a second of CPU.
Then the chunks' sound encoded during the live (loa_transcode.live_splice) and spliced by the join's own code, against
one encode of the whole: 40 s of music-like sound in five chunks, the same frames and samples in the same place, each
seam about as clean, and the MP4 the cut carries starting where one encode's does. A few seconds of CPU."""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from loa_core.contracts import LIVE_PREROLL_S, LiveChunkResult, LiveEncodedSound, LiveSound
from loa_core.media import ffmpeg_stdout, run_ffmpeg
from loa_transcode import live, live_splice
from loa_transcode.graph import TARGET_LUFS, Job, Output
from loa_transcode.live import MEASURE_SOUND, live_sound, measured_level, parse_ebur128
from loa_transcode.loudness import gated_loudness
from loa_transcode.profiles import PROFILES, resolve
from loa_transcode.source import SourceInfo
from tests.support.chunks import lag_samples
from tests.support.transcode import ffmpeg

SECONDS = 42.0
# Where each stretch starts and ends, in seconds: not on the 100 ms steps of the blocks.
CUTS = (0.0, 5.33, 12.07, 18.0, 29.71, SECONDS)
# Loud for 3 s, then 30 dB quieter for 3 s, then half as loud, every 9 s; digital silence from 33 s to 37 s.
LEVEL = "if(between(t,33,37),0,if(lt(mod(t,9),3),1,if(lt(mod(t,9),6),0.03,0.5)))"


@pytest.fixture(scope="module")
def programme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("live-sound") / "programme.wav"
    noise = "anoisesrc=color=pink:amplitude=0.4:sample_rate=48000:seed=7"
    level = f"volume='{LEVEL}':eval=frame,aformat=channel_layouts=stereo"
    ffmpeg("-f", "lavfi", "-i", noise, "-t", f"{SECONDS}", "-af", level, "-c:a", "pcm_s16le", str(path))
    return path


def _measured(*args: str) -> str:
    return asyncio.run(run_ffmpeg([*args, *MEASURE_SOUND]))


def test_the_gating_of_one_stretchs_blocks_is_ffmpegs_integrated_loudness(programme: Path) -> None:
    stderr = _measured("-i", f"file:{programme}")
    whole = parse_ebur128(stderr)
    assert whole is not None
    sound = live_sound(stderr)
    assert len(sound.momentary_lufs) == pytest.approx(SECONDS * 10, abs=2)
    ours = gated_loudness(sound.momentary_lufs)
    # ffmpeg gates a histogram of 0.01 LU bins and prints to 0.1 LU; the blocks are read to 0.1 LU.
    assert ours is not None and abs(ours - whole.input_i) <= 0.06, (ours, whole.input_i)
    assert sound.true_peak_dbtp == whole.input_tp


def test_the_chunks_blocks_gated_together_are_the_whole_programmes_loudness(programme: Path) -> None:
    whole = parse_ebur128(_measured("-i", f"file:{programme}"))
    assert whole is not None
    sounds = [live_sound(_measured("-ss", f"{a}", "-t", f"{b - a:.3f}", "-i", f"file:{programme}"))
              for a, b in itertools.pairwise(CUTS)]  # fmt: skip
    level = measured_level(sounds)
    assert level is not None
    integrated, peak = level
    # The difference: the blocks that straddle a seam (3 of each chunk's, which the chunk measures as its first
    # 300 ms, under 400 ms of sound, under the gate) and ffmpeg's rounding (above).
    assert abs(integrated - whole.input_i) <= 0.2, (integrated, whole.input_i)
    assert abs(peak - whole.input_tp) <= 0.2, (peak, whole.input_tp)
    # Averaged per chunk instead, the quiet stretches would count: the gating over the whole is what matters.
    per_chunk = [gated_loudness(s.momentary_lufs) for s in sounds]
    assert max(abs(x - whole.input_i) for x in per_chunk if x is not None) > 0.5


# --- the chunks' sound encoded during the live and spliced by stream copy (loa_transcode.live_splice) ---------------

RATE = live_splice.SAMPLE_RATE
FRAME = live_splice.AAC_FRAME
# Not a whole number of AAC frames; the chunks start anywhere in a frame.
SPLICE_SECONDS = 39.71
STARTS = (0.0, 7.52, 16.03, 24.41, 32.13)
KBPS = 128
RAW = ["-f", "f32le", "-ar", f"{RATE}", "-ac", "2"]
# Each seam's 85 ms (the frame that overlaps the two encodes, and its neighbours) against the same 85 ms of one encode
# of the whole, in dB of signal-to-noise ratio lost. Measured on this music: 4 s of pre-roll (PREROLL_FRAMES, 188):
# 0.1, -4.4, 3.2 and 1.5 dB (mean 0.1); 2 s: mean 3.1; 1 s: 6.7; 16 frames (0.34 s): 13.2, 8.8, 3.7 and 16.7 (mean
# 10.6; 9.8 to 11.1 with four other seeds of the music); 2 frames: 33.3, 22.6, 27.2, 32.1 (mean 28.8; 25.2 to 29.8).
# What a short pre-roll leaves is not the splice but the encoder starting again: ffmpeg's AAC encoder adapts over
# seconds (the single encode's own first two seconds measure 18 and 27 dB, 32 to 47 each second after). Over the
# whole, the spliced sound measures 33.1 dB with 4 s of pre-roll (29.7 with 16 frames), the single encode 33.0.
SEAM_SNR_LOSS_DB = 8.0
SEAMS_SNR_LOSS_DB = 4.0


def _music(seconds: float) -> np.ndarray:
    """Stereo music-like sound (float32, 48 kHz): plucked chords of a scale, a new one every 0.18-0.6 s, over a bass
    note a channel. Tonal, so AAC codes it well and a seam's damage shows."""
    rng = np.random.default_rng(7)
    count = round(seconds * RATE)
    t = np.arange(count) / RATE
    out = np.zeros((count, 2))
    scale = 220 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16]) / 12)
    at = 0
    while at < count:
        length = int(rng.uniform(0.18, 0.6) * RATE)
        end = min(count, at + length + RATE // 2)
        tt = t[at:end] - t[at]
        envelope = np.exp(-tt * rng.uniform(3, 8)) * (1 - np.exp(-tt * 400))
        for channel in range(2):
            for f in rng.choice(scale, 3, replace=False) * rng.choice([1, 2]):
                phase = rng.uniform(0, 6)
                out[at:end, channel] += (
                    0.08 * envelope * (np.sin(2 * np.pi * f * tt + phase) + 0.3 * np.sin(4 * np.pi * f * tt))
                )
        at += length
    out[:, 0] += 0.05 * np.sin(2 * np.pi * 55 * t)
    out[:, 1] += 0.05 * np.sin(2 * np.pi * 82.5 * t)
    return out.astype(np.float32)


def _run(*args: str) -> None:
    asyncio.run(run_ffmpeg(list(args)))


def _pcm(path: Path) -> np.ndarray:
    """A file's sound decoded (stereo float32), with the pinned ffmpeg."""
    raw = asyncio.run(ffmpeg_stdout(["-i", f"file:{path}", "-map", "0:a:0", "-ac", "2", "-f", "f32le", "-"]))
    return np.frombuffer(raw, np.float32).reshape(-1, 2)


@dataclass(frozen=True)
class Single:
    music: np.ndarray
    mp4: Path  # one encode of the whole, as the archive's sound is (AAC in MP4)
    adts: Path  # its frames, copied
    pcm: np.ndarray  # its frames decoded


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Single:
    work = tmp_path_factory.mktemp("live-splice")
    music = _music(SPLICE_SECONDS)
    whole = work / "music.raw"
    whole.write_bytes(music.tobytes())
    mp4, adts = work / "single.m4a", work / "single.aac"
    steps = f"aresample={RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
    _run(*RAW, "-i", f"file:{whole}", "-af", steps, "-c:a", "aac", "-b:a", f"{KBPS}k", "-ar", f"{RATE}", "-ac", "2",
         "-f", "mp4", f"file:{mp4}")  # fmt: skip
    _run("-i", f"file:{mp4}", "-c", "copy", "-f", "adts", f"file:{adts}")
    return Single(music, mp4, adts, _pcm(adts))


@dataclass(frozen=True)
class Spliced:
    sounds: list[LiveEncodedSound]
    adts: Path  # the chunks' kept frames end to end
    mp4: Path  # as the join muxes them
    pcm: np.ndarray  # the ADTS decoded


def _chunk_sounds(music: np.ndarray, work: Path) -> list[tuple[LiveEncodedSound, Path]]:
    """Each chunk's sound encoded as a chunk's worker does (live._encode_sound, at 0 dB): from what it has, its
    segments and LIVE_PREROLL_S of the segments before it, the plan's filter, AAC in ADTS."""
    made = []
    for k, (a, b) in enumerate(itertools.pairwise((*STARTS, SPLICE_SECONDS))):
        plan = live_splice.sound_plan(k, a, b, (0.0, 0.0))
        first = 0 if k == 0 else round(a * RATE) - round(LIVE_PREROLL_S * RATE)
        last = round(b * RATE)
        given = work / f"chunk{k}.raw"
        given.write_bytes(music[first:last].tobytes())
        trim_from_s = (plan.encoded_from - first) / RATE
        assert trim_from_s >= 0, "LIVE_PREROLL_S of segments holds the pre-roll and the seam's lead"
        path = work / f"sound{k}.aac"
        _run(*RAW, "-i", f"file:{given}", "-map", "0:a:0", "-af", plan.filter(trim_from_s, None), "-c:a", "aac",
             "-b:a", f"{KBPS}k", "-ar", f"{RATE}", "-ac", "2", "-f", "adts", f"file:{path}")  # fmt: skip
        frames = live_splice.adts_frames(path.read_bytes())
        # Its priming frame, then a frame for each 1024 samples begun: what splice_problem counts on.
        assert len(frames) == math.ceil((last - plan.encoded_from) / FRAME) + 1, k
        made.append((live_splice.encoded(plan, {KBPS: path.name}, len(frames)), path))
    return made


def _splice(music: np.ndarray, work: Path) -> Spliced:
    """The chunks' sound encoded and spliced by the join's own code (live._spliced_sound)."""
    work.mkdir()
    chunks = _chunk_sounds(music, work)
    sounds = [s for s, _ in chunks]
    assert live_splice.splice_problem(sounds) is None
    # Measures that the join predicts at the target from (their only use there: the gains are 0 dB).
    level = LiveSound(momentary_lufs=(TARGET_LUFS,) * 10, true_peak_dbtp=-3.0)
    results = [
        LiveChunkResult(start_s=a, duration_s=b - a, sound=level, encoded_sound=s)
        for (a, b), s in zip(itertools.pairwise((*STARTS, SPLICE_SECONDS)), sounds, strict=True)
    ]
    target = resolve(PROFILES["youtube"], source_width=1920, source_height=1080, duration_s=SPLICE_SECONDS)
    info = SourceInfo(1920, 1080, SPLICE_SECONDS, True, "30", 30.0)
    job = Job(work / "archive.mp4", info, (Output(target, work / "youtube.mp4"),))

    async def fetch(index: int, name: str) -> Path:
        assert name == sounds[index].files[KBPS]
        return chunks[index][1]

    made = asyncio.run(live._spliced_sound(job, work, results, fetch))
    assert made is not None and list(made) == [KBPS]
    adts = work / f"spliced-{KBPS}.aac"
    return Spliced(sounds, adts, made[KBPS], _pcm(adts))


@pytest.fixture(scope="module")
def spliced(single: Single, tmp_path_factory: pytest.TempPathFactory) -> Spliced:
    return _splice(single.music, tmp_path_factory.mktemp("live-splice") / "chunks")


def _snr_db(source: np.ndarray, decoded: np.ndarray, a: int, b: int) -> float:
    """The signal-to-noise ratio (dB) of `decoded` against `source` over samples [a, b) of the cut (`decoded` from
    ADTS: its first 1024 samples are the priming frame's)."""
    x = source[a:b].astype(np.float64)
    noise = decoded[a + FRAME : b + FRAME].astype(np.float64) - x
    return float(10 * np.log10(np.sum(x**2) / np.sum(noise**2)))


def _seam_losses(single: Single, spliced: Spliced) -> list[float]:
    """How much worse than the single encode the spliced sound is over each seam's 85 ms (dB)."""
    ours, theirs = spliced.pcm, single.pcm
    losses = []
    for sound in spliced.sounds[1:]:
        a, b = sound.seam - 2 * FRAME, sound.seam + 2 * FRAME
        losses.append(_snr_db(single.music, theirs, a, b) - _snr_db(single.music, ours, a, b))
    return losses


def test_the_chunks_sound_spliced_has_the_single_encodes_frames_and_samples_in_place(
    single: Single, spliced: Spliced
) -> None:
    ours, theirs = live_splice.adts_frames(spliced.adts.read_bytes()), live_splice.adts_frames(single.adts.read_bytes())
    # Every frame of the cut once: as many as one encode of the whole makes.
    assert len(ours) == len(theirs) == math.ceil(SPLICE_SECONDS * RATE / FRAME) + 1
    a, b = spliced.pcm, single.pcm
    assert a.shape == b.shape
    # In place from start to end: no sample late or early against the single encode or the source, at the start,
    # over each seam and at the end.
    source = single.music[:, 0]
    for at in [0, *(s.seam - RATE // 4 for s in spliced.sounds[1:]), len(source) - 3 * RATE]:
        window = RATE // 2
        assert lag_samples(b[FRAME + at :, 0], a[FRAME + at :, 0], window=window, search=2 * FRAME) == 0, at
        assert lag_samples(source[at:], a[FRAME + at :, 0], window=window, search=2 * FRAME) == 0, at


def test_around_each_seam_the_spliced_sound_is_about_as_clean_as_one_encode(single: Single, spliced: Spliced) -> None:
    losses = _seam_losses(single, spliced)
    assert max(losses) <= SEAM_SNR_LOSS_DB and sum(losses) / len(losses) <= SEAMS_SNR_LOSS_DB, losses


def test_a_pre_roll_of_two_frames_is_heard_at_the_seams(
    single: Single, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The measure above tells: the chunk's encoder not settled by its seam (what PREROLL_FRAMES is for) fails it."""
    monkeypatch.setattr(live_splice, "PREROLL_FRAMES", 2)
    losses = _seam_losses(single, _splice(single.music, tmp_path / "chunks"))
    assert sum(losses) / len(losses) > SEAMS_SNR_LOSS_DB, losses


def test_the_spliced_sound_in_mp4_starts_where_one_encode_does(single: Single, spliced: Spliced) -> None:
    ours, theirs = _pcm(spliced.mp4), _pcm(single.mp4)
    # The priming frame left out by the MP4's edit, as one encode's: the same samples as the ADTS, from the cut's 0.
    assert np.array_equal(ours, spliced.pcm[FRAME : FRAME + len(ours)])
    assert len(theirs) == round(SPLICE_SECONDS * RATE)
    # As long, but for the last frame's padding: ADTS has no field for where the sound ends (one encode's MP4 has
    # its last packet's own length), so the spliced sound ends on the frame (at most 1023 samples, 21 ms, later).
    padding = (len(live_splice.adts_frames(spliced.adts.read_bytes())) - 1) * FRAME - len(theirs)
    assert 0 <= padding < FRAME and len(ours) == len(theirs) + padding
    window = RATE // 2
    for at in (0, len(theirs) - 3 * RATE):
        assert lag_samples(theirs[at:, 0], ours[at:, 0], window=window, search=2 * FRAME) == 0, at


def test_a_chunks_gain_is_held_over_its_pre_roll_and_ramps_from_its_seam_to_the_next(tmp_path: Path) -> None:
    """The plan's filter with ffmpeg's own volume filter: the ramp's time counts from the encode's first sample."""
    plan = live_splice.sound_plan(1, 2.0, 4.5, (-6.0, 3.0))
    tone = np.full((round(6 * RATE), 2), 0.1, np.float32)  # a constant: its level is the gain
    given, out = tmp_path / "tone.raw", tmp_path / "gained.raw"
    given.write_bytes(tone.tobytes())
    trim_from_s = plan.encoded_from / RATE
    _run(*RAW, "-i", f"file:{given}", "-af", plan.filter(trim_from_s, None), "-f", "f32le", f"file:{out}")
    gained = np.frombuffer(out.read_bytes(), np.float32).reshape(-1, 2)[:, 0]

    def gain_at(sample: int) -> float:  # in the cut
        return float(20 * np.log10(gained[sample - plan.encoded_from] / 0.1))

    # Each audio frame of the filter takes the gain at its start (frames of 4096 samples from ffmpeg's raw PCM
    # demuxer; 1024 from a live's AAC): within a frame's step of the ramp.
    span = plan.next_seam - plan.seam
    step = 9.0 * 4096 / span
    assert gain_at(plan.encoded_from) == pytest.approx(-6.0, abs=1e-3)
    assert gain_at(plan.seam - 1) == pytest.approx(-6.0, abs=1e-3)
    for part in (0.25, 0.5, 0.75):
        assert gain_at(plan.seam + round(part * span)) == pytest.approx(-6.0 + 9.0 * part, abs=step), part
    assert gain_at(plan.next_seam + 4096) == pytest.approx(3.0, abs=1e-3)
    assert gain_at(len(gained) + plan.encoded_from - 1) == pytest.approx(3.0, abs=1e-3)
