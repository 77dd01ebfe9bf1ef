"""Consumer lag per consumer group and topic, measured from the broker, for the Faust services' groups.

Measured from outside the consumers on purpose: a worker that hangs or dies cannot report its own lag,
and that is exactly when the lag matters. The metrics service runs one `LagMonitor` for every group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from loa_core.contracts import TopicSpec
from loa_core.metrics import CONSUMER_LAG, CONSUMER_LAG_MEASURED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Group:
    """A consumer group and the topics it consumes. `label` is the prefix-free name used in metrics."""

    label: str
    group_id: str
    topics: Sequence[TopicSpec]


def lag_per_topic(
    end_offsets: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int | None]
) -> dict[str, int]:
    """Sum over partitions of end minus committed (pure). No commit yet counts the whole partition."""
    lag: dict[str, int] = {}
    for tp, end in end_offsets.items():
        done = committed.get(tp)
        lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - (done if done is not None and done >= 0 else 0))
    return lag


class LagMonitor:
    def __init__(self, bootstrap: str, prefix: str, groups: Sequence[Group]) -> None:
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._groups = groups
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
            await admin.start()
            # No group_id: this consumer only asks for end offsets and never joins or commits anything.
            consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
            await consumer.start()
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def measure(self) -> dict[tuple[str, str], int]:
        """Lag per (group label, topic name without prefix); also sets the loa_consumer_lag gauge."""
        admin, consumer = await self._clients()
        result: dict[tuple[str, str], int] = {}
        for group in self._groups:
            names = {spec.full_name(self._prefix): spec.name for spec in group.topics}
            tps = [
                TopicPartition(full, p)
                for spec in group.topics
                for full in [spec.full_name(self._prefix)]
                for p in range(spec.partitions)
            ]
            ends = await consumer.end_offsets(tps)
            offsets = await admin.list_consumer_group_offsets(group.group_id, partitions=tps)
            committed = {tp: meta.offset for tp, meta in offsets.items()}
            per_topic = lag_per_topic(ends, committed)
            for full, lag in per_topic.items():
                result[(group.label, names[full])] = lag
                CONSUMER_LAG.labels(group.label, names[full]).set(lag)
        CONSUMER_LAG_MEASURED.set(time.time())
        return result

    async def run(self, interval_s: float) -> None:
        """Measure forever; a broker hiccup is logged and retried next round, never fatal."""
        while True:
            try:
                await self.measure()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any client error: close, reconnect next round
                log.warning("consumer lag not measured: %s", exc)
                await self.close()
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()
