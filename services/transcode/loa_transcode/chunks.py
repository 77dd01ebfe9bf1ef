"""Chunked encoding of a long footage across the transcode group: the plan and its commands. Pure: no ffmpeg here.

A long footage's video is cut at its keyframes into chunks. Any worker of the group encodes a chunk (every cut's
video of that stretch, from one decode, as the single run does for the whole); the footage's owner joins each cut's
chunks without re-encoding (the concat demuxer, stream copy) and muxes the cut's audio, made once for the whole
programme (measured and normalized over all of it, never per chunk). What needs the whole programme is planned on
it once and handed to each chunk on the chunk's own timeline: the subject-crop path (`slice_crop`), the subtitles
(`loa_core.subtitles.shift`), the trim (the chunks cover exactly the trimmed frames).

A chunk starts on a keyframe of a closed GOP, so its frames decode from its own packets alone, and each chunk
holds exactly the source frames whose times fall in its stretch: the joined cut is the single run's frames, none
duplicated or dropped at a seam. Where that is not certain, the footage keeps the single run (`SingleRun` says
why): short footage, a stretch with no keyframe for longer than `ChunkPolicy.max_s`, open GOPs (frames after a
keyframe that show before it need the previous GOP), a variable frame rate or one the cut changes (the fps filter
would repeat or drop frames at places that depend on where a run starts), interlaced sources (the deinterlacer
looks at the previous field), bumpers, packets without timestamps.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from loa_core.fingerprint import decode_graph, prints_output_args
from loa_core.media import VideoPacket
from loa_transcode.colour import OUTPUT_TAGS
from loa_transcode.graph import (
    CropPath,
    Job,
    Trim,
    audio_codec_args,
    build_audio_graph,
    build_graph,
    frames_before_end,
    plan_inputs,
    trim_input_args,
    video_codec_args,
)
from loa_transcode.source import SourceInfo

# A chunk's stretch starts this long before its keyframe's time: after the frame before it (a frame is 8 ms or more)
# and safely before the keyframe whatever the rounding of its printed time (1 us), so the keyframe is its first frame.
BOUNDARY_S = 0.001
# Two frames are one frame period apart within this share: container time bases round (1/15360 s for 30 fps).
RATE_SLACK = 0.001


@dataclass(frozen=True)
class ChunkPolicy:
    # Footage shorter than this (after its trim) keeps the single run: the join and the requests cost more.
    from_s: float = 180.0
    # Chunks are cut at the first keyframe at least this long after their start.
    chunk_s: float = 30.0
    # A chunk longer than this (no keyframe for so long) keeps the whole footage on the single run.
    max_s: float = 120.0


@dataclass(frozen=True)
class Chunk:
    index: int
    # The stretch of the source, in seconds after its start, as ffmpeg's input -ss and -to read them.
    start_s: float
    end_s: float | None  # None: to the end of the source
    first_frame: int  # the index of its first frame in the cut
    frames: int

    @property
    def trim(self) -> Trim:
        return Trim(self.start_s, self.end_s)


@dataclass(frozen=True)
class ChunkPlan:
    chunks: tuple[Chunk, ...]
    frames: int  # of the trimmed footage
    fps: float

    def frames_in(self, chunk: Chunk, cut_frames: int) -> int:
        """How many of a cut's first `cut_frames` frames fall in `chunk` (0: the cut ended before it)."""
        return max(0, min(chunk.first_frame + chunk.frames, cut_frames) - chunk.first_frame)

    def cut_frames(self, duration_s: float) -> int:
        """The frames of a cut of `duration_s` (the single run's -t keeps frames that start before it)."""
        return min(self.frames, frames_before_end(duration_s, self.fps))

    def offset_s(self, chunk: Chunk) -> float:
        """Where the chunk starts on the cut's timeline."""
        return chunk.first_frame / self.fps


@dataclass(frozen=True)
class SingleRun:
    """The footage keeps the single run, and why (logged)."""

    reason: str


def _open_gop(packets: Sequence[VideoPacket]) -> float | None:
    """The time of the first keyframe that a later packet of its GOP shows before (an open GOP), or None."""
    key_pts: float | None = None
    for p in packets:
        if p.key:
            key_pts = p.pts_s
        elif key_pts is not None and p.pts_s is not None and p.pts_s < key_pts:
            return key_pts
    return None


