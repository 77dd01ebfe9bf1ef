"""A live's cuts joined from its chunks are checked before they are used: exactly the archive's frames, no tolerance
(the chunks are cut on the archive's own timeline). A seam that lost or doubled a frame, or a chunk that decoded to
the wrong length, makes the archive take the single run, instead of a cut with a broken seam."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from loa_transcode.graph import Job, Output
from loa_transcode.pipeline import _misjoined
from loa_transcode.profiles import PROFILES, resolve
from loa_transcode.source import SourceInfo
from tests.support.media import make_clip

INFO = SourceInfo(1280, 720, 3.0, True, "30", 30.0)


def check(cut: Path, archive_s: float, cut_s: float | None = None) -> str | None:
    """The check of a joined cut of an archive `archive_s` long (the cut as long, or `cut_s`)."""
    target = resolve(PROFILES["youtube"], source_width=1280, source_height=720, duration_s=cut_s or archive_s)
    info = replace(INFO, duration_s=archive_s)
    problem, found = asyncio.run(_misjoined(Job(Path("/archive.mp4"), info, (Output(target, cut),)), info))
    assert found[cut].video is not None  # what the cut's check reads, not probed again
    return problem


def test_a_join_of_exactly_the_archives_frames_is_used_and_one_frame_off_is_not(tmp_path: Path) -> None:
    cut = make_clip(tmp_path / "joined.mp4", width=320, height=180, duration_s=3.0, audio=False)  # 90 frames
    assert check(cut, 3.0) is None
    assert check(cut, 3.0004) is None  # the archive's length as its container rounds it
    problem = check(cut, 3.0 + 1 / 30)  # one frame short: a seam lost it
    assert problem is not None and "youtube: 90 frames, the archive's 91" in problem
    problem = check(cut, 3.1)  # 3 frames short, as a chunk that decoded to the wrong length leaves it
    assert problem is not None and "youtube: 90 frames, the archive's 93" in problem
    # A cut that ends before the archive does keeps the frames that start before its end.
    assert check(cut, 12.0, cut_s=2.99) is None
    assert check(cut, 12.0, cut_s=2.95) is not None
