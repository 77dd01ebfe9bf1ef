"""Helpers for the chunked-encoding tests: a clip whose frames carry their own number, reading it back, the cuts'
frame times and audio, and a transcode group in one process (chunk requests encoded by `encode_chunk` tasks)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from loa_core.contracts import ChunkResult, TranscodeChunk, layout
from loa_core.contracts.chunks import RESULT_NAME
from loa_core.storage import Storage
from loa_transcode.chunked import Chunking, encode_chunk
from loa_transcode.chunks import ChunkPolicy
from loa_transcode.pipeline import JobContext

# A test chunk is a few seconds: a 30 s clip makes 6 or 7 of them.
TEST_POLICY = ChunkPolicy(from_s=10.0, chunk_s=4.0, max_s=20.0)
BITS = 16
BAR = 40  # pixels per bit, across the top of a 640-wide frame


def numbered_clip(path: Path, *, duration_s: float = 30.0, gop: int = 60, x264: str = "") -> Path:
    """640x360 30 fps: testsrc2 with its frame number written across the top in 16 black/white bars, keyframes every
    `gop` frames (closed GOPs unless `x264` says otherwise), and noise for sound (sharp for lining up audio)."""
    bars = f"if(mod(floor(N/pow(2,floor(X/{BAR}))),2),235,16)"
    graph = (
        f"nullsrc=size=640x40:rate=30,format=gray,geq=lum='{bars}',format=yuv420p[bars];"
        f"testsrc2=size=640x360:rate=30[pic];[pic][bars]overlay=0:0:shortest=1[v];"
        "anoisesrc=color=pink:amplitude=0.3:sample_rate=48000[a]"
    )
    params = ["-x264-params", x264] if x264 else []
    argv = ["ffmpeg", "-v", "error", "-y", "-filter_complex", graph, "-map", "[v]", "-map", "[a]"]
    argv += ["-t", f"{duration_s}", "-c:v", "libx264", "-preset", "veryfast", "-g", str(gop), "-keyint_min", str(gop)]
    argv += [*params, "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)]
    subprocess.run(argv, check=True)
    return path


def frame_numbers(path: Path, *, as_stored: bool = False) -> list[int]:
    """The number each frame of a cut shows (its picture scaled back to the clip's 640x360), as a player shows
    them from 0 at the stream's rate (a frame held over a gap in the times counts twice), or `as_stored`."""
    held = ["-fps_mode", "passthrough"] if as_stored else []
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), *held, "-vf", "scale=640:360,format=gray", "-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 360, 640)
    row = frames[:, 20, BAR // 2 :: BAR][:, :BITS] > 128
    return [int(sum(1 << i for i, bit in enumerate(bits) if bit)) for bits in row]


def packet_times(path: Path, stream: str) -> list[float]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time", "-of", "csv=p=0",
         str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sorted(float(line.strip().strip(",")) for line in out.splitlines() if line.strip())


def audio_samples(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "1", "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.float32)


def lag_samples(a: np.ndarray, b: np.ndarray, window: int = 48000, search: int = 4800) -> int:
    """How many samples `b` is late against `a` (cross-correlation of a second of each, ±`search`)."""
    x = a[search : search + window]
    best, lag = -np.inf, 0
    for k in range(-search, search + 1, 1):
        y = b[search + k : search + k + window]
        score = float(np.dot(x, y))
        if score > best:
            best, lag = score, k
    return lag


Tamper = Callable[[TranscodeChunk, int], TranscodeChunk | None]


@dataclass
class Group:
    """The transcode group in one process: every chunk request is encoded by an `encode_chunk` task on the same
    storage. `tamper(chunk, nth_request)` may change a request or drop it (None), to stand for what goes wrong."""

    tamper: Tamper = lambda chunk, _n: chunk
    requests: list[TranscodeChunk] = field(default_factory=list)
    results: dict[int, ChunkResult] = field(default_factory=dict)
    # Chunks encoded at once: two workers of one chunk each.
    workers: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _ctx: JobContext | None = None

    def context(self, ctx: JobContext, stall_s: float = 30.0, requests: int = 3) -> JobContext:
        self._ctx = ctx
        chunking = Chunking(TEST_POLICY, self._request, stall_s=stall_s, requests=requests, poll_s=0.2)
        return replace(ctx, chunked=chunking.encode)

    async def _request(self, chunk: TranscodeChunk) -> None:
        self.requests.append(chunk)
        sent = self.tamper(chunk, sum(r.index == chunk.index for r in self.requests))
        if sent is not None:
            task = asyncio.create_task(self.encode(sent))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def storage(self) -> Storage:
        assert self._ctx is not None
        return self._ctx.storage

    async def encode(self, chunk: TranscodeChunk) -> None:
        """What a worker of the group does with a chunk request."""
        assert self._ctx is not None
        async with self.workers:
            await encode_chunk(chunk, self._ctx)
        key = layout.chunk_key(chunk.footage_id, chunk.job_id, chunk.index, RESULT_NAME)
        if self._ctx.storage.exists(key):  # a publish may have cleared it already
            with self._ctx.storage.open_read(key) as f:
                self.results[chunk.index] = ChunkResult.model_validate_json(f.read())

    async def settle(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks)
