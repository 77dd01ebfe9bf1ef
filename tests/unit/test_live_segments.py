"""A live's segments on one timeline (loa_core.segments, pure): each segment's first frame right after the last frame
of the one before, whatever the sound does at the segment's edges."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from loa_core.segments import SegmentVideo, concat_script, segment_video, spans

FRAME = 1 / 30


def _times(first_s: float, frames: int) -> list[float]:
    # As an RTMP push stamps them: whole milliseconds.
    return [round(first_s + n * FRAME, 3) for n in range(frames)]


def _starts(script: str) -> list[float]:
    """Where the concat demuxer starts each file: the sum of the durations before it."""
    durations = [float(d) for d in re.findall(r"^duration (\S+)$", script, re.MULTILINE)]
    return [sum(durations[:k]) for k in range(len(durations))]


def test_each_segments_first_frame_follows_the_last_frame_of_the_one_before() -> None:
    # The sound starts before the picture by a different amount in each segment (0, 21, 58 ms), as recorded.
    videos = [segment_video(_times(first, 60)) for first in (0.0, 0.021, 0.058, 0.053)]
    script = concat_script([Path(f"/w/seg{k}.ts") for k in range(4)], videos)
    starts = _starts(script)
    firsts = [start + v.first_s for start, v in zip(starts, videos, strict=True) if v is not None]
    # Every segment's picture lands 60 frames after the one before's (the mean period, not a 33 ms step).
    assert [b - a for a, b in itertools.pairwise(firsts)] == [pytest.approx(2.0, abs=2e-6)] * 3
    assert script.startswith("file '/w/seg0.ts'\nduration ")


def test_a_segments_frames_last_whole_periods_of_the_lives_rate() -> None:
    a = segment_video([0.5, 0.0, 0.25, 0.75])  # in any order
    assert a == SegmentVideo(0.0, 0.75, 4, 3, 0.75)
    # 4 fps is no live rate: the mean stands; a segment of one frame lasts one period, one without video nothing.
    assert spans([a, segment_video([0.1]), None]) == [1.0, 0.25, 0.0]
    assert segment_video([]) is None and spans([segment_video([0.1])]) is None
    # A frame dropped inside a segment stays a gap; 29.97 is told from 30 by the mean over the segments.
    dropped = segment_video([t for n, t in enumerate(_times(0.0, 60)) if n != 30])
    assert spans([dropped, segment_video(_times(0.0, 60))]) == [pytest.approx(2.0), pytest.approx(2.0)]
    ntsc = [segment_video([round(n * 1.001 / 30, 3) for n in range(60)])] * 3
    assert spans(ntsc) == [pytest.approx(60 * 1.001 / 30)] * 3


def test_a_segment_without_video_keeps_its_own_duration_and_names_are_quoted() -> None:
    video = segment_video([0.0, 0.033, 0.067, 0.1])  # four frames at 30 fps
    script = concat_script([Path("/w/it's.ts"), Path("/w/audio.ts")], [video, None])
    assert script == "file '/w/it'\\''s.ts'\nduration 0.133333\nfile '/w/audio.ts'\n"
