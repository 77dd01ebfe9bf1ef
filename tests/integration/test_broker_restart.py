"""The Kafka broker SIGKILLed and restarted in the middle of a batch: every footage published once, none lost.

The broker is this test's own (the session's is shared by every other test). A transcode worker and a publisher
run as processes; the broker dies mid-batch with a power cut's SIGKILL, comes back on the same port and data, and
the batch completes: one announced set of cuts per footage, one post per (footage, channel), one video per footage
on the YouTube emulator, nothing dead-lettered.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from loa_core.contracts import DEAD_LETTER, POSTS_FAILED, POSTS_PUBLISHED, RENDITIONS_READY, Event, TopicSpec
from loa_core.kafka import ensure_topics
from loa_dev.kafka import KafkaBroker
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.kafka import read_topic
from tests.support.pipeline import CHANNELS, Pipeline, duplicates, send_all
from tests.support.polling import wait_until
from tests.support.transcode import EventCollector

BATCH = 12
PREFIX = "restart."


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path / "kafka")
    broker.start()
    asyncio.run(ensure_topics(broker.bootstrap, PREFIX))
    try:
        yield broker
    finally:
        broker.stop()


def _all(bootstrap: str, spec: TopicSpec) -> list[Event]:
    return [spec.event.from_bytes(r.value or b"") for r in read_topic(bootstrap, spec.full_name(PREFIX), timeout_s=3)]


def test_broker_sigkilled_mid_batch_loses_and_duplicates_nothing(own_broker: KafkaBroker, tmp_path: Path) -> None:
    bootstrap = own_broker.bootstrap
    with YouTubeEmulator(tmp_path / "yt") as youtube:
        pipe = Pipeline(tmp_path / "pipe", bootstrap, PREFIX, youtube)
        uploads = pipe.uploads(BATCH)
        transcoder, publisher = pipe.transcoder("t1"), pipe.publisher("p1")
        wanted = {(u.footage_id, c) for u in uploads for c in CHANNELS}
        try:
            transcoder.start()
            publisher.start()
            transcoder.wait_assigned()
            send_all(bootstrap, PREFIX, uploads)
            with EventCollector(bootstrap, PREFIX, POSTS_PUBLISHED) as events:
                wait_until(lambda: events.of(POSTS_PUBLISHED), 180, "a first post", diagnose=pipe.logs)
            assert own_broker.process is not None
            own_broker.process.send_signal(signal.SIGKILL)  # a power cut: no clean shutdown of its logs
            own_broker.process.wait()
            own_broker.start()  # same port, same data
            with EventCollector(bootstrap, PREFIX, POSTS_PUBLISHED) as events:
                wait_until(
                    lambda: wanted <= {(e.footage_id, e.channel) for e in events.of(POSTS_PUBLISHED)},
                    300,
                    "every footage posted to every channel after the broker's restart",
                    diagnose=pipe.logs,
                )
        finally:
            pipe.stop()

    ready = _all(bootstrap, RENDITIONS_READY)
    published = _all(bootstrap, POSTS_PUBLISHED)
    ids = sorted(u.footage_id for u in uploads)
    announcements = {f: {e.event_id for e in ready if e.footage_id == f} for f in ids}  # type: ignore[attr-defined]
    assert all(len(event_ids) == 1 for event_ids in announcements.values()), announcements
    posts = {(e.footage_id, e.channel, e.post_id) for e in published}  # type: ignore[attr-defined]
    assert duplicates([(f, c) for f, c, _ in posts]) == {}
    assert {(f, c) for f, c, _ in posts} == wanted
    assert len(youtube.videos) == BATCH, f"{len(youtube.videos)} YouTube videos for {BATCH} footage"
    assert sorted(p.name for p in pipe.publish_dir.iterdir() if p.is_dir()) == ids
    assert _all(bootstrap, DEAD_LETTER) == [] and _all(bootstrap, POSTS_FAILED) == []
    print(f"renditions.ready: {len(ready)} for {BATCH} footage; posts.published: {len(published)} for {len(wanted)}")
