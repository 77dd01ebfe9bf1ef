"""The shared observability pieces in loa_core: job buckets, lag arithmetic, dead-letter counting."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from loa_core.contracts import DEAD_LETTER, Event, TopicSpec
from loa_core.kafka import dead_letter_for, send_dead_letter
from loa_core.lag import lag_per_topic
from loa_core.metrics import JOB_BUCKETS, job_duration_histogram


def test_job_buckets_reach_hours() -> None:
    assert JOB_BUCKETS[-1] >= 4 * 3600
    assert list(JOB_BUCKETS) == sorted(JOB_BUCKETS)
    histogram = job_duration_histogram("loa_test_job_seconds", "test", ["kind"])
    histogram.labels("x").observe(2 * 3600 + 1)
    assert REGISTRY.get_sample_value("loa_test_job_seconds_bucket", {"kind": "x", "le": "7200.0"}) == 0
    assert REGISTRY.get_sample_value("loa_test_job_seconds_bucket", {"kind": "x", "le": "14400.0"}) == 1


def test_lag_sums_partitions_and_counts_uncommitted_ones_whole() -> None:
    a0, a1, b0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)
    ends = {a0: 10, a1: 5, b0: 7}
    assert lag_per_topic(ends, {a0: 4, a1: 5, b0: -1}) == {"a": 6, "b": 7}
    assert lag_per_topic(ends, {a0: 12}) == {"a": 5, "b": 7}, "a commit past the end is no negative lag"


class _Producer:
    """In-process stand-in for EventProducer: records what would go to Kafka."""

    def __init__(self) -> None:
        self.sent: list[tuple[TopicSpec, Event]] = []

    async def send(self, spec: TopicSpec, event: Event) -> None:
        self.sent.append((spec, event))


def test_dead_letters_are_counted_after_they_are_sent() -> None:
    labels = {"origin_service": "unit-test", "error_type": "ValueError"}
    before = REGISTRY.get_sample_value("loa_dead_letters_sent_total", labels) or 0
    producer = _Producer()
    letter = dead_letter_for(b"x", service="unit-test", topic="t", error=ValueError("bad"))
    asyncio.run(send_dead_letter(producer, letter))  # type: ignore[arg-type]
    assert producer.sent == [(DEAD_LETTER, letter)]
    assert REGISTRY.get_sample_value("loa_dead_letters_sent_total", labels) == before + 1
