"""Long jobs and crashes, on a real broker with the worker as a process.

One scenario, because each half needs a job that runs for a while: a long job keeps its worker in the
group (no rebalance, even with a max poll interval far below the job's length), does not hold up a short
job on another partition, and when its worker is SIGKILLed mid-encode, a restarted worker redoes it:
exactly one renditions.ready per footage, and no file of the killed attempt is ever visible.
"""

from __future__ import annotations

import time
from pathlib import Path

from loa_core.contracts import FOOTAGE_UPLOADED, RENDITIONS_READY, TRANSCODE_PROGRESS, FootageUploaded, group_id, layout
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.support.kafka import read_topic
from tests.support.media import make_clip
from tests.support.pipeline import partition_of
from tests.support.polling import wait_until
from tests.support.transcode import (
    EventCollector,
    TranscodeWorker,
    committed_offsets,
    group_members,
    send_event,
    upload,
)

# Deliberately short timings: the session timeout is the broker's minimum, and the max poll interval is
# a fraction of the long job. A worker that stopped polling or heartbeating during the job would be
# evicted within the sampling window below.
TIMING = {
    "broker_session_timeout_s": "6",
    "broker_heartbeat_interval_s": "1",
    "broker_max_poll_interval_s": "3",
    "concurrency": "2",
}
# The window in which membership must not change: longer than a poll interval plus a session timeout.
STABLE_WINDOW_S = 3 + 6 + 3


def _on_another_partition(storage: LocalStorage, clip: Path, than: FootageUploaded) -> FootageUploaded:
    while True:
        event = upload(storage, clip)
        if partition_of(event.footage_id) != partition_of(than.footage_id):
            return event


def test_long_job_keeps_membership_and_survives_sigkill(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    group = group_id("transcode", topic_prefix)
    root = tmp_path / "w"
    storage = LocalStorage(root / "storage")
    # The first worker reads sources at real-time speed: this job lasts 30 s on any machine, with little CPU
    # (a margin over the stability window, the short job and the commit waits on a slow machine).
    long_job = upload(storage, make_clip(tmp_path / "long.mp4", width=320, height=180, duration_s=30.0, fps=10))
    short_job = _on_another_partition(
        storage, make_clip(tmp_path / "short.mp4", width=320, height=180, duration_s=1.0), long_job
    )
    first = TranscodeWorker(root, bootstrap, topic_prefix, "first", ffmpeg_read_rate="1", **TIMING)
    second = TranscodeWorker(root, bootstrap, topic_prefix, "second", **TIMING)

    with EventCollector(bootstrap, topic_prefix, RENDITIONS_READY, TRANSCODE_PROGRESS) as events:
        first.start()
        try:
            first.wait_assigned()
            started = time.monotonic()
            send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, long_job)
            events.wait_for(TRANSCODE_PROGRESS, long_job.footage_id, timeout_s=120)
            state, members = group_members(bootstrap, group)
            assert state == "Stable" and len(members) == 1

            # Another partition's short job passes the long one.
            send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, short_job)
            events.wait_for(RENDITIONS_READY, short_job.footage_id, timeout_s=120)
            assert events.of(RENDITIONS_READY, long_job.footage_id) == [], "the long job was too short to test"

            # Membership holds through the window while the long job keeps encoding.
            def window_passed() -> bool:
                assert events.of(RENDITIONS_READY, long_job.footage_id) == [], "the long job was too short to test"
                assert group_members(bootstrap, group) == ("Stable", members), "the worker lost its membership"
                return time.monotonic() - started > STABLE_WINDOW_S

            wait_until(window_passed, timeout_s=120, what="the stability window", interval_s=0.5)
            # The short job's offset is committed (so it is not redone), the long one's is not.
            wait_until(
                lambda: committed_offsets(bootstrap, group).get(partition_of(short_job.footage_id), -1) >= 1,
                timeout_s=30,
                what="the short job's offset to be committed",
            )

            # SIGKILL mid-encode.
            running = events.of(TRANSCODE_PROGRESS, long_job.footage_id)
            assert running[-1].state == "running" and running[-1].percent < 100
            first.kill()
            assert events.of(RENDITIONS_READY, long_job.footage_id) == []
            visible = storage.list(layout.renditions_prefix(long_job.footage_id))
            assert visible == [], f"partial output visible: {visible}"

            second.start()
            second.wait_assigned(timeout_s=120)
            [ready] = events.wait_for(RENDITIONS_READY, long_job.footage_id, timeout_s=300)
            assert {r.profile for r in ready.renditions} == {"youtube"}
            assert storage.exists(ready.renditions[0].key)
            wait_until(
                lambda: committed_offsets(bootstrap, group).get(partition_of(long_job.footage_id), -1) >= 1,
                timeout_s=30,
                what="the long job's offset to be committed",
            )
        finally:
            first.stop()
            second.stop()

    # With both offsets committed nothing more can be announced: read the topic from the start.
    announced = [
        RENDITIONS_READY.event.from_bytes(r.value or b"")
        for r in read_topic(bootstrap, RENDITIONS_READY.full_name(topic_prefix), timeout_s=3)
    ]
    by_footage = sorted(e.footage_id for e in announced)  # type: ignore[attr-defined]
    assert by_footage == sorted([long_job.footage_id, short_job.footage_id])
    assert storage.list(layout.STAGING.prefix) == []
