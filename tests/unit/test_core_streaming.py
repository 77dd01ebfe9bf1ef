"""process_record: decode, handle, retry what is transient, dead-letter the rest — never drop, never crash."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loa_core.contracts import DEAD_LETTER, FOOTAGE_UPLOADED, DeadLetter, Event, FootageUploaded, TopicSpec
from loa_core.streaming import PermanentError, RetryableError, process_record
from tests.unit.test_contracts import _examples


class RecordingProducer:
    """In-process stand-in for EventProducer (unit test only): remembers what was sent where."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Event]] = []

    async def send(self, spec: TopicSpec, event: Event) -> None:
        self.sent.append((spec.name, event))


RAW = json.dumps(_examples(FOOTAGE_UPLOADED)[0]).encode()


async def _process(raw: bytes, handler: Any, producer: RecordingProducer, spec: TopicSpec = FOOTAGE_UPLOADED) -> None:
    await process_record(
        raw,
        spec=spec,
        topic="footage.uploaded",
        partition=1,
        offset=9,
        service="transcode",
        handler=handler,
        producer=producer,
        retries=2,
        backoff_s=0.0,  # type: ignore[arg-type]
    )


async def test_good_record_reaches_the_handler_once() -> None:
    seen: list[FootageUploaded] = []

    async def handler(event: FootageUploaded) -> None:
        seen.append(event)

    producer = RecordingProducer()
    await _process(RAW, handler, producer)
    assert [e.footage_id for e in seen] == ["3b1f5c0e2d9a4e6f8a7b6c5d4e3f2a1b"]
    assert producer.sent == []


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe", b"{}", b""])
async def test_undecodable_record_is_dead_lettered_with_its_bytes(raw: bytes) -> None:
    async def handler(event: FootageUploaded) -> None:
        raise AssertionError("must not be called")

    producer = RecordingProducer()
    await _process(raw, handler, producer)
    [(topic, letter)] = producer.sent
    assert topic == DEAD_LETTER.name and isinstance(letter, DeadLetter)
    assert letter.origin_topic == "footage.uploaded" and letter.origin_offset == 9
    assert letter.reason


async def test_transient_errors_are_retried_then_succeed() -> None:
    calls = 0

    async def handler(event: FootageUploaded) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RetryableError("storage busy")

    producer = RecordingProducer()
    await _process(RAW, handler, producer)
    assert calls == 3 and producer.sent == []


async def test_transient_errors_that_persist_end_on_the_dead_letter_topic() -> None:
    async def handler(event: FootageUploaded) -> None:
        raise RetryableError("storage down")

    producer = RecordingProducer()
    await _process(RAW, handler, producer)
    [(_, letter)] = producer.sent
    assert isinstance(letter, DeadLetter) and "storage down" in letter.reason
    assert letter.footage_id == "3b1f5c0e2d9a4e6f8a7b6c5d4e3f2a1b"


@pytest.mark.parametrize("error", [PermanentError("ffmpeg refused"), KeyError("bug")])
async def test_permanent_errors_and_bugs_are_dead_lettered_not_raised(error: Exception) -> None:
    async def handler(event: FootageUploaded) -> None:
        raise error

    producer = RecordingProducer()
    await _process(RAW, handler, producer)
    [(_, letter)] = producer.sent
    assert isinstance(letter, DeadLetter) and letter.error_type == type(error).__name__


async def test_a_broken_dead_letter_is_not_dead_lettered_again() -> None:
    async def handler(event: DeadLetter) -> None:
        raise AssertionError("must not be called")

    producer = RecordingProducer()
    await _process(b"garbage", handler, producer, spec=DEAD_LETTER)
    assert producer.sent == []
