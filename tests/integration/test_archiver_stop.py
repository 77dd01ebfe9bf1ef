"""A graceful stop (SIGTERM, as `docker stop` and every rolling deploy send it) loses nothing the archiver holds:
an archive being finalized is announced exactly once after the restart, with its object complete in storage, and
a publish in progress is stored up to where the publisher was cut off."""

from __future__ import annotations

import contextlib
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from loa_core.contracts.layout import archive_key
from loa_core.hashing import sha256_file
from loa_dev.kafka import KafkaBroker
from tests.support.archiver import SEGMENT_S, Publisher, archiver_process, footage_events_now
from tests.support.polling import wait_until


@contextlib.contextmanager
def broker_paused(broker: KafkaBroker) -> Iterator[None]:
    """SIGSTOP the broker: connections stay open but nothing is answered (a broker stalled in a GC pause or a
    network partition looks like this to a producer) until SIGCONT."""
    assert broker.process is not None
    broker.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        broker.process.send_signal(signal.SIGCONT)


def test_sigterm_mid_finalize_announces_each_footage_once(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    # Without live chunks, whose announcements at the end come before the assembly (test_live_chunks covers them):
    # here the broker must hold the finalize at the archive's own announcement, once it is assembled and stored.
    with archiver_process(tmp_path, kafka_broker.bootstrap, topic_prefix, live_chunk_s="0") as archiver:
        key = archiver.new_stream_key(title="Hội nghị")
        publisher = Publisher(f"{archiver.rtmp_base}/{key['stream_key']}", 6)
        archive_id = wait_until(lambda: [a["archive_id"] for a in archiver.archives()], 30, "the archive")[0]
        stored = archiver.storage_root / archive_key(archive_id)
        # The broker stops answering before the stream ends, so the finalize is held at its first announcement
        # (the archive is assembled and stored by then), and the SIGTERM arrives while it is being announced.
        with broker_paused(kafka_broker):
            assert publisher.wait() == 0, publisher.stderr()
            wait_until(lambda: stored.exists() or None, 60, "the assembled archive in storage")
            assert archiver.proc is not None
            archiver.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: "being finalized are left to the next start" in archiver.log_tail(), 30, "the stop")
        archiver.wait_stopped()
        archive, _ = archiver.stored_archive(archive_id)
        assert archive.state == "finalizing", "the SIGTERM was meant to land in the middle of the finalize"

        archiver.start()
        wait_until(lambda: archiver.archives()[0]["state"] == "announced" or None, 90, "the archive announced")
        events = footage_events_now(kafka_broker.bootstrap, topic_prefix)
        marks = archiver.archives()[0]["marks"]
        # Exactly one footage.uploaded for the archive and one for its highlight: nothing lost, nothing doubled.
        assert Counter(e.footage_id for e in events) == {archive.footage_id: 1, marks[0]["footage_id"]: 1}, events
        (archive_event,) = [e for e in events if e.footage_id == archive.footage_id]
        # The object announced is complete: it is the one in storage, and it plays for as long as was sent.
        assert archive_event.media.size_bytes == stored.stat().st_size
        assert archive_event.media.sha256 == sha256_file(stored)
        assert abs(archive_event.media.duration_s - publisher.sent_s) <= SEGMENT_S


def test_sigterm_mid_publish_stores_what_was_received(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    with archiver_process(tmp_path, kafka_broker.bootstrap, topic_prefix) as archiver:
        key = archiver.new_stream_key()
        publisher = Publisher(f"{archiver.rtmp_base}/{key['stream_key']}", 60)

        def recording() -> str | None:
            archives = archiver.archives()
            if archives and len(archiver.stored_segments(archives[0]["archive_id"])) >= 2:
                return str(archives[0]["archive_id"])
            return None

        archive_id = wait_until(recording, 60, "two stored segments")
        archiver.terminate()
        assert publisher.wait() != 0  # cut off by the stop
        # Before the archiver exited, the recorder closed the segment it was writing and stored every segment:
        # nothing is left in its working folder, and storage holds what the publisher sent.
        assert archiver.unstored_segments(archive_id) == []
        archive, segments = archiver.stored_archive(archive_id)
        assert archive.state == "recording"  # the publisher may still come back; the restart waits for it
        assert [s.n for s in segments] == list(range(1, len(segments) + 1))
        assert abs(sum(s.duration_s for s in segments) - publisher.sent_s) <= SEGMENT_S

        archiver.start()
        # The publisher does not come back: after the silence timeout, the archive is announced whole.
        wait_until(lambda: archiver.archives()[0]["state"] == "announced" or None, 90, "the archive announced")
        events = footage_events_now(kafka_broker.bootstrap, topic_prefix)
        (archive_event,) = [e for e in events if e.footage_id == archive.footage_id]
        assert abs(archive_event.media.duration_s - publisher.sent_s) <= SEGMENT_S
