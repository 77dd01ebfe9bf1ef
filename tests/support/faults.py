"""Fault scenarios with real processes, shared by the tests (small batches) and bench/ (the issue's 50 uploads)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from loa_core.contracts import POSTS_PUBLISHED
from loa_core.kafka import ensure_topics
from loa_dev.kafka import KafkaBroker
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.pipeline import CHANNELS, BatchOutcome, Pipeline, send_all
from tests.support.polling import wait_until
from tests.support.transcode import EventCollector

PREFIX = "restart."


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
            return pipe.outcome(uploads, timings)
    finally:
        broker.stop()