def plan_chunks(
    packets: Sequence[VideoPacket],
    info: SourceInfo,
    trim: Trim,
    policy: ChunkPolicy,
    *,
    duration_s: float,
    bumpers: bool = False,
) -> ChunkPlan | SingleRun:
    """Chunks of the trimmed footage at its keyframes, or why it keeps the single run (pure).

    `packets` are the source's video packets in decode order; `duration_s` is the trimmed footage's length.
    """
    if duration_s < policy.from_s:
        return SingleRun(f"{duration_s:.0f} s is shorter than the {policy.from_s:.0f} s chunked from")
    if info.interlaced:
        return SingleRun("interlaced source")
    if bumpers:
        # An intro and outro are other sources joined in the graph: not worth their own chunks yet.
        return SingleRun("the cuts have an intro or outro")
    if any(p.pts_s is None for p in packets):
        return SingleRun("video packets without timestamps")
    opened = _open_gop(packets)
    if opened is not None:
        return SingleRun(f"open GOP at {opened:.3f} s")
    period = 1.0 / info.fps_value
    end = math.inf if trim.end_s is None else trim.end_s
    times = sorted(p.pts_s for p in packets if p.pts_s is not None and trim.start_s <= p.pts_s < end)
    if len(times) < 2:
        return SingleRun("fewer than two frames")
    for a, b in itertools.pairwise(times):
        if abs((b - a) - period) > RATE_SLACK * period + 2e-6:
            return SingleRun(f"frame at {b:.3f} s is {b - a:.4f} s after the previous: not a constant {info.fps}")
    keys = {p.pts_s for p in packets if p.key}
    starts = [0]
    for i, t in enumerate(times):
        if i > 0 and t in keys and t - times[starts[-1]] >= policy.chunk_s:
            starts.append(i)
    # A last chunk much shorter than the rest joins the one before (when that stays within the limit).
    if len(starts) > 1 and (times[-1] + period - times[starts[-1]]) < policy.chunk_s / 4:
        starts.pop()
    bounds = [*starts, len(times)]
    chunks = []
    for index, (first, after) in enumerate(itertools.pairwise(bounds)):
        length = (times[after] if after < len(times) else times[-1] + period) - times[first]
        if length > policy.max_s:
            limit = f"chunks at most {policy.max_s:.0f} s"
            return SingleRun(f"no keyframe for {length:.0f} s after {times[first]:.3f} s ({limit})")
        start = trim.start_s if index == 0 else times[first] - BOUNDARY_S
        stop = trim.end_s if after == len(times) else times[after] - BOUNDARY_S
        chunks.append(Chunk(index, round(start, 6), None if stop is None else round(stop, 6), first, after - first))
    if len(chunks) < 2:
        return SingleRun("no keyframe splits it")
    return ChunkPlan(tuple(chunks), len(times), info.fps_value)


def slice_crop(path: CropPath, offset_s: float, length_s: float) -> CropPath:
    """The crop path planned over the whole cut, on a chunk's timeline [0, length_s) that starts at `offset_s`.

    Each stretch between keyframes is linear, so the window at the chunk's start is interpolated, and the first
    keyframe after its end is kept as the target of the last stretch: the window moves exactly as in one run.
    """
    frames = path.keyframes
    before = [k for k in frames if k[0] <= offset_s]
    after = [k for k in frames if k[0] > offset_s]
    if before and after:
        (t0, x0), (t1, x1) = before[-1], after[0]
        x = x0 + (x1 - x0) * (offset_s - t0) / (t1 - t0)
    else:
        x = (before[-1] if before else after[0])[1]
    kept = [(round(t - offset_s, 3), x1) for t, x1 in after if t - offset_s < length_s]
    beyond = [(round(t - offset_s, 3), x1) for t, x1 in after if t - offset_s >= length_s][:1]
    fallback = tuple(
        (round(max(0.0, a - offset_s), 3), round(b - offset_s, 3))
        for a, b in path.fallback
        if b > offset_s and a < offset_s + length_s
    )
    return replace(path, keyframes=((0.0, round(x, 1)), *kept, *beyond), fallback=fallback)


