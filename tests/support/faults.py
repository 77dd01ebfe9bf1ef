"""Fault scenarios with real processes, shared by the tests (small batches) and bench/ (the issue's 50 uploads)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from loa_core.contracts import POSTS_PUBLISHED, RENDITIONS_READY
from loa_core.kafka import ensure_topics
from loa_core.storage import LocalStorage, Storage
from loa_dev.kafka import KafkaBroker
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.minio import MinioServer
from tests.support.pipeline import CHANNELS, BatchOutcome, Pipeline, encodes, send_all
from tests.support.polling import wait_until
from tests.support.postgres import PostgresServer
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


def postgres_outage_batch(
    root: Path, batch: int, bootstrap: str, prefix: str, outage_s: float = 5.0, timeout_s: float = 300.0
) -> tuple[BatchOutcome, int]:
    """A batch of `batch` tiny footage through one transcode worker and one publisher whose ledger is on a
    PostgreSQL server of its own, which crashes after the first post (connections cut, no checkpoint), stays away
    `outage_s` and comes back on the same port and data while the batch is still being posted. Returns the outcome
    and the number of posts made before the outage."""
    server = PostgresServer()
    server.start()
    timings: dict[str, float] = {}
    try:
        asyncio.run(ensure_topics(bootstrap, prefix))
        with YouTubeEmulator(root / "yt") as youtube:
            pipe = Pipeline(root / "pipe", bootstrap, prefix, youtube)
            uploads = pipe.uploads(batch)
            transcoder = pipe.transcoder("t1")
            publisher = pipe.publisher("p1", LOA_DATABASE_URL=server.new_database())
            wanted = {(u.footage_id, c) for u in uploads for c in CHANNELS}
            try:
                transcoder.start()
                publisher.start()
                transcoder.wait_assigned()
                started = time.monotonic()
                with EventCollector(bootstrap, prefix, POSTS_PUBLISHED) as events:
                    send_all(bootstrap, prefix, uploads)
                    wait_until(lambda: events.of(POSTS_PUBLISHED), timeout_s, "a first post", diagnose=pipe.logs)
                    timings["first post"] = time.monotonic() - started
                    posted_before = len({(e.footage_id, e.channel) for e in events.of(POSTS_PUBLISHED)})
                    server.outage(outage_s)
                    wait_until(
                        lambda: wanted <= {(e.footage_id, e.channel) for e in events.of(POSTS_PUBLISHED)},
                        timeout_s,
                        "every footage posted to every channel after the database came back",
                        diagnose=pipe.logs,
                    )
                timings["batch"] = time.monotonic() - started
            finally:
                pipe.stop()
            return pipe.outcome(uploads, timings), posted_before
    finally:
        server.stop()


def scale_up_batch(
    root: Path, batch: int, env: dict[str, str], timeout_s: float = 600.0
) -> tuple[BatchOutcome, dict[str, int]]:
    """A batch of `batch` tiny footage started on one transcode worker and one publisher, joined by a second of each
    once the first cuts are announced (a scale-up mid-batch, as KEDA does on lag). `env` goes to both publishers
    (LOA_DATABASE_URL for a shared ledger). Returns the outcome and the footage encoded more than once (by the
    transcode workers' logs of the ffmpeg runs), with their number of encodes."""
    broker = KafkaBroker(root / "kafka")
    broker.start()
    try:
        bootstrap = broker.bootstrap
        asyncio.run(ensure_topics(bootstrap, PREFIX))
        with YouTubeEmulator(root / "yt") as youtube:
            pipe = Pipeline(root / "pipe", bootstrap, PREFIX, youtube)
            uploads = pipe.uploads(batch)
            first, second = [(pipe.transcoder(f"t{n}"), pipe.publisher(f"p{n}", **env)) for n in (1, 2)]
            wanted = {(u.footage_id, c) for u in uploads for c in CHANNELS}
            with EventCollector(bootstrap, PREFIX, RENDITIONS_READY, POSTS_PUBLISHED) as events:
                try:
                    first[0].start()
                    first[1].start()
                    first[0].wait_assigned()
                    send_all(bootstrap, PREFIX, uploads)
                    wait_until(lambda: events.of(RENDITIONS_READY), timeout_s, "a first cut", diagnose=pipe.logs)
                    second[0].start()
                    second[1].start()
                    wait_until(
                        lambda: wanted <= {(e.footage_id, e.channel) for e in events.of(POSTS_PUBLISHED)},
                        timeout_s,
                        "every footage posted to every channel",
                        diagnose=pipe.logs,
                    )
                finally:
                    pipe.stop()
            encoded = encodes([w.log_path for w in pipe.transcoders], [u.footage_id for u in uploads])
            return pipe.outcome(uploads), {f: n for f, n in encoded.items() if n > 1}
    finally:
        broker.stop()


def storage_outage_batch(
    root: Path, bootstrap: str, prefix: str, batch: int, outage_s: float, timeout_s: float = 300.0
) -> tuple[BatchOutcome, Storage]:
    """A batch of `batch` tiny footage through one transcode worker and one publisher on S3 storage (a MinIO of its
    own), the MinIO SIGKILLed once the first cuts are announced (the rest are then being transcoded or posted) and
    started again `outage_s` later on the same port and data. Returns the outcome and the storage (to check what it
    holds); the MinIO is stopped on return, so the storage is a snapshot: read it before the next call."""
    with MinioServer(root / "minio") as minio, YouTubeEmulator(root / "yt") as youtube:
        pipe = Pipeline(root / "pipe", bootstrap, prefix, youtube, minio=minio)
        uploads = pipe.uploads(batch)
        # A post whose copy failed on the outage is held this long before its next try (default 5 minutes).
        transcoder, publisher = pipe.transcoder("t1"), pipe.publisher("p1", LOA_HOLD_AFTER_TRANSIENT_S="2")
        wanted = {(u.footage_id, c) for u in uploads for c in CHANNELS}
        timings: dict[str, float] = {}
        with EventCollector(bootstrap, prefix, RENDITIONS_READY, POSTS_PUBLISHED) as events:
            try:
                transcoder.start()
                publisher.start()
                transcoder.wait_assigned()
                started = time.monotonic()
                send_all(bootstrap, prefix, uploads)
                wait_until(lambda: events.of(RENDITIONS_READY), timeout_s, "a first cut", diagnose=pipe.logs)
                minio.kill()
                timings["first cut"] = time.monotonic() - started
                time.sleep(outage_s)
                minio.start()
                timings["storage back"] = time.monotonic() - started
                wait_until(
                    lambda: wanted <= {(e.footage_id, e.channel) for e in events.of(POSTS_PUBLISHED)},
                    timeout_s,
                    "every footage posted to every channel after the storage came back",
                    diagnose=pipe.logs,
                )
                timings["batch"] = time.monotonic() - started
            finally:
                pipe.stop()
        outcome = pipe.outcome(uploads, timings)
        snapshot = LocalStorage(root / "snapshot")
        for key in pipe.storage.list():
            pipe.storage.download(key, root / "snapshot" / key)
        return outcome, snapshot
