"""Read and write raw records on a real broker from tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord


async def _read(
    bootstrap: str, topic: str, until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool], timeout_s: float
) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for part in batch.values():
                records.extend(part)
            if until(records):
                break
    finally:
        await consumer.stop()
    return records


def read_topic(
    bootstrap: str,
    topic: str,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool] = lambda r: False,
    timeout_s: float = 5.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on `topic` from the start, reading until `until(records)` holds or the time is up."""
    return asyncio.run(_read(bootstrap, topic, until, timeout_s))


def produce_raw(bootstrap: str, topic: str, value: bytes, key: bytes | None = None) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    asyncio.run(send())
