"""The archiver's ffmpeg steps on real files: lossless assembly of MPEG-TS segments, each segment's video read when
it is stored and used when the live ends."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest

from loa_archiver.finalize import assemble
from loa_archiver.recorder import sweep
from loa_archiver.store import ArchiveStore
from loa_core.contracts import layout
from loa_core.media import probe
from loa_core.segments import UNREAD, SegmentVideo, concat_script, probe_segments
from loa_core.storage import LocalStorage


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """6 s cut the way the recorder cuts (stream copy into 2 s MPEG-TS pieces, each starting at 0)."""
    work = tmp_path_factory.mktemp("segmented")
    clip = work / "clip.mp4"
    # A keyframe every second (-g 25), as a live encoder sends them.
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine",
         "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", str(clip)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(clip), "-map", "0", "-c", "copy", "-f", "segment", "-segment_time", "2",
         "-segment_format", "mpegts", "-reset_timestamps", "1", "-segment_start_number", "1",
         str(work / "seg%05d.ts")],
        check=True,
    )  # fmt: skip
    segments = sorted(work.glob("seg*.ts"))
    assert len(segments) >= 3
    return segments


async def test_assemble_is_a_stream_copy(segmented: list[Path], tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = await assemble(segmented, [UNREAD] * len(segmented), work)
    found = await probe(archive)
    assert abs(found.duration_s - 6.0) < 0.2 and found.has_audio
    assert found.video is not None and found.video.codec_name == "h264"


async def test_the_end_of_a_live_joins_the_segments_by_the_video_read_when_each_was_stored(
    segmented: list[Path], database_url: str, tmp_path: Path
) -> None:
    """The archive is joined as when every segment was read at the end, on both databases (the times go through
    each as floats); a segment recorded without its video (by an older release) is read at the end."""
    store = ArchiveStore.open(database_url)
    storage = LocalStorage(tmp_path / "storage")
    archive = store.create_archive("rtmp", "k", "local", "T", ("local",), ("local",))
    recording = tmp_path / "recording"  # as the recorder's ffmpeg leaves it
    recording.mkdir()
    for path in segmented:
        shutil.copy(path, recording / path.name)
    (recording / "list-1.csv").write_text(
        "".join(f"{p.name},{2 * i}.0,{2 * i + 2}.0\n" for i, p in enumerate(segmented))
    )
    # In a worker thread, as the recorder sweeps.
    assert await asyncio.to_thread(sweep, recording, archive.archive_id, storage, store) == len(segmented)

    stored = store.segments(archive.archive_id)
    probed = await probe_segments(segmented)
    assert [s.video for s in stored] == probed
    assert all(isinstance(v, SegmentVideo) and v.frames == 50 for v in probed)
    older = stored[1]
    store.add_segment(archive.archive_id, older.n, older.key, older.duration_s)  # as an older release recorded it
    stored = store.segments(archive.archive_id)
    assert stored[1].video is UNREAD
    store.close()

    work = tmp_path / "work"  # as the finalizer fetches them
    work.mkdir()
    paths = []
    for segment in stored:
        assert segment.key == layout.segment_key(archive.archive_id, segment.n)
        paths.append(work / segment.key.rsplit("/", 1)[-1])
        storage.download(segment.key, paths[-1])
    assembled = await assemble(paths, [s.video for s in stored], work)
    assert (work / "concat.txt").read_text() == concat_script(paths, await probe_segments(paths))
    found = await probe(assembled)
    assert abs(found.duration_s - 6.0) < 0.2
