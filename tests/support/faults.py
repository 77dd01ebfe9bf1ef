"""Fault scenarios with real processes, shared by the tests (small batches) and bench/ (the issue's 50 uploads)."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from loa_core.contracts import DEAD_LETTER, POSTS_FAILED, POSTS_PUBLISHED, RENDITIONS_READY, Event, TopicSpec
from loa_core.kafka import ensure_topics
from loa_dev.kafka import KafkaBroker
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.kafka import read_topic
from tests.support.pipeline import CHANNELS, Pipeline, send_all
from tests.support.polling import wait_until
from tests.support.transcode import EventCollector

PREFIX = "restart."


@dataclass
class BatchOutcome:
    """What a batch left behind, read once every worker had stopped (so nothing more can be added)."""

    footage_ids: list[str]
    ready: list[Event]  # renditions.ready, every record
    published: list[Event]  # posts.published, every record
    failed: list[Event]
    dead_letters: list[Event]
    youtube_videos: int  # videos on the YouTube emulator: a post made twice is a second video
    local_posts: list[str]  # footage folders in the `local` target's publish folder
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def wanted(self) -> set[tuple[str, str]]:
        return {(f, c) for f in self.footage_ids for c in CHANNELS}


def _all(bootstrap: str, spec: TopicSpec) -> list[Event]:
    return [spec.event.from_bytes(r.value or b"") for r in read_topic(bootstrap, spec.full_name(PREFIX), timeout_s=3)]


def broker_restart_batch(root: Path, batch: int, timeout_s: float = 300.0) -> BatchOutcome:
    """A batch of `batch` tiny footage through one transcode worker and one publisher, with a broker of its own
    SIGKILLed after the first post (a power cut: its logs are not closed) and restarted on the same port and data."""
    broker = KafkaBroker(root / "kafka")
    broker.start()
    timings: dict[str, float] = {}
    try:
        bootstrap = broker.bootstrap
        asyncio.run(ensure_topics(bootstrap, PREFIX))
        with YouTubeEmulator(root / "yt") as youtube:
            pipe = Pipeline(root / "pipe", bootstrap, PREFIX, youtube)
            uploads = pipe.uploads(batch)
            transcoder, publisher = pipe.transcoder("t1"), pipe.publisher("p1")
            wanted = {(u.footage_id, c) for u in uploads for c in CHANNELS}
            try:
                transcoder.start()
                publisher.start()
                transcoder.wait_assigned()
                started = time.monotonic()
                send_all(bootstrap, PREFIX, uploads)
                with EventCollector(bootstrap, PREFIX, POSTS_PUBLISHED) as events:
                    wait_until(lambda: events.of(POSTS_PUBLISHED), timeout_s, "a first post", diagnose=pipe.logs)
                timings["first post"] = time.monotonic() - started
                assert broker.process is not None
                killed = time.monotonic()
                broker.process.send_signal(signal.SIGKILL)
                broker.process.wait()
                broker.start()  # same port, same data
                timings["broker down"] = time.monotonic() - killed
                with EventCollector(bootstrap, PREFIX, POSTS_PUBLISHED) as events:
                    wait_until(
                        lambda: wanted <= {(e.footage_id, e.channel) for e in events.of(POSTS_PUBLISHED)},
                        timeout_s,
                        "every footage posted to every channel after the broker's restart",
                        diagnose=pipe.logs,
                    )
                timings["batch"] = time.monotonic() - started
            finally:
                pipe.stop()
            return BatchOutcome(
                footage_ids=sorted(u.footage_id for u in uploads),
                ready=_all(bootstrap, RENDITIONS_READY),
                published=_all(bootstrap, POSTS_PUBLISHED),
                failed=_all(bootstrap, POSTS_FAILED),
                dead_letters=_all(bootstrap, DEAD_LETTER),
                youtube_videos=len(youtube.videos),
                local_posts=sorted(p.name for p in pipe.publish_dir.iterdir() if p.is_dir()),
                timings=timings,
            )
    finally:
        broker.stop()
