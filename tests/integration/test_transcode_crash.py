"""Long jobs, crashes and rebalances, on a real broker with the workers as processes.

One scenario, because each half needs a job that runs for a while: a long job keeps its worker in the
group (no rebalance, even with a max poll interval far below the job's length), does not hold up a short
job on another partition, and when its worker is SIGKILLed mid-encode, another worker takes it over (the killed
one's job lease goes stale): exactly one renditions.ready per footage, and no file of the killed attempt is ever
visible. Then a rebalance while jobs are encoding: the partitions' new owner waits on their leases and announces
the old owner's cuts, each footage encoded once.
"""

from __future__ import annotations

import time
from pathlib import Path

from loa_core.contracts import FOOTAGE_UPLOADED, RENDITIONS_READY, TRANSCODE_PROGRESS, FootageUploaded, group_id, layout
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.support.kafka import read_topic
from tests.support.media import make_clip
from tests.support.pipeline import encodes, partition_of
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
            # Taken over from the killed worker's lease, gone stale.
            assert "taking the job over" in second.log_path.read_text(errors="replace")
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


def test_jobs_in_flight_when_their_partitions_move_are_encoded_once(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    group = group_id("transcode", topic_prefix)
    storage = LocalStorage(tmp_path / "storage")
    clip = make_clip(tmp_path / "clip.mp4", width=160, height=90, duration_s=2.0, fps=10)
    # A job on every partition: whichever half the joining worker is given, jobs in flight move to it.
    jobs: dict[int, FootageUploaded] = {}
    while len(jobs) < FOOTAGE_UPLOADED.partitions:
        job = upload(storage, clip)
        jobs.setdefault(partition_of(job.footage_id), job)
    ids = [job.footage_id for job in jobs.values()]
    shared = {**TIMING, "storage_root": str(storage.root)}
    # Sources read at real-time speed: each encode lasts 2 s, long enough to be caught running and held.
    first = TranscodeWorker(
        tmp_path / "first", bootstrap, topic_prefix, "first", **{**shared, "concurrency": "6", "ffmpeg_read_rate": "1"}
    )
    second = TranscodeWorker(tmp_path / "second", bootstrap, topic_prefix, "second", **shared)
    held: set[int] = set()

    def all_held() -> bool:
        held.update(first.hold_encodes())
        return len(held) == len(ids)

    with EventCollector(bootstrap, topic_prefix, RENDITIONS_READY) as events:
        first.start()
        try:
            first.wait_assigned()
            for job in jobs.values():
                send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, job)
            # Every job held mid-encode (its ffmpeg stopped) while the group rebalances.
            wait_until(all_held, timeout_s=180, what="every job encoding", diagnose=first.log_tail, interval_s=0.05)
            assert events.of(RENDITIONS_READY) == []

            second.start()
            second.wait_assigned(timeout_s=120)
            # The moved jobs reach the second worker, which finds them held (the first one's leases are fresh).
            wait_until(
                lambda: "is doing this job; waiting" in second.log_path.read_text(errors="replace"),
                timeout_s=120,
                what="the second worker to wait for a moved job",
                diagnose=second.log_tail,
            )
            first.release(held)
            for footage_id in ids:
                events.wait_for(RENDITIONS_READY, footage_id, timeout_s=300)
            wait_until(
                lambda: all(committed_offsets(bootstrap, group).get(p, -1) >= 1 for p in jobs),
                timeout_s=120,
                what="every job's offset to be committed",
                diagnose=second.log_tail,
            )
        finally:
            first.release(held)
            first.stop()
            second.stop()

    assert encodes([first.log_path, second.log_path], ids) == {footage_id: 1 for footage_id in ids}
    assert "announcing it again" in second.log_path.read_text(errors="replace")
    # Repeated announcements carry the same event id: consumers take each once.
    assert len({e.event_id for e in events.of(RENDITIONS_READY)}) == len(ids)
    assert storage.list(layout.STAGING.prefix) == []
