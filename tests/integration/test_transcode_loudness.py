"""Loudness at the edges: silent, near-silent and hard-clipped sound all give valid cuts (real ffmpeg, 1 s clips)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loa_core.storage import LocalStorage
from loa_core.streaming import PermanentError
from loa_transcode.pipeline import transcode
from tests.support.transcode import audio_stream, context, ebur128, ffmpeg, upload

SQUARE = "0.999*sgn(sin(2*PI*500*t))"
SOUNDS = {
    "silent": "anullsrc=channel_layout=stereo:sample_rate=48000",
    # -80 dBFS: below EBU R128's -70 LUFS gate, so loudnorm measures -inf LUFS with a finite true peak.
    "near-silent": "sine=frequency=500:sample_rate=48000,volume=-80dB",
    # A full-scale square wave measures +3 LUFS: above the 0 LUFS loudnorm's second pass accepts.
    "clipped": f"aevalsrc=exprs='{SQUARE}|{SQUARE}':sample_rate=48000",
}


@pytest.fixture(scope="module")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | PermanentError]:
    """Each sound under a 1 s picture, transcoded once to the smallest cut (Zalo's 720p)."""
    root = tmp_path_factory.mktemp("loudness")
    storage = LocalStorage(root / "storage")
    result: dict[str, Path | PermanentError] = {}
    for name, sound in SOUNDS.items():
        clip = root / f"{name}.mp4"
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", sound, "-t", "1",
               "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "192k", str(clip))  # fmt: skip
        try:
            ready = asyncio.run(transcode(upload(storage, clip), ctx=context(storage, root / "work", "zalo")))
        except PermanentError as exc:  # kept for this sound's test to report
            result[name] = exc
            continue
        path = storage.local_path(ready.renditions[0].key)
        assert path is not None
        result[name] = path
    return result


def _cut(cuts: dict[str, Path | PermanentError], name: str) -> Path:
    found = cuts[name]
    if isinstance(found, PermanentError):
        pytest.fail(f"the {name} source did not give a cut: {found}")
    return found


@pytest.mark.parametrize("name", ["silent", "near-silent"])
def test_silent_and_near_silent_sources_give_valid_cuts(cuts: dict[str, Path | PermanentError], name: str) -> None:
    cut = _cut(cuts, name)
    audio = audio_stream(cut)
    assert audio is not None and audio["codec_name"] == "aac" and audio["sample_rate"] == "48000"
    integrated, _ = ebur128(cut)
    # Not raised towards -14 LUFS: there is nothing to normalize, and 60 dB of gain would only make hiss.
    assert integrated < -60 or integrated == float("-inf")


def test_a_hard_clipped_source_is_brought_down_to_minus_14_lufs(cuts: dict[str, Path | PermanentError]) -> None:
    integrated, peak = ebur128(_cut(cuts, "clipped"))
    assert abs(integrated - -14.0) <= 1.0
    assert peak <= -1.0