def chunk_args(job: Job, frames: Sequence[int], prints: Path | None = None) -> list[str]:
    """One chunk: its stretch (`job.trim`) decoded once into each output's video, `frames[i]` frames each, no audio
    (and the thumbnail candidates when the job wants them; with `prints`, the source's own frames as the
    fingerprint reads them, raw, to that file: a live chunk's, for the cuts that pass the source through).

    `-frames:v` makes the count exact whatever the fps filter does at the stretch's end; the encoder settings are
    the single run's, and every chunk starts with a keyframe of its own, so the chunks join by stream copy.
    """
    inputs = plan_inputs(job)
    chains: list[str] = []
    video: list[str] = []
    if job.outputs or job.candidates is not None:
        graph, video, _ = build_graph(job, inputs, audio=False)
        chains.append(graph)
    if prints is not None:
        # The decoded source feeds this branch too: no second decode. Every frame as decoded, before any filter.
        chains.append(decode_graph(None, source="0:v:0", out="prints"))
    args = [*inputs.args, "-filter_complex", ";".join(chains)]
    for out, label, count in zip(job.outputs, video, frames, strict=True):
        args += ["-map", f"[{label}]", *video_codec_args(out, job.options)]
        args += [x for pair in OUTPUT_TAGS for x in pair]
        args += ["-frames:v", str(count), "-f", "mp4", f"file:{out.path}"]
    if job.candidates is not None:
        # A live chunk's thumbnail candidates, from the same decode (a footage's chunks leave them to the owner).
        args += ["-map", "[cand]", "-f", "rawvideo", "-pix_fmt", "gray", f"file:{job.candidates.path}"]
    if prints is not None:
        args += prints_output_args("prints", f"file:{prints}")
    return args


def audio_args(job: Job) -> list[str]:
    """Each output's audio for the whole programme, normalized once over all of it, cut at the cut's length."""
    inputs = plan_inputs(job, video=False)
    graph, labels = build_audio_graph(job, inputs)
    args = [*inputs.args, "-filter_complex", graph]
    for out, label in zip(job.outputs, labels, strict=True):
        t = out.target
        args += ["-map", f"[{label}]", *audio_codec_args(t), "-t", f"{t.duration_s:.6f}", "-f", "mp4"]
        args.append(f"file:{out.path}")
    return args


def candidates_args(source: Path, trim: Trim, every_s: float, path: Path, width: int, height: int) -> list[str]:
    """The thumbnail candidates (small grey frames, see thumbnails.py) from the keyframes only: decoding a tenth of
    the frames or less, the owner makes them while the group encodes the chunks."""
    steps = f"fps=1/{every_s:.6f},scale={width}:{height},format=gray"
    return [
        # Only keyframes are decoded; fps repeats them to one frame every every_s, the single run's spacing.
        "-skip_frame",
        "nokey",
        *trim_input_args(trim),
        "-i",
        f"file:{source}",
        "-an",
        "-vf",
        steps,
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        f"file:{path}",
    ]


def concat_list(paths: Sequence[Path], durations: Sequence[float] | None = None) -> str:
    """The concat demuxer's list of the chunk files, in order (single quotes escaped as its syntax wants); with
    `durations` (each chunk's frames over the rate), each chunk starts exactly where the frames before it end."""
    lines = ["ffconcat version 1.0"]
    for i, p in enumerate(paths):
        quoted = str(p).replace("'", "'\\''")
        lines.append(f"file 'file:{quoted}'")
        if durations is not None:
            lines.append(f"duration {durations[i]:.6f}")
    return "\n".join(lines) + "\n"


def concat_input(listing: Path) -> list[str]:
    # -safe 0: the list names absolute paths of the job's own folder (with the file: protocol).
    return ["-f", "concat", "-safe", "0", "-i", f"file:{listing}"]


def join_args(video: Sequence[str], audio: Path, out: Path, duration_s: float | None = None) -> list[str]:
    """A cut from its video (the input arguments of its chunks' listing, or of a file passed through) and its
    audio, by stream copy: nothing is encoded again. `duration_s`: where the cut ends, when its video goes on."""
    args = [*video, "-i", f"file:{audio}", "-map", "0:v:0", "-map", "1:a:0", "-c", "copy"]
    if duration_s is not None:
        args += ["-t", f"{duration_s:.6f}"]
    # moov before mdat, as every cut (conform.moov_before_mdat).
    return [*args, "-movflags", "+faststart", "-f", "mp4", f"file:{out}"]
