"""The channel store on both of its databases (SQLite and a real PostgreSQL server) with ingest's real producer on a
real broker: every change is on the registry topic with its revision, and changes racing on one channel (two
replicas) each get their own revision, with the newest the last record of the channel on the topic."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine

from loa_core.contracts import CHANNEL_REGISTRY, INGEST, Channel, ChannelState, ChannelUpdated
from loa_core.kafka import EventProducer
from loa_dev.kafka import KafkaBroker
from loa_ingest.channels import ChannelStore
from loa_ingest.state import IngestState, open_state
from tests.support.ingest import read_topic

LOCAL = Channel(name="local", platform="local", profiles=("tiktok", "youtube"))
YOUTUBE = Channel(name="p1-youtube", platform="youtube", profiles=("youtube",), ward="phuong-1")


@pytest.fixture
def state(database_url: str, tmp_path: Path) -> Iterator[IngestState]:
    opened = open_state(database_url, tmp_path / "tus")
    yield opened
    opened.close()


def _on_topic(bootstrap: str, prefix: str) -> list[ChannelUpdated]:
    return [ChannelUpdated.from_bytes(v) for v in read_topic(bootstrap, CHANNEL_REGISTRY.full_name(prefix))]


def test_every_change_is_on_the_topic_with_its_revision(
    state: IngestState, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    async def changes() -> None:
        producer = EventProducer(kafka_broker.bootstrap, topic_prefix, service=INGEST)
        store = ChannelStore(state.engine, producer)
        try:
            assert store.import_if_empty([LOCAL, YOUTUBE.model_copy(update={"state": ChannelState.DISCONNECTED})]) == 2
            assert await store.send_pending() == 2
            await store.connect("p1-youtube", "a" * 32)
            await store.change("p1-youtube", "phuong-1", lambda c: c.model_copy(update={"approval_required": True}))
            await store.remove("local", None)
            assert store.pending() == [] and list(store.active()) == ["p1-youtube"]
        finally:
            await producer.stop()

    asyncio.run(changes())
    records = _on_topic(kafka_broker.bootstrap, topic_prefix)
    sent = [("local", 1), ("p1-youtube", 1), ("p1-youtube", 2), ("p1-youtube", 3), ("local", 2)]
    assert [(r.name, r.revision) for r in records] == sent
    assert records[-2].channel.connection_id == "a" * 32 and records[-2].channel.approval_required
    assert records[-1].channel.state == ChannelState.REMOVED


def test_changes_racing_on_one_channel_each_get_a_revision_and_the_newest_is_sent_last(
    state: IngestState, database_url: str, tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    def replica(engine: Engine, changes: int) -> None:
        """One replica of ingest (its own engine, producer and event loop) changing the channel `changes` times."""

        async def work() -> None:
            producer = EventProducer(kafka_broker.bootstrap, topic_prefix, service=INGEST)
            store = ChannelStore(engine, producer)
            try:
                if changes == 0:
                    await store.add(YOUTUBE)
                for i in range(changes):
                    options = {"title_template": f"{{{{ title }}}} #{i}"}
                    await store.change("p1-youtube", None, lambda c, o=options: c.model_copy(update={"options": o}))
            finally:
                await producer.stop()

        asyncio.run(work())

    other = open_state(database_url, tmp_path / "tus-2")  # the second replica's connection to the same database
    try:
        replica(state.engine, 0)
        with ThreadPoolExecutor(2) as replicas:
            for done in [replicas.submit(replica, s.engine, 10) for s in (state, other)]:
                done.result()
    finally:
        other.close()
    newest = ChannelStore(state.engine, EventProducer("127.0.0.1:1")).get("p1-youtube")
    assert newest is not None and (newest.revision, newest.sent) == (21, True)
    records = [r for r in _on_topic(kafka_broker.bootstrap, topic_prefix) if r.name == "p1-youtube"]
    # Every change was written as its own revision (21 in all, above). A send publishes the row's newest record, so a
    # revision another replica overtook before its own send may never reach the topic: readers need only the newest,
    # and the highest revision wins in every reader.
    assert {r.revision for r in records} <= set(range(1, 22)), "only revisions that were written"
    assert records[-1].revision == 21, "the last record of the channel (the one compaction keeps) is the newest"
