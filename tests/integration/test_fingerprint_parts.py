"""A cut's fingerprint from its parts (a live's chunks, each hashed frame by frame as it is encoded): the parts'
samples, taken once it is known where each starts, end to end are exactly the whole cut's fingerprint, wherever the
seams fall between the fingerprint's samples."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from loa_core.fingerprint import Fingerprint, FramePrints, concatenate, fingerprint_file, frame_prints
from loa_core.media import FFMPEG


def _part(path: Path, rate: int, first: int, end: int) -> Path:
    """Frames [first, end) of a test pattern at `rate`, as its own file starting at 0 (a chunk's cut)."""
    subprocess.run(
        [FFMPEG, "-y", "-v", "error", "-f", "lavfi",
         "-i", f"testsrc2=size=320x180:rate={rate},trim=start_frame={first}:end_frame={end},setpts=PTS-STARTPTS",
         "-c:v", "libx264", "-preset", "ultrafast", "-bf", "3", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


# Seams between samples, on them, and (24 fps) on a half-sample tie; a part shorter than a sample's spacing.
@pytest.mark.parametrize(("rate", "seams"), [(30, (137, 360, 371, 600, 750)), (24, (6, 30, 42, 43, 54, 120))])
def test_the_parts_fingerprints_end_to_end_are_the_whole_cuts(
    tmp_path: Path, rate: int, seams: tuple[int, ...]
) -> None:
    bounds = (0, *seams)
    parts = [_part(tmp_path / f"{i}.mp4", rate, a, b) for i, (a, b) in enumerate(itertools.pairwise(bounds))]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts), "utf-8")
    whole = tmp_path / "whole.mp4"
    # As the live join makes a cut: the parts by stream copy, one after the other.
    subprocess.run(
        [FFMPEG, "-y", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
         "-movflags", "+faststart", str(whole)],
        check=True,
    )  # fmt: skip

    async def prints() -> tuple[Fingerprint, list[FramePrints]]:
        return await fingerprint_file(whole), [await frame_prints(p, Fraction(rate)) for p in parts]

    expected, pieces = asyncio.run(prints())
    # Through text, as a chunk's result carries them.
    pieces = [FramePrints.from_text(p.to_text()) for p in pieces]
    joined = concatenate([p.sampled(first) for p, first in zip(pieces, bounds, strict=False)])
    assert len(expected.full) == round(seams[-1] / rate * 2)
    assert np.array_equal(joined.full, expected.full)
    assert joined.to_text() == expected.to_text()
