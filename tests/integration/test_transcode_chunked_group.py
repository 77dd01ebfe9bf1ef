"""Chunked encoding by the transcode group on a real broker: two workers as processes share one footage's chunks,
and a worker killed mid-chunk loses only that chunk (redelivered to the other once the group rebalances)."""

from __future__ import annotations

import re
from pathlib import Path

from loa_core.contracts import FOOTAGE_UPLOADED, RENDITIONS_READY, group_id
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.support.chunks import frame_numbers, numbered_clip
from tests.support.polling import wait_until
from tests.support.transcode import EventCollector, TranscodeWorker, group_members, send_event, upload

SETTINGS = {
    "profiles": "zalo",
    "chunked_from_s": "10",
    "chunk_s": "4",
    "chunk_max_s": "20",
    "chunk_stall_s": "120",
    # The broker's minimum session: a killed worker's partitions move to the other within seconds.
    "broker_session_timeout_s": "6",
    "broker_heartbeat_interval_s": "1",
    # Chunks read at twice real time: a 4 s chunk lasts 2 s at least, long enough to be killed in.
    "ffmpeg_read_rate": "2",
}


def _chunks(worker: TranscodeWorker, verb: str, footage_id: str) -> set[int]:
    text = worker.log_path.read_text(errors="replace") if worker.log_path.exists() else ""
    return {int(n) for n in re.findall(rf"{verb} chunk (\d+) of \d+ of footage {footage_id}", text)}


def _owns(worker: TranscodeWorker, footage_id: str) -> bool:
    """Whether the worker planned the footage's chunks (the owner, whose partition the upload went to)."""
    text = worker.log_path.read_text(errors="replace") if worker.log_path.exists() else ""
    return re.search(rf"footage {footage_id}: \d+ chunks of job", text) is not None


def test_two_workers_share_a_footages_chunks_and_a_killed_one_loses_only_its_chunk(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    root = tmp_path / "w"
    storage = LocalStorage(root / "storage")
    clip = numbered_clip(tmp_path / "numbered.mp4", duration_s=16.0)
    shared, killed = upload(storage, clip), upload(storage, clip)
    workers = [TranscodeWorker(root, bootstrap, topic_prefix, name, **SETTINGS) for name in ("a", "b")]

    def cut_frames(ready: object) -> list[int]:
        [rendition] = ready.renditions  # type: ignore[attr-defined]
        path = storage.local_path(rendition.key)
        assert path is not None
        return frame_numbers(path)

    with EventCollector(bootstrap, topic_prefix, RENDITIONS_READY) as events:
        for w in workers:
            w.start()
        try:
            for w in workers:
                w.wait_assigned(timeout_s=120)
            wait_until(
                lambda: (
                    (s := group_members(bootstrap, group_id("transcode", topic_prefix)))[0] == "Stable"
                    and len(s[1]) == 2
                ),
                60,
                "both workers in the group",
            )

            # 1. Both workers encode chunks of one footage; its cut is every frame once, in order.
            send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, shared)
            [ready] = events.wait_for(RENDITIONS_READY, shared.footage_id, timeout_s=300)
            done = [_chunks(w, "encoded", shared.footage_id) for w in workers]
            assert done[0] and done[1], f"one worker encoded every chunk: {done}"
            assert done[0] | done[1] == set(range(4))  # 0-4, 4-8, 8-12, 12-16 s
            assert cut_frames(ready) == list(range(16 * 30))

            # 2. The worker that does not own the footage is killed while it encodes one of its chunks.
            send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, killed)
            owner = wait_until(
                lambda: next((w for w in workers if _owns(w, killed.footage_id)), None), 120, "the owner's plan"
            )
            other = next(w for w in workers if w is not owner)
            started = wait_until(
                lambda: _chunks(other, "encoding", killed.footage_id) - _chunks(other, "encoded", killed.footage_id),
                120,
                "the other worker to start a chunk",
                interval_s=0.05,
                diagnose=other.log_tail,
            )
            other.kill()
            lost = started - _chunks(other, "encoded", killed.footage_id)
            assert lost, "the chunk finished before the kill"
            ready = events.wait_for(RENDITIONS_READY, killed.footage_id, timeout_s=300)[0]
            # The lost chunk was redelivered to the owner (the only worker left) and encoded there; the cut is whole.
            assert lost <= _chunks(owner, "encoded", killed.footage_id)
            assert cut_frames(ready) == list(range(16 * 30))
            assert "single run after all" not in owner.log_path.read_text(errors="replace")
        finally:
            for w in workers:
                w.stop()
    # The rebalance after the kill may hand the owner its own footage's record again (its offset was not committed):
    # it then finds the manifest and announces the same event again, never a second set of cuts.
    announced = events.of(RENDITIONS_READY, killed.footage_id)
    assert {e.event_id for e in announced} == {ready.event_id}
