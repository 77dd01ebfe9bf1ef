"""Fixtures every test layer shares: one real Kafka broker and one MinIO per session, fresh topics per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loa_core.kafka import ensure_topics
from loa_dev.kafka import KafkaBroker
from tests.integration.conftest_minio import minio_server
from tests.integration.conftest_postgres import database_url, postgres_server

__all__ = ["database_url", "minio_server", "postgres_server"]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A real Apache Kafka 4.x broker (KRaft) on a free loopback port, started once for the whole session."""
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def topic_prefix(kafka_broker: KafkaBroker) -> str:
    """A fresh set of every declared topic for this test, so no test sees another's events."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    asyncio.run(ensure_topics(kafka_broker.bootstrap, prefix))
    return prefix


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A small generated 16:9 clip with sound (testsrc2 + sine), 2 s."""
    from tests.support.media import make_clip

    return make_clip(tmp_path / "clip.mp4", width=640, height=360, duration_s=2.0)
