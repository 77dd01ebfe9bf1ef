"""A live's seams, frame by frame: 8 s whose frames carry their number, pushed as FLV (what the archiver's RTMP server
hands its recorder) into the recorder's own ffmpeg command, cut into 30 segments of 8 frames (B-frames, sound that
starts before the picture by a different amount in each), assembled by the archiver, encoded as 15 live chunks and
joined by transcode: no frame duplicated or dropped at any of the 44 seams, the sound in sync from start to end.
What goes wrong on the way (a chunk that never comes, a chunk that decodes to the wrong length) leaves the archive to
the single run, which is frame-exact too."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from loa_archiver.finalize import assemble
from loa_archiver.live import live_groups
from loa_archiver.recorder import listed_segments, recorder_args
from loa_archiver.store import Segment
from loa_core.contracts import (
    LIVE_RESULT,
    FootageMetadata,
    FootageUploaded,
    LiveChunk,
    LiveSegment,
    SourceMedia,
    layout,
    new_id,
)
from loa_core.hashing import sha256_file
from loa_core.media import FFMPEG, probe
from loa_core.storage import LocalStorage
from loa_transcode import live
from loa_transcode.live import encode_live_chunk
from loa_transcode.pipeline import transcode
from tests.support.chunks import audio_samples, frame_numbers, lag_samples, numbered_clip, packet_times
from tests.support.transcode import context

SECONDS = 8.0
FRAMES = 240
GOP = 8  # a keyframe every 8 frames: the recorder cuts a segment at each
FRAME_SAMPLES = 48000 // 30


@dataclass(frozen=True)
class Live:
    clip: Path
    root: Path  # the storage, every chunk encoded
    event: FootageUploaded  # the archive's announcement
    chunks: tuple[LiveChunk, ...]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Live:
    work = tmp_path_factory.mktemp("live-seams")
    clip = numbered_clip(work / "numbered.mp4", duration_s=SECONDS, gop=GOP)
    push = work / "push.flv"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(clip), "-c", "copy", "-f", "flv", str(push)], check=True)
    recording = work / "recording"
    recording.mkdir()
    with push.open("rb") as stdin:
        subprocess.run([FFMPEG, *recorder_args(recording, "1", 0.2, 1)], stdin=stdin, check=True)
    archive_id, footage_id = new_id(), new_id()
    storage = LocalStorage(work / "storage")
    segments = []
    for n, duration in listed_segments(recording):
        key = layout.segment_key(archive_id, n)
        storage.put_file(key, recording / f"seg{n:05d}.ts")
        segments.append(Segment(n, key, duration, None))
    assert len(segments) == FRAMES // GOP
    assembled = asyncio.run(assemble([recording / f"seg{s.n:05d}.ts" for s in segments], work))
    storage.put_file(layout.archive_key(archive_id), assembled)
    found = asyncio.run(probe(assembled))
    assert found.video is not None
    # Two segments a chunk, as the archiver groups them (its announcements' start times too).
    chunks, start = [], 0.0
    for index, group in enumerate(live_groups(segments, 0.4, ended=True)):
        chunks.append(
            LiveChunk(
                footage_id=footage_id,
                archive_id=archive_id,
                index=index,
                start_s=round(start, 6),
                segments=tuple(LiveSegment(key=s.key, duration_s=s.duration_s) for s in group),
                channels=("ward",),
            )
        )
        start += sum(s.duration_s for s in group)
    ctx = context(storage, work / "work", "youtube")
    for chunk in chunks:
        result = asyncio.run(encode_live_chunk(chunk, ctx))
        assert result.error is None, result.error
    event = FootageUploaded(
        footage_id=footage_id,
        source="livestream",
        metadata=FootageMetadata(title="Đại hội", channels=("ward",)),
        media=SourceMedia(
            key=layout.archive_key(archive_id),
            size_bytes=assembled.stat().st_size,
            sha256=sha256_file(assembled),
            duration_s=found.duration_s,
            width=found.video.width or 0,
            height=found.video.height or 0,
            has_audio=True,
        ),
        live_chunks=len(chunks),
    )
    return Live(clip, work / "storage", event, tuple(chunks))


def _storage(live: Live, tmp_path: Path) -> LocalStorage:
    """A copy of the live's storage, for one test to change."""
    return LocalStorage(Path(shutil.copytree(live.root, tmp_path / "storage")))


