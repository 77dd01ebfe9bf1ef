"""A live recorded as the archiver records one, without its processes: a push (FLV, what the archiver's RTMP server
hands its recorder) cut into segments by the recorder's own ffmpeg command, each stored with its video read as the
recorder reads it, the archive assembled by the archiver's own code, the chunks grouped and announced as the
archiver's LiveChunker does, and the archive's announcement."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path

from loa_archiver.finalize import assemble
from loa_archiver.live import live_chunks, live_groups
from loa_archiver.recorder import listed_segments, read_video, recorder_args
from loa_archiver.store import Segment
from loa_core.contracts import FootageMetadata, FootageUploaded, LiveChunk, SourceMedia, layout, new_id
from loa_core.hashing import sha256_file
from loa_core.media import FFMPEG, probe
from loa_core.storage import LocalStorage


@dataclass(frozen=True)
class RecordedLive:
    storage: LocalStorage  # the segments and the archive, stored
    archive: Path  # the assembled archive (a copy of what is stored)
    chunks: tuple[LiveChunk, ...]  # as announced, none encoded yet
    event: FootageUploaded  # the archive's announcement


def record_live(push: Path, work: Path, *, segment_s: float, chunk_s: float) -> RecordedLive:
    """Record `push` into segments of about `segment_s` (the recorder cuts at keyframes), grouped into chunks of at
    least `chunk_s`, in a storage under `work`."""
    recording = work / "recording"
    recording.mkdir()
    with push.open("rb") as stdin:
        subprocess.run([FFMPEG, *recorder_args(recording, "1", segment_s, 1)], stdin=stdin, check=True)
    archive_id, footage_id = new_id(), new_id()
    storage = LocalStorage(work / "storage")
    segments = []
    for n, duration in listed_segments(recording):
        key = layout.segment_key(archive_id, n)
        path = recording / f"seg{n:05d}.ts"
        # Each segment's video read as the recorder stores it, and the archive joined by what was read.
        segments.append(Segment(n, key, duration, None, asyncio.run(read_video(path))))
        storage.put_file(key, path)
    paths = [recording / f"seg{s.n:05d}.ts" for s in segments]
    archive = asyncio.run(assemble(paths, [s.video for s in segments], work))
    storage.put_file(layout.archive_key(archive_id), archive)
    found = asyncio.run(probe(archive))
    assert found.video is not None
    groups = live_groups(segments, chunk_s, ended=True)
    chunks = live_chunks(groups, archive_id=archive_id, footage_id=footage_id, channels=("ward",))
    event = FootageUploaded(
        footage_id=footage_id,
        source="livestream",
        metadata=FootageMetadata(title="Đại hội", channels=("ward",)),
        media=SourceMedia(
            key=layout.archive_key(archive_id),
            size_bytes=archive.stat().st_size,
            sha256=sha256_file(archive),
            duration_s=found.duration_s,
            width=found.video.width or 0,
            height=found.video.height or 0,
            has_audio=found.has_audio,
        ),
        live_chunks=len(chunks),
    )
    return RecordedLive(storage, archive, tuple(chunks), event)
