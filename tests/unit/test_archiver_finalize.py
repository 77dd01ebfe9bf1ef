"""Finalizing in-process with a producer that fails once: retried, each footage announced once, then announced."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from types import SimpleNamespace

from loa_archiver.__main__ import build_archiver
from loa_archiver.finalizer import Finalizer
from loa_archiver.leases import Leases, archive_lease
from loa_archiver.push import PushSession
from loa_archiver.settings import ArchiverSettings
from loa_archiver.store import ArchiveStore
from loa_core.contracts import FootageUploaded, LiveChunk, TopicSpec, layout
from loa_core.storage import LocalStorage
from loa_dev.kafka import free_port
from tests.support.channel_registry import known


class FlakyProducer:
    """Fails the second send (the broker went down after the archive was announced), then records the rest."""

    def __init__(self) -> None:
        self.calls = 0
        self.sent: list[FootageUploaded | LiveChunk] = []

    async def send(self, spec: TopicSpec, event: FootageUploaded | LiveChunk) -> None:
        self.calls += 1
        if self.calls == 2:
            raise ConnectionError("broker down")
        self.sent.append(event)


async def test_failed_finalize_is_retried_with_the_same_footage_ids(tmp_path: Path) -> None:
    settings = ArchiverSettings(data_dir=tmp_path / "data", finalize_retry_s=0.05, highlight_first_s=1)
    storage = LocalStorage(tmp_path / "storage")
    store = ArchiveStore.open(tmp_path / "a.sqlite3")
    producer = FlakyProducer()
    finalizer = Finalizer(settings, storage, producer, store)  # type: ignore[arg-type]
    archive = store.create_archive("rtmp", "k", "local", "Live", ("local",), ("local",), ward="phuong-1")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-t", "2", "-c:v", "libx264",
         "-preset", "ultrafast", "-f", "mpegts", str(tmp_path / "seg.ts")],
        check=True,
    )  # fmt: skip
    for n in (1, 2):
        storage.put_file(layout.segment_key(archive.archive_id, n), tmp_path / "seg.ts")
        store.add_segment(archive.archive_id, n, layout.segment_key(archive.archive_id, n), 2.0)

    finalizer.schedule(archive.archive_id)
    for _ in range(200):
        found = store.archive(archive.archive_id)
        assert found is not None
        if found.state == "announced":
            break
        await asyncio.sleep(0.05)
    assert found.state == "announced" and found.error is None
    (mark,) = store.marks(archive.archive_id)
    # The retry sends only what was not sent: the archive once, then the highlight under the id it was planned
    # with before its first send failed.
    assert [e.footage_id for e in producer.sent] == [archive.footage_id, mark.footage_id]
    assert abs(producer.sent[0].media.duration_s - 4.0) < 0.2
    assert [e.ward for e in producer.sent] == ["phuong-1", "phuong-1"], "live footage is announced with its ward"


def _ts_segment(path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-t", "2", "-c:v", "libx264",
         "-preset", "ultrafast", "-f", "mpegts", str(path)],
        check=True,
    )  # fmt: skip
    return path


async def test_restarted_archiver_finishes_an_archive_whose_publisher_never_returns(tmp_path: Path) -> None:
    settings = ArchiverSettings(
        data_dir=tmp_path / "data", silence_timeout_s=0.3, highlight_first_s=0, rtmp_port=free_port()
    )
    storage = LocalStorage(tmp_path / "storage")
    store = ArchiveStore.open(tmp_path / "a.sqlite3")
    # What a killed archiver left: an RTMP archive still "recording", one segment stored and one closed by the
    # orphaned ffmpeg but never stored.
    archive = store.create_archive("rtmp", "k", "local", "Live", ("local",), ("local",))
    storage.put_file(layout.segment_key(archive.archive_id, 1), _ts_segment(tmp_path / "one.ts"))
    store.add_segment(archive.archive_id, 1, layout.segment_key(archive.archive_id, 1), 2.0)
    work = settings.data_dir / "archiver" / "work" / archive.archive_id
    work.mkdir(parents=True)
    _ts_segment(work / "seg00002.ts")
    (work / "list-1.csv").write_text("seg00002.ts,2.0,4.0\n")

    producer = FlakyProducer()
    producer.calls = 10  # never fails
    archiver = build_archiver(settings, storage, producer, store, known("local"))  # type: ignore[arg-type]
    await archiver.start()
    try:
        for _ in range(200):
            found = store.archive(archive.archive_id)
            assert found is not None
            if found.state != "recording" and found.state != "finalizing":
                break
            await asyncio.sleep(0.05)
    finally:
        await archiver.stop()
    assert found.state == "announced"
    assert [s.n for s in store.segments(archive.archive_id)] == [1, 2]
    # The live's last chunk (both segments: under live_chunk_s) is announced before the archive, which says so.
    chunks = [e for e in producer.sent if isinstance(e, LiveChunk)]
    announced = [e for e in producer.sent if isinstance(e, FootageUploaded)]
    assert [(c.index, len(c.segments)) for c in chunks] == [(0, 2)]
    assert producer.sent.index(chunks[0]) < producer.sent.index(announced[0])
    assert [e.footage_id for e in announced] == [archive.footage_id] and announced[0].live_chunks == 1
    assert abs(announced[0].media.duration_s - 4.0) < 0.3


async def test_silent_publisher_ends_the_stream() -> None:
    class Conn:
        closed = False

        def close(self) -> None:
            self.closed = True

    async def on_close(session: PushSession, finished: bool) -> None:
        pass

    conn = Conn()
    session = PushSession(None, SimpleNamespace(archive_id="a1"), None, conn, 0.2, on_close)  # type: ignore[arg-type]
    for _ in range(100):
        if conn.closed:
            break
        await asyncio.sleep(0.02)
    # No media for longer than the timeout: closed by us, so the archive is finished at once, not waited for.
    assert conn.closed and session.ended_by_us


async def test_finalize_leaves_an_archive_a_publisher_is_back_on(tmp_path: Path) -> None:
    settings = ArchiverSettings(data_dir=tmp_path / "data")
    store = ArchiveStore.open(tmp_path / "a.sqlite3")
    producer = FlakyProducer()
    finalizer = Finalizer(settings, LocalStorage(tmp_path / "s"), producer, store)  # type: ignore[arg-type]
    archive = store.create_archive("rtmp", "k", "local", "Live", ("local",), ("local",))
    # The grace period ran out just as the publisher reconnected: the reconnect took the archive's lease first,
    # on this replica (the same holder) or on another.
    for holder in (finalizer.leases, Leases(store, 10)):
        assert holder.take(archive_lease(archive.archive_id))
        await finalizer.finalize(archive.archive_id)
        found = store.archive(archive.archive_id)
        assert found is not None and found.state == "recording" and producer.sent == []
        holder.release(archive_lease(archive.archive_id))
    # Once the publisher is gone, the finalize takes the lease.
    await finalizer.finalize(archive.archive_id)
    found = store.archive(archive.archive_id)
    assert found is not None and found.state == "empty"


async def test_nothing_is_finalized_after_the_stop(tmp_path: Path) -> None:
    settings = ArchiverSettings(data_dir=tmp_path / "data")
    store = ArchiveStore.open(tmp_path / "a.sqlite3")
    producer = FlakyProducer()
    finalizer = Finalizer(settings, LocalStorage(tmp_path / "s"), producer, store)  # type: ignore[arg-type]
    archive = store.create_archive("rtmp", "k", "local", "Live", ("local",), ("local",))
    await finalizer.stop()
    # A retry timer going off, or a publish ending, after the stop: left to the next start, not begun half-way
    # through the shutdown (the producer is stopped next).
    finalizer.schedule(archive.archive_id)
    await finalizer.wait(archive.archive_id)
    found = store.archive(archive.archive_id)
    assert found is not None and found.state == "recording" and producer.calls == 0