def _cut(live: Live, storage: LocalStorage, tmp_path: Path) -> Path:
    ready = asyncio.run(transcode(live.event, ctx=context(storage, tmp_path / "work", "youtube")))
    [rendition] = ready.renditions
    path = storage.local_path(rendition.key)
    assert path is not None
    return path


def _assert_exact(live: Live, cut: Path, *, single_run: bool = False) -> None:
    """Every frame of the live once, in order, one period after the other; the sound where the picture is, at the
    start as at the end. The single run keeps the archive's picture starting a little after its sound (the live's
    own lead, under a frame), so a player holds its first frame that long: its frames are counted as stored."""
    assert frame_numbers(cut, as_stored=single_run) == list(range(FRAMES)), (
        "a frame duplicated, dropped or out of order"
    )
    times = packet_times(cut, "v:0")
    assert all(abs(b - a - 1 / 30) < 1e-3 for a, b in itertools.pairwise(times)), "a gap or an overlap at a seam"
    source, ours = audio_samples(live.clip), audio_samples(cut)
    if not single_run:
        # The join's sound is the archive's from its first frame, as long as its frames.
        assert abs(len(ours) - len(source)) < FRAME_SAMPLES
    late = len(source) - 3 * 48000  # the same instant in both, near the end
    lags = [lag_samples(source, ours), lag_samples(source[late:], ours[late:])]
    assert all(abs(lag) < FRAME_SAMPLES for lag in lags), lags
    # Nothing drifts over the seams: the sound is as late at the end as at the start (within a millisecond).
    assert abs(lags[1] - lags[0]) <= 48, lags


def test_a_live_joined_from_its_chunks_has_every_frame_once_and_its_sound_in_sync(
    recorded: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = _storage(recorded, tmp_path)
    # Each chunk holds exactly its two segments' frames, the ones right after the chunk before.
    first = 0
    for chunk in recorded.chunks:
        path = storage.local_path(layout.live_chunk_key(chunk.footage_id, chunk.index, "youtube.mp4"))
        assert path is not None
        assert frame_numbers(path) == list(range(first, first + 2 * GOP)), f"chunk {chunk.index}"
        first += 2 * GOP
    cut = _cut(recorded, storage, tmp_path)
    assert "single run" not in caplog.text
    _assert_exact(recorded, cut)


def test_a_chunk_that_never_comes_leaves_the_archive_to_the_single_run(
    recorded: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _storage(recorded, tmp_path)
    storage.delete(layout.live_chunk_key(recorded.event.footage_id, 7, LIVE_RESULT))
    monkeypatch.setattr(live, "CHUNK_STALL_S", 1.0)
    cut = _cut(recorded, storage, tmp_path)
    assert "live chunk 7 never came; encoding in a single run" in caplog.text
    _assert_exact(recorded, cut, single_run=True)


def test_a_chunk_of_the_wrong_length_is_never_joined(
    recorded: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = _storage(recorded, tmp_path)
    # Chunk 4's file decodes to a frame less than its result says (its last frame gone).
    path = storage.local_path(layout.live_chunk_key(recorded.event.footage_id, 4, "youtube.mp4"))
    assert path is not None
    short = tmp_path / "short.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-c", "copy", "-frames:v", str(2 * GOP - 1), str(short)],
                   check=True)  # fmt: skip
    shutil.move(short, path)
    cut = _cut(recorded, storage, tmp_path)
    assert "youtube: 239 frames, the archive's 240" in caplog.text and "single run" in caplog.text
    _assert_exact(recorded, cut, single_run=True)
