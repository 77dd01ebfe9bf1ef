"""A live's cuts joined from its chunks are checked for length before they are used: a seam that lost or doubled a
frame makes the archive take the single run, instead of a cut that fails its check and is dead-lettered."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loa_transcode.graph import Job, Output
from loa_transcode.pipeline import _misjoined
from loa_transcode.profiles import PROFILES, resolve
from loa_transcode.source import SourceInfo
from tests.support.media import make_clip

INFO = SourceInfo(1280, 720, 3.0, True, "30", 30.0)


def job_of(cut: Path, archive_s: float) -> Job:
    target = resolve(PROFILES["youtube"], source_width=1280, source_height=720, duration_s=archive_s)
    return Job(Path("/archive.mp4"), INFO, (Output(target, cut),))


def test_a_join_of_the_archives_length_is_used_and_one_short_of_it_is_not(tmp_path: Path) -> None:
    cut = make_clip(tmp_path / "joined.mp4", width=320, height=180, duration_s=3.0, audio=False)
    assert asyncio.run(_misjoined(job_of(cut, 3.0), INFO)) is None
    assert asyncio.run(_misjoined(job_of(cut, 3.02), INFO)) is None  # within a frame (33 ms at 30 fps)
    problem = asyncio.run(_misjoined(job_of(cut, 3.1), INFO))  # 3 frames short, as a drifted seam leaves it
    assert problem is not None and "video lasts 3.000 s, expected 3.100 s" in problem
