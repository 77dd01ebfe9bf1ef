"""A live's recorded segments joined into one timeline with no gap and no overlap at any seam: the archiver's
archive and transcode's live chunks are made of the same segments, joined the same way, so a chunk's frames are
exactly the archive's frames of that stretch.

Why not let the concat demuxer line the segments up by itself: it starts each file where the one before ended by
that file's duration, and counts a file from its earliest packet of any stream. A segment's sound starts a few
milliseconds before its picture, by a different amount in each segment, and its duration is its longest stream's:
so each seam left the picture a frame or two late (measured: 1.5-2 frames per 2 s segment of a push with B-frames),
which the fps filter filled with repeated frames, and the sound drifted off the picture by as much at every seam.

Here each segment's place comes from its own video packets: its first frame's time after the file's start and how
long its frames last (its last frame as long as the others). Each file is given the `duration` that makes its
successor's first frame follow its own last frame by exactly one frame; its sound keeps its place against its
picture, as recorded. A frame the live itself dropped inside a segment stays a gap, as the live had it.

A segment's video is read once, when the archiver stores it (`probe_segment`, while the live goes on), and kept with
the segment: the end of a live reads only what was not recorded then (`videos_of`), so the archive's assembly does
not grow with the live's length.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Final, TypeAlias

from loa_core.media import video_packets


@dataclass(frozen=True)
class SegmentVideo:
    """A segment's video: its first and last frame's times after the file's start, how many frames it has, and the
    steps between two frames that are no gap (`steady` of them, `steady_s` long in all)."""

    first_s: float
    last_s: float
    frames: int
    steady: int = 0
    steady_s: float = 0.0


# A step between two frames longer than this many usual steps is a gap (a frame the live dropped), not its rate.
GAP = 1.5


def segment_video(times: Sequence[float]) -> SegmentVideo | None:
    """A segment's video from its frames' presentation times after the file's start, in any order (pure); None for
    a segment without a frame."""
    if not times:
        return None
    ordered = sorted(times)
    steps = [b - a for a, b in itertools.pairwise(ordered)]
    usual = statistics.median(steps) if steps else 0.0
    steady = [step for step in steps if step <= GAP * usual]
    return SegmentVideo(ordered[0], ordered[-1], len(ordered), len(steady), sum(steady))


# The rates a live encoder sends; a mean period within RATE_SLACK of one of them is taken as that rate's.
LIVE_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 50.0, 60000 / 1001, 60.0)
RATE_SLACK = 0.005


def live_period(videos: Sequence[SegmentVideo | None]) -> float | None:
    """The time between two frames of the live (pure): the mean step over every segment, gaps left out, taken as
    the live rate it is within RATE_SLACK of. The mean, not the usual step: a push's times are whole milliseconds
    (33, 33, 34 ms at 30 fps), and only the mean of many tells 30 fps from 29.97. None: no two frames."""
    steps = sum(v.steady for v in videos if v is not None)
    mean = sum(v.steady_s for v in videos if v is not None) / steps if steps else 0.0
    if mean <= 0:
        return None
    rate = min(LIVE_RATES, key=lambda r: abs(1 / r - mean))
    return 1 / rate if abs(mean * rate - 1) <= RATE_SLACK else mean


def spans(videos: Sequence[SegmentVideo | None]) -> list[float] | None:
    """How long each segment's frames last (pure): whole periods of the live from its first frame to one period
    after its last (the milliseconds of a push's times rounded off, a frame the live dropped inside a segment kept
    as a gap); nothing for a segment without video. None: no period to go by."""
    period = live_period(videos)
    if period is None:
        return None
    return [0.0 if v is None else (round((v.last_s - v.first_s) / period) + 1) * period for v in videos]


def concat_script(paths: Sequence[Path], videos: Sequence[SegmentVideo | None]) -> str:
    """The concat demuxer's script joining the segments with each one's first frame right after the last frame of
    the one before (pure). The demuxer starts file k+1 at file k's start plus its `duration`, and puts a file's
    first frame `first_s` after that. A segment without video keeps the duration the demuxer reads from it."""
    lasting = spans(videos)
    lines = []
    for k, (path, video) in enumerate(zip(paths, videos, strict=True)):
        lines.append("file '" + str(path).replace("'", "'\\''") + "'\n")
        after = videos[k + 1] if k + 1 < len(videos) else None
        if video is not None and lasting is not None:
            # The start of the next file, so that its first frame comes one period after this one's last.
            start_next = video.first_s + lasting[k] - (after.first_s if after is not None else 0.0)
            lines.append(f"duration {max(0.0, start_next):.6f}\n")
    return "".join(lines)


async def probe_segment(path: Path, timeout_s: float = 60.0) -> SegmentVideo | None:
    """A segment's video, read from its packets (demuxing only); None for a segment without video."""
    packets = await video_packets(path, timeout_s=timeout_s)
    return segment_video([p.pts_s for p in packets if p.pts_s is not None])


async def probe_segments(paths: Sequence[Path]) -> list[SegmentVideo | None]:
    """Each segment's video, read from its packets (demuxing only)."""
    return [await probe_segment(path) for path in paths]


class Unread(Enum):
    """A segment whose video was not read when it was stored: an older release stored it, or its probe failed."""

    UNREAD = "unread"


UNREAD: Final = Unread.UNREAD
# A segment's video as recorded when it was stored: UNREAD, or what `probe_segment` read (None: it has no video).
RecordedVideo: TypeAlias = SegmentVideo | Unread | None


async def videos_of(paths: Sequence[Path], recorded: Sequence[RecordedVideo]) -> list[SegmentVideo | None]:
    """Each segment's video: as recorded when it was stored, read from its file where it was not."""
    found = []
    for path, video in zip(paths, recorded, strict=True):
        found.append(await probe_segment(path) if isinstance(video, Unread) else video)
    return found
