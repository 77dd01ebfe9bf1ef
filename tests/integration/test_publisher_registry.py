"""The publisher as a real process follows the channel registry: a channel added while it runs is known within
5 s, and a post to a disconnected channel waits in the ledger until a record says the channel is connected."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from loa_core.channels import Channel
from loa_core.contracts import (
    CHANNEL_REGISTRY,
    DEAD_LETTER,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    ChannelState,
    ChannelUpdated,
    DeadLetter,
    Event,
    PostPublished,
    TopicSpec,
    new_id,
)
from loa_core.kafka import EventProducer, ensure_topics
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from loa_publisher.decide import DISCONNECTED
from loa_publisher.ledger import Ledger, PostState
from tests.support.kafka import read_topic
from tests.support.publisher_process import PublisherProcess
from tests.support.publishing import event_for, metadata, stored_rendition

# The bound the issue sets for a channel change to reach the publisher.
REACH_BOUND_S = 5.0


@pytest.fixture
def publisher(tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str) -> Iterator[PublisherProcess]:
    process = PublisherProcess(
        tmp_path / "publisher",
        bootstrap=kafka_broker.bootstrap,
        prefix=topic_prefix,
        channels=[Channel(name="local", platform="local", profiles=("youtube",))],  # from a channels file
        token="test-token-" + new_id(),
        env={},
    )
    yield process
    process.stop()


def send(bootstrap: str, prefix: str, spec: TopicSpec, event: Event) -> None:
    async def go() -> None:
        await ensure_topics(bootstrap, prefix, (spec,))
        producer = EventProducer(bootstrap, prefix)
        try:
            await producer.send(spec, event)
        finally:
            await producer.stop()

    asyncio.run(go())


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, publisher: PublisherProcess) -> float:
    """Seconds until `check()` held; fails after `timeout_s`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what} did not happen within {timeout_s:.1f} s\n{publisher.log_tail()}")
        time.sleep(0.02)
    return time.monotonic() - start


def ready(publisher: PublisherProcess) -> bool:
    return httpx.get(f"{publisher.url}/readyz", timeout=5).status_code == 200


def knows(publisher: PublisherProcess, name: str, revision: int) -> Callable[[], bool]:
    line = f"channel {name}: revision {revision},"
    return lambda: line in publisher.log_text()


def test_a_channel_added_while_the_publisher_runs_reaches_it_within_5_s(
    publisher: PublisherProcess, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    publisher.start()
    wait_for("/readyz", lambda: ready(publisher), 120, publisher)
    latencies = []
    for n in range(3):
        name = f"p{n}-local"
        added = ChannelUpdated(channel=Channel(name=name, platform="local", profiles=("youtube",)), revision=1)
        sent = time.monotonic()
        send(bootstrap, topic_prefix, CHANNEL_REGISTRY, added)  # returns once the broker has it (acks=all)
        written = time.monotonic()
        wait_for(f"the publisher reading {name}", knows(publisher, name, 1), REACH_BOUND_S, publisher)
        latencies.append(time.monotonic() - written)
        print(f"channel {name}: known to the publisher {latencies[-1]:.3f} s after the write ({written - sent:.3f} s)")
    assert max(latencies) < REACH_BOUND_S

    # And the channel is used: a post to the last one goes out.
    storage = LocalStorage(publisher.root / "storage")
    footage_id = new_id()
    event = event_for(footage_id, metadata(("p2-local",)), stored_rendition(storage, 4096, "youtube", footage_id))
    send(bootstrap, topic_prefix, RENDITIONS_READY, event)
    records = read_topic(bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 1, timeout_s=60)
    assert [PostPublished.from_bytes(r.value).channel for r in records] == ["p2-local"], publisher.log_tail()

    # A channel the registry does not know, once it is read up to date, is what it always was: a dead letter.
    ghost_id = new_id()
    ghost = event_for(ghost_id, metadata(("ghost",)), stored_rendition(storage, 4096, "youtube", ghost_id))
    send(bootstrap, topic_prefix, RENDITIONS_READY, ghost)
    letters = read_topic(bootstrap, DEAD_LETTER.full_name(topic_prefix), lambda r: len(r) >= 1, timeout_s=60)
    assert [(d.footage_id, d.reason) for d in (DeadLetter.from_bytes(r.value) for r in letters)] == [
        (ghost_id, "PermanentError: channel 'ghost' is not configured in the publisher")
    ], publisher.log_tail()


def test_a_post_to_a_disconnected_channel_waits_then_goes_out_once_it_is_connected(
    publisher: PublisherProcess, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    ward = Channel(name="ward-local", platform="local", profiles=("youtube",), ward="phuong-ben-nghe")
    disconnected = ward.model_copy(update={"state": ChannelState.DISCONNECTED})
    send(bootstrap, topic_prefix, CHANNEL_REGISTRY, ChannelUpdated(channel=disconnected, revision=1))
    publisher.start()
    wait_for("/readyz", lambda: ready(publisher), 120, publisher)  # ready: the registry is read up to date

    storage = LocalStorage(publisher.root / "storage")
    footage_id = new_id()
    event = event_for(footage_id, metadata(("ward-local",)), stored_rendition(storage, 4096, "youtube", footage_id))
    send(bootstrap, topic_prefix, RENDITIONS_READY, event)

    ledger = Ledger.open(publisher.root / "data" / "publisher-ledger.sqlite3")
    try:

        def held() -> bool:
            entry = ledger.get(footage_id, "ward-local", "youtube")
            return entry is not None and entry.state is PostState.SCHEDULED

        wait_for("the post held in the ledger", held, 60, publisher)
        entry = ledger.get(footage_id, "ward-local", "youtube")
        assert entry is not None and entry.error == DISCONNECTED
        # Several scheduler ticks (0.5 s apart) later it still waits, and nothing was posted or failed.
        time.sleep(2)
        assert ledger.get(footage_id, "ward-local", "youtube") == entry
        assert read_topic(bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), timeout_s=1) == []
        assert not (publisher.root / "published").exists() or not any((publisher.root / "published").rglob("*.mp4"))

        send(bootstrap, topic_prefix, CHANNEL_REGISTRY, ChannelUpdated(channel=ward, revision=2))  # reconnected
        records = read_topic(bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 1, timeout_s=60)
        assert [PostPublished.from_bytes(r.value).channel for r in records] == ["ward-local"], publisher.log_tail()
        posted = ledger.get(footage_id, "ward-local", "youtube")
        assert posted is not None and posted.state is PostState.POSTED and posted.error is None
    finally:
        ledger.close()
