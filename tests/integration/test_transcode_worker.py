"""The transcode worker as a process on a real broker: announcements, progress, and failures made visible."""

from __future__ import annotations

from pathlib import Path

from loa_core.contracts import DEAD_LETTER, FOOTAGE_UPLOADED, RENDITIONS_READY, TRANSCODE_PROGRESS
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.support.media import make_clip
from tests.support.polling import wait_until
from tests.support.transcode import EventCollector, TranscodeWorker, send_event, upload


def test_worker_announces_cuts_reports_progress_and_dead_letters_a_broken_upload(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    worker = TranscodeWorker(tmp_path / "w", bootstrap, topic_prefix, profiles="youtube,tiktok")
    storage = LocalStorage(tmp_path / "w" / "storage")
    good = upload(storage, make_clip(tmp_path / "good.mp4", width=320, height=180, duration_s=3.0))
    broken_file = tmp_path / "broken.mp4"
    broken_file.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 64)
    broken = upload(storage, make_clip(tmp_path / "b.mp4", width=320, height=180, duration_s=1.0))
    # The same event, pointing at bytes that are no video at all (ingest would have refused them; a bug might not).
    storage.put_file(broken.media.key, broken_file)

    with EventCollector(bootstrap, topic_prefix, RENDITIONS_READY, DEAD_LETTER, TRANSCODE_PROGRESS) as events:
        worker.start()
        try:
            worker.wait_assigned()
            send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, broken)
            send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, good)

            [ready] = events.wait_for(RENDITIONS_READY, good.footage_id, timeout_s=180)
            assert {r.profile for r in ready.renditions} == {"youtube", "tiktok"}
            for rendition in ready.renditions:
                assert storage.exists(rendition.key)
            # "done" is sent just after renditions.ready: wait for it, not merely for the first progress event.
            progress = wait_until(
                lambda: (
                    [p for p in events.of(TRANSCODE_PROGRESS, good.footage_id) if p.state == "done"]
                    and events.of(TRANSCODE_PROGRESS, good.footage_id)
                ),
                30,
                "the progress of the good upload to reach done",
            )
            states = [p.state for p in progress]
            assert states[-1] == "done" and set(states) <= {"running", "done"}
            percents = [p.percent for p in progress]
            assert percents == sorted(percents)

            [letter] = events.wait_for(DEAD_LETTER, broken.footage_id, timeout_s=60)
            assert letter.origin_service == "transcode" and "ffprobe cannot read the source" in letter.reason
            [failed] = [p for p in events.wait_for(TRANSCODE_PROGRESS, broken.footage_id, 30) if p.state == "failed"]
            assert failed.reason and "ffprobe cannot read the source" in failed.reason
            assert events.of(RENDITIONS_READY, broken.footage_id) == []
            # The worker carried on: no crash, no restart loop.
            assert worker.process is not None and worker.process.poll() is None
        finally:
            worker.stop()
