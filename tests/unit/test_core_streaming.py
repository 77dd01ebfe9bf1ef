"""process_record: decode, handle, retry what is transient, dead-letter the rest — never drop, never crash; the
dead-letter limit that stops a consumer instead; the drain that finishes or abandons jobs at a stop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from loa_core.contracts import DEAD_LETTER, FOOTAGE_UPLOADED, DeadLetter, Event, FootageUploaded, TopicSpec
from loa_core.settings import CommonSettings
from loa_core.streaming import (
    Consumption,
    DeadLetterLimit,
    Outcome,
    PermanentError,
    RetryableError,
    process_record,
)
from tests.unit.test_contracts import _examples


class RecordingProducer:
    """In-process stand-in for EventProducer (unit test only): remembers what was sent where."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Event]] = []

    async def send(self, spec: TopicSpec, event: Event) -> None:
        self.sent.append((spec.name, event))


RAW = json.dumps(_examples(FOOTAGE_UPLOADED)[0]).encode()


async def _process(
    raw: bytes,
    handler: Any,
    producer: RecordingProducer,
    spec: TopicSpec = FOOTAGE_UPLOADED,
    limit: DeadLetterLimit | None = None,
) -> Outcome:
    return await process_record(
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
        limit=limit,
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


# --- the dead-letter limit --------------------------------------------------------------------------------------


def _run(limit: DeadLetterLimit, outcomes: str) -> list[str | None]:
    """Feed outcomes ("x" dead-lettered, "." handled); what the limit said before each dead letter, in order."""
    refusals = []
    for outcome in outcomes:
        if outcome == "x":
            refusals.append(limit.refusal())
        limit.record(dead_lettered=outcome == "x")
    return refusals


def test_the_limit_allows_max_consecutive_dead_letters_then_refuses_the_next() -> None:
    limit = DeadLetterLimit(max_consecutive=3, max_ratio=1.0, window=100)
    assert _run(limit, "xxx") == [None, None, None]
    refusal = limit.refusal()
    assert refusal is not None and "4 records in a row" in refusal and "liên tiếp" in refusal


def test_a_handled_record_resets_the_run() -> None:
    limit = DeadLetterLimit(max_consecutive=3, max_ratio=1.0, window=100)
    assert _run(limit, "xxx.xxx") == [None] * 6
    assert limit.refusal() is not None


def test_the_ratio_counts_only_once_the_window_is_full() -> None:
    limit = DeadLetterLimit(max_consecutive=100, max_ratio=0.5, window=10)
    assert _run(limit, "xxxx") == [None] * 4
    assert limit.refusal() is None  # 5 of 5 would be dead-lettered, but 10 outcomes are not known yet


def test_the_ratio_refuses_a_dead_letter_over_the_share_of_the_last_window() -> None:
    # At most 50% of the last 10: a sixth dead letter among them is refused.
    limit = DeadLetterLimit(max_consecutive=100, max_ratio=0.5, window=10)
    assert _run(limit, "x.x.x.x.x.") == [None] * 5
    assert limit.refusal() is None  # the oldest x leaves the window: 5 of the last 10 again
    limit.record(dead_lettered=True)  # the last 10: .x.x.x.x.x
    assert limit.refusal() is not None  # 6 of the last 10


def test_the_ratio_refusal_names_the_share() -> None:
    limit = DeadLetterLimit(max_consecutive=100, max_ratio=0.5, window=4)
    _run(limit, "x.x")
    refusal = limit.refusal()  # 3 of the last 4 would be dead-lettered
    assert refusal is not None and "3 of the last 4" in refusal and "50%" in refusal


def test_the_limit_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        DeadLetterLimit(max_consecutive=0, max_ratio=0.5, window=10)
    with pytest.raises(ValueError):
        DeadLetterLimit(max_consecutive=1, max_ratio=0.0, window=10)


async def test_process_record_holds_the_record_the_limit_refuses() -> None:
    async def handler(event: FootageUploaded) -> None:
        raise PermanentError("storage down")

    producer = RecordingProducer()
    limit = DeadLetterLimit(max_consecutive=2, max_ratio=1.0, window=100)
    outcomes = [await _process(RAW, handler, producer, limit=limit) for _ in range(3)]
    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED, Outcome.HELD]
    assert len(producer.sent) == 2
    assert await _process(b"not json", handler, producer, limit=limit) is Outcome.HELD  # undecodable too
    assert len(producer.sent) == 2


async def test_process_record_counts_handled_records() -> None:
    fail = True

    async def handler(event: FootageUploaded) -> None:
        if fail:
            raise PermanentError("bad")

    producer = RecordingProducer()
    limit = DeadLetterLimit(max_consecutive=1, max_ratio=1.0, window=100)
    assert await _process(RAW, handler, producer, limit=limit) is Outcome.DEAD_LETTERED
    fail = False
    assert await _process(RAW, handler, producer, limit=limit) is Outcome.DONE
    fail = True
    assert await _process(RAW, handler, producer, limit=limit) is Outcome.DEAD_LETTERED


# --- the drain at a stop --------------------------------------------------------------------------------------------


async def test_drain_lets_a_job_finish_within_the_grace() -> None:
    consumption = Consumption("transcode", CommonSettings())
    started, release = asyncio.Event(), asyncio.Event()

    async def job() -> Outcome:
        started.set()
        await release.wait()
        return Outcome.DONE

    running = asyncio.ensure_future(consumption.run(job()))
    await started.wait()
    drained = asyncio.ensure_future(consumption.drain(grace_s=60))
    await asyncio.sleep(0.01)
    assert consumption.stopping and not drained.done()
    release.set()
    await drained
    assert await running is Outcome.DONE


class EndlessJob:
    """A job that runs until it is cancelled, and remembers whether it was."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False

    async def __call__(self) -> Outcome:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return Outcome.DONE


async def test_drain_abandons_a_job_past_the_grace() -> None:
    consumption = Consumption("transcode", CommonSettings())
    job = EndlessJob()
    running = asyncio.ensure_future(consumption.run(job()))
    await job.started.wait()
    await consumption.drain(grace_s=0.01)
    assert job.cancelled and await running is Outcome.ABANDONED


async def test_a_cancelled_agent_cancels_its_job() -> None:
    consumption = Consumption("transcode", CommonSettings())
    job = EndlessJob()
    running = asyncio.ensure_future(consumption.run(job()))
    await job.started.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert job.cancelled
