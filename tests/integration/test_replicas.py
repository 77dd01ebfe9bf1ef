"""Two transcode and two publisher workers in the same consumer groups, as processes on a real broker.

A batch of tiny footage is shared between them; mid-batch one worker of each is SIGKILLed, and the other takes its
partitions over (a rebalance). Every footage is transcoded into one announced set of cuts and posted once to each
channel. The publishers share a PostgreSQL ledger, as docs/operations/running.md asks of publisher replicas: with
a SQLite ledger each, a post redelivered to the other worker after a crash (posted, not yet committed) would be
posted again, since that worker's ledger has never seen it.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from loa_core.contracts import (
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    group_id,
)
from loa_dev.kafka import KafkaBroker
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.pipeline import (
    CHANNELS,
    Pipeline,
    assert_each_transcoded_and_posted_once,
    group_assignment,
    partition_of,
    send_all,
)
from tests.support.polling import wait_until
from tests.support.postgres import PostgresServer
from tests.support.transcode import EventCollector

BATCH = 6  # one footage per partition


def _members(bootstrap: str, group: str, count: int, pipe: Pipeline) -> dict[str, set[int]]:
    """Wait until the group is stable with `count` members that all own partitions; their partitions by member."""

    def stable() -> dict[str, set[int]] | None:
        state, owned = group_assignment(bootstrap, group)
        if state != "Stable" or len(owned) != count or not all(owned.values()):
            return None
        return {member: {p for _topic, p in parts} for member, parts in owned.items()}

    return wait_until(stable, 120, f"{count} member(s) in {group}", interval_s=0.5, diagnose=pipe.logs)  # type: ignore[no-any-return]


def test_two_workers_of_each_share_a_batch_and_take_over_a_killed_one(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    bootstrap = kafka_broker.bootstrap
    transcode_group, publisher_group = group_id("transcode", topic_prefix), group_id("publisher", topic_prefix)
    with YouTubeEmulator(tmp_path / "yt") as youtube:
        pipe = Pipeline(tmp_path / "pipe", bootstrap, topic_prefix, youtube)
        uploads = pipe.uploads(BATCH)
        ledger = {"LOA_DATABASE_URL": postgres_server.new_database()}  # shared by both publishers
        # One job at a time per worker: when the first cut is announced, each worker still has work queued.
        t1, p1 = pipe.transcoder("t1", concurrency="1"), pipe.publisher("p1", **ledger)
        t2, p2 = pipe.transcoder("t2", concurrency="1"), pipe.publisher("p2", **ledger)
        with EventCollector(bootstrap, topic_prefix, RENDITIONS_READY, POSTS_PUBLISHED) as events:
            try:
                t1.start()
                t2.start()
                p1.start()
                p2.start()
                transcode_owners = _members(bootstrap, transcode_group, 2, pipe)
                publisher_owners = _members(bootstrap, publisher_group, 2, pipe)

                send_all(bootstrap, topic_prefix, uploads)
                wait_until(lambda: events.of(RENDITIONS_READY), 180, "a first announcement", diagnose=pipe.logs)
                t1.kill()
                p1.kill()
                # What was done when they died; nobody else can take their partitions before their session timeout.
                announced = {e.footage_id for e in events.of(RENDITIONS_READY)}
                posted = {e.footage_id for e in events.of(POSTS_PUBLISHED)}
                # The killed ones are the members that left the group.
                [t1_member] = set(transcode_owners) - set(_members(bootstrap, transcode_group, 1, pipe))
                [p1_member] = set(publisher_owners) - set(_members(bootstrap, publisher_group, 1, pipe))
                left_by_t1 = [
                    u.footage_id
                    for u in uploads
                    if partition_of(u.footage_id) in transcode_owners[t1_member] and u.footage_id not in announced
                ]
                left_by_p1 = [
                    u.footage_id
                    for u in uploads
                    if partition_of(u.footage_id) in publisher_owners[p1_member] and u.footage_id not in posted
                ]
                assert left_by_t1 and left_by_p1, "the batch was too short to test a takeover"

                wanted = {(u.footage_id, c) for u in uploads for c in CHANNELS}
                wait_until(
                    lambda: wanted <= {(e.footage_id, e.channel) for e in events.of(POSTS_PUBLISHED)},
                    300,
                    "every footage posted to every channel",
                    diagnose=pipe.logs,
                )
            finally:
                pipe.stop()  # a graceful stop commits: nothing more is announced after it
        outcome = pipe.outcome(uploads)

    print(f"taken over: {len(left_by_t1)} transcodes, {len(left_by_p1)} footage's posts; {outcome.summary()}")
    assert_each_transcoded_and_posted_once(outcome)


def test_two_publishers_with_a_ledger_each_stop_instead_of_posting_twice(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    """Without a shared ledger, a scale-up mid-batch posted a footage twice (13 YouTube videos for 12 footage, seen
    in an experiment): each publisher's SQLite ledger knew only its own posts. Such publishers now refuse."""
    with YouTubeEmulator(tmp_path / "yt") as youtube:
        pipe = Pipeline(tmp_path / "pipe", kafka_broker.bootstrap, topic_prefix, youtube)
        publishers = [pipe.publisher("p1"), pipe.publisher("p2")]  # the embedded default: a SQLite ledger each
        try:
            for process in publishers:
                process.start()

            def refusals() -> list[str] | None:
                found = [httpx.get(f"{p.url}/readyz", timeout=5) for p in publishers]
                reasons = [str(r.json().get("reason", "")) for r in found if r.status_code == 503]
                return reasons if len(reasons) == 2 and all("LOA_DATABASE_URL" in r for r in reasons) else None

            for reason in wait_until(refusals, 120, "both publishers refusing to post", diagnose=pipe.logs):
                assert "would be posted twice" in reason and "đăng hai lần" in reason
        finally:
            pipe.stop()
