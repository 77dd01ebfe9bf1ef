"""The channel registry's reader against a real broker: records reach the registry, the highest revision wins,
REMOVED forgets, an unreadable record is passed over, and a reader started after the records catches up."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from prometheus_client import REGISTRY

from loa_core.channel_registry import ChannelRegistry, RegistryReader
from loa_core.contracts import CHANNEL_REGISTRY, Channel, ChannelState, ChannelUpdated
from loa_core.kafka import EventProducer, ensure_topics
from loa_dev.kafka import KafkaBroker
from tests.support.kafka import produce_raw


def channel(
    name: str, *, platform: str = "youtube", profiles: tuple[str, ...] = ("youtube",), **fields: object
) -> Channel:
    return Channel(name=name, platform=platform, profiles=profiles, **fields)  # type: ignore[arg-type]


async def write(bootstrap: str, prefix: str, *updates: ChannelUpdated) -> None:
    await ensure_topics(bootstrap, prefix, (CHANNEL_REGISTRY,))
    producer = EventProducer(bootstrap, prefix)
    try:
        for u in updates:
            await producer.send(CHANNEL_REGISTRY, u)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def reading(registry: ChannelRegistry, bootstrap: str, prefix: str) -> AsyncIterator[None]:
    task = asyncio.create_task(RegistryReader(registry, bootstrap, prefix, service="publisher").run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(0.05)


def unreadable() -> float:
    return REGISTRY.get_sample_value("loa_channel_records_unreadable_total", {"service": "publisher"}) or 0.0


async def test_records_written_while_reading_reach_the_registry(kafka_broker: KafkaBroker, topic_prefix: str) -> None:
    bootstrap = kafka_broker.bootstrap
    registry = ChannelRegistry()
    heard: list[Channel] = []
    registry.subscribe(heard.append)
    async with reading(registry, bootstrap, topic_prefix):
        await asyncio.wait_for(registry.wait_ready(), 60)  # an empty topic: read up to date at once
        assert len(registry) == 0

        first = channel("p1-yt")
        await write(bootstrap, topic_prefix, ChannelUpdated(channel=first, revision=1))
        await until("the new channel", lambda: "p1-yt" in registry)
        assert registry["p1-yt"] == first

        both = channel("p1-yt", profiles=("youtube", "tiktok"))
        older = channel("p1-yt", profiles=("tiktok",))
        # Revision 3, then a late revision 2: the later write is the older configuration and must not win.
        await write(bootstrap, topic_prefix, ChannelUpdated(channel=both, revision=3))
        await write(bootstrap, topic_prefix, ChannelUpdated(channel=older, revision=2))
        await write(bootstrap, topic_prefix, ChannelUpdated(channel=channel("marker"), revision=1))
        await until("the marker written after them", lambda: "marker" in registry)
        assert registry["p1-yt"] == both and registry.revision("p1-yt") == 3

        removed = channel("p1-yt", state=ChannelState.REMOVED)
        await write(bootstrap, topic_prefix, ChannelUpdated(channel=removed, revision=4))
        await until("the removal", lambda: "p1-yt" not in registry)
        assert [c.name for c in registry.all()] == ["marker"]
    assert [(c.name, c.profiles, c.state) for c in heard] == [
        ("p1-yt", ("youtube",), ChannelState.CONNECTED),
        ("p1-yt", ("youtube", "tiktok"), ChannelState.CONNECTED),
        ("marker", ("youtube",), ChannelState.CONNECTED),
        ("p1-yt", ("youtube",), ChannelState.REMOVED),
    ]


async def test_a_reader_started_after_the_records_catches_up_then_reports_ready(
    kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    await write(
        bootstrap,
        topic_prefix,
        ChannelUpdated(channel=channel("local", platform="local"), revision=1),
        ChannelUpdated(channel=channel("p1-yt"), revision=1),
        ChannelUpdated(channel=channel("p2-yt"), revision=1),
        ChannelUpdated(channel=channel("p2-yt", state=ChannelState.REMOVED), revision=2),
    )
    # A record this reader cannot read (not JSON), then one more good record after it.
    await asyncio.to_thread(
        produce_raw, bootstrap, CHANNEL_REGISTRY.full_name(topic_prefix), b"{not json", key=b"p3-yt"
    )
    await write(
        bootstrap,
        topic_prefix,
        ChannelUpdated(channel=channel("p1-yt", state=ChannelState.DISCONNECTED), revision=2),
    )
    before = unreadable()

    # Seeded as from a channels file: revision 0, so the records override the seed; a seeded channel the topic does
    # not name stays.
    seed = [Channel(name="local", platform="local", profiles=("tiktok",)), channel("from-file")]
    registry = ChannelRegistry(seed)
    assert registry.not_ready() is not None
    async with reading(registry, bootstrap, topic_prefix):
        await asyncio.wait_for(registry.wait_ready(), 60)
        # Ready means every record there was at the start is applied.
        assert registry.not_ready() is None
        assert sorted(registry) == ["from-file", "local", "p1-yt"]
        assert registry["local"].profiles == ("youtube",) and registry.revision("local") == 1
        assert registry["p1-yt"].state is ChannelState.DISCONNECTED
        assert registry.revision("p2-yt") == 2
        assert unreadable() == before + 1


async def test_readers_wait_out_a_broker_outage(tmp_path: Path) -> None:
    """A broker of this test's own, SIGKILLed: the reader that was following goes on after the restart, and one
    started while the broker was away reads everything once it is back."""
    broker = KafkaBroker(tmp_path / "kafka")
    broker.start()
    prefix = "outage."
    try:
        bootstrap = broker.bootstrap
        await write(bootstrap, prefix, ChannelUpdated(channel=channel("before"), revision=1))
        following = ChannelRegistry()
        async with reading(following, bootstrap, prefix):
            await asyncio.wait_for(following.wait_ready(), 60)
            assert "before" in following
            assert broker.process is not None
            broker.process.send_signal(signal.SIGKILL)
            broker.process.wait()
            late = ChannelRegistry()
            async with reading(late, bootstrap, prefix):
                await asyncio.sleep(3)  # the late reader's start fails and is retried; the other's fetches fail
                assert not late.ready
                await asyncio.to_thread(broker.start)  # same port, same data
                await write(bootstrap, prefix, ChannelUpdated(channel=channel("after"), revision=1))
                await until(
                    "the first reader reading the record written after the restart", lambda: "after" in following, 120
                )
                await until("the late reader reading both records", lambda: {"before", "after"} <= set(late), 120)
                assert late.ready
    finally:
        broker.stop()
