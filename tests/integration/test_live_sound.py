"""A live's loudness from its chunks (loa_transcode.live.measured_level) against ffmpeg's own ebur128 over the whole:
42 s of sound that steps between loud, quiet (more than 10 LU under the rest: gated out) and silence, cut into five
stretches as a live's chunks are, each measured as a chunk's worker measures it (MEASURE_SOUND). Real ffmpeg, audio
only: a second of CPU."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from loa_core.media import run_ffmpeg
from loa_transcode.live import MEASURE_SOUND, live_sound, measured_level, parse_ebur128
from loa_transcode.loudness import gated_loudness
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
