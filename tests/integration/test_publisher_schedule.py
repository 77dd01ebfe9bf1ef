"""Reschedule and cancel through the publisher as a real process on a real broker (posts.schedule, contracts.schedule):
a post moved later is not published at its old time and is at its new one; a post cancelled is never published,
until it is rescheduled; a post moved from next week to now goes out at once; a change that comes before the
renditions is applied when they do."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loa_core.channels import Channel
from loa_core.contracts import (
    POSTS_PUBLISHED,
    POSTS_SCHEDULE,
    RENDITIONS_READY,
    PostPublished,
    PostSchedule,
    RenditionsReady,
    new_id,
)
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from loa_publisher.decide import CANCELLED
from loa_publisher.ledger import Ledger, PostState
from tests.integration.test_publisher_registry import ready, send, wait_for
from tests.support.kafka import read_topic
from tests.support.publisher_process import PublisherProcess
from tests.support.publishing import event_for, metadata, stored_rendition

CHANNEL = Channel(name="ward-local", platform="local", profiles=("youtube",), ward="p1")


@pytest.fixture
def publisher(tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str) -> Iterator[PublisherProcess]:
    process = PublisherProcess(
        tmp_path / "publisher",
        bootstrap=kafka_broker.bootstrap,
        prefix=topic_prefix,
        channels=[CHANNEL],
        token="test-token-" + new_id(),
        env={"LOA_SCHEDULE_POLL_S": "0.2"},
    )
    yield process
    process.stop()


def renditions(publisher: PublisherProcess, publish_at: datetime) -> RenditionsReady:
    storage = LocalStorage(publisher.root / "storage")
    footage_id = new_id()
    cut = stored_rendition(storage, 4096, "youtube", footage_id)
    meta = metadata(("ward-local",), publish_at={"ward-local": publish_at})
    return event_for(footage_id, meta, cut)


def change(event: RenditionsReady, publish_at: datetime | None = None, cancelled: bool = False) -> PostSchedule:
    return PostSchedule(
        footage_id=event.footage_id,
        ward="p1",
        channel="ward-local",
        by="acc-editor",
        publish_at=publish_at,
        cancelled=cancelled,
    )


def published(publisher: PublisherProcess, event: RenditionsReady) -> bool:
    return (publisher.root / "published" / event.footage_id / "youtube.mp4").exists()


def test_a_rescheduled_post_goes_out_at_its_new_time_and_a_cancelled_one_never(
    publisher: PublisherProcess, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    publisher.start()
    wait_for("/readyz", lambda: ready(publisher), 120, publisher)
    now = datetime.now(UTC)
    old, new = now + timedelta(seconds=8), now + timedelta(seconds=16)
    moved, cancelled, brought_forward, early = (
        renditions(publisher, old),
        renditions(publisher, old),
        renditions(publisher, now + timedelta(days=7)),
        renditions(publisher, now + timedelta(days=7)),
    )
    send(bootstrap, topic_prefix, POSTS_SCHEDULE, change(early, publish_at=None))  # before its renditions
    for event in (moved, cancelled, brought_forward, early):
        send(bootstrap, topic_prefix, RENDITIONS_READY, event)
    ledger = Ledger.open(publisher.root / "data" / "publisher-ledger.sqlite3")
    try:

        def state(event: RenditionsReady) -> tuple[PostState | None, datetime | None, str | None]:
            entry = ledger.get(event.footage_id, "ward-local", "youtube")
            return (entry.state, entry.due_at, entry.error) if entry else (None, None, None)

        def held(event: RenditionsReady) -> Callable[[], bool]:
            return lambda: state(event)[0] is PostState.SCHEDULED

        for event in (moved, cancelled, brought_forward):
            wait_for("the post held for its time", held(event), 60, publisher)
        send(bootstrap, topic_prefix, POSTS_SCHEDULE, change(moved, publish_at=new))
        send(bootstrap, topic_prefix, POSTS_SCHEDULE, change(cancelled, cancelled=True))
        send(bootstrap, topic_prefix, POSTS_SCHEDULE, change(brought_forward, publish_at=None))
        wait_for("the move", lambda: state(moved)[1] == new, 60, publisher)
        wait_for("the cancel", lambda: state(cancelled)[2] == CANCELLED, 60, publisher)

        # Moved to now: out at once; changed before its renditions: out when they came.
        records = read_topic(bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 2, timeout_s=60)
        assert {PostPublished.from_bytes(r.value).footage_id for r in records} == {
            brought_forward.footage_id,
            early.footage_id,
        }, publisher.log_tail()

        # Past the old time (and a few scheduler ticks): neither the moved nor the cancelled one went out.
        while datetime.now(UTC) < old + timedelta(seconds=2):
            time.sleep(0.1)
        assert not published(publisher, moved) and not published(publisher, cancelled), publisher.log_tail()
        assert state(moved)[:2] == (PostState.SCHEDULED, new)

        # At the new time the moved one goes out; the cancelled one stays held for ever.
        records = read_topic(bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 3, timeout_s=60)
        out = {PostPublished.from_bytes(r.value).footage_id: PostPublished.from_bytes(r.value) for r in records}
        assert moved.footage_id in out and out[moved.footage_id].published_at >= new
        assert not published(publisher, cancelled)
        assert state(cancelled)[0] is PostState.SCHEDULED and state(cancelled)[2] == CANCELLED

        # Cancelled, then rescheduled to now: it goes out.
        send(bootstrap, topic_prefix, POSTS_SCHEDULE, change(cancelled, publish_at=None))
        read_topic(bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 4, timeout_s=60)
        assert published(publisher, cancelled)
        assert publisher.log_text().count(f"posted PostKey(footage_id='{moved.footage_id}'") == 1
    finally:
        ledger.close()
