"""A graceful stop (SIGTERM: `docker stop`, a rolling deploy, Ctrl-C in `make run`) on a real broker, with the worker
as a process: the job in flight is abandoned, its record is not committed, and the restarted worker redoes it."""

from __future__ import annotations

from pathlib import Path

from loa_core.contracts import FOOTAGE_UPLOADED, RENDITIONS_READY, TRANSCODE_PROGRESS, group_id
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.support.kafka import read_topic
from tests.support.media import make_clip
from tests.support.pipeline import partition_of
from tests.support.polling import wait_until
from tests.support.transcode import EventCollector, TranscodeWorker, committed_offsets, send_event, upload


def test_sigterm_mid_transcode_abandons_the_job_and_the_restart_redoes_it(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    group = group_id("transcode", topic_prefix)
    root = tmp_path / "w"
    storage = LocalStorage(root / "storage")
    # Read at real-time speed, the job lasts 20 s: far longer than the one-second grace the first worker gets.
    job = upload(storage, make_clip(tmp_path / "job.mp4", width=320, height=180, duration_s=20.0, fps=10))
    first = TranscodeWorker(root, bootstrap, topic_prefix, "first", ffmpeg_read_rate="1", shutdown_grace_s="1")
    second = TranscodeWorker(root, bootstrap, topic_prefix, "second")

    with EventCollector(bootstrap, topic_prefix, RENDITIONS_READY, TRANSCODE_PROGRESS) as events:
        first.start()
        try:
            first.wait_assigned()
            send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, job)
            events.wait_for(TRANSCODE_PROGRESS, job.footage_id, timeout_s=120)

            first.stop()  # SIGTERM, as docker stop and Kubernetes send; waits for the process to exit
            assert first.process is not None and first.process.returncode == 0, first.log_tail()
            assert "abandoning 1 unfinished job" in first.log_tail(200)
            assert events.of(RENDITIONS_READY, job.footage_id) == [], "the job was too short to test"
            # The stop committed what was done, and not the abandoned record.
            assert committed_offsets(bootstrap, group).get(partition_of(job.footage_id), 0) == 0

            second.start()
            second.wait_assigned(timeout_s=120)
            [ready] = events.wait_for(RENDITIONS_READY, job.footage_id, timeout_s=300)
            assert storage.exists(ready.renditions[0].key)
            wait_until(
                lambda: committed_offsets(bootstrap, group).get(partition_of(job.footage_id), -1) >= 1,
                timeout_s=30,
                what="the redone job's offset to be committed",
            )
        finally:
            first.stop()
            second.stop()

    # Both stops are done and the offset is committed: nothing more can be announced. Exactly one result.
    announced = read_topic(bootstrap, RENDITIONS_READY.full_name(topic_prefix), timeout_s=3)
    assert len(announced) == 1
    assert storage.list("staging/") == []


def test_sigterm_mid_transcode_finishes_a_job_that_fits_in_the_grace(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    group = group_id("transcode", topic_prefix)
    root = tmp_path / "w"
    storage = LocalStorage(root / "storage")
    # Read at real-time speed, the job lasts 4 s: well inside the 20 s of grace (stop_process kills after 30 s).
    job = upload(storage, make_clip(tmp_path / "job.mp4", width=320, height=180, duration_s=4.0, fps=10))
    worker = TranscodeWorker(root, bootstrap, topic_prefix, "worker", ffmpeg_read_rate="1", shutdown_grace_s="20")

    with EventCollector(bootstrap, topic_prefix, RENDITIONS_READY, TRANSCODE_PROGRESS) as events:
        worker.start()
        try:
            worker.wait_assigned()
            send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, job)
            events.wait_for(TRANSCODE_PROGRESS, job.footage_id, timeout_s=120)
            assert events.of(RENDITIONS_READY, job.footage_id) == [], "the job was too short to test"
            worker.stop()  # SIGTERM while the job runs
        finally:
            worker.stop()
    assert worker.process is not None and worker.process.returncode == 0, worker.log_tail()
    assert "abandoning" not in worker.log_tail(200)

    # The job finished during the grace, announced its result, and its record was committed at the stop.
    announced = read_topic(bootstrap, RENDITIONS_READY.full_name(topic_prefix), timeout_s=3)
    assert len(announced) == 1
    assert committed_offsets(bootstrap, group).get(partition_of(job.footage_id)) == 1
