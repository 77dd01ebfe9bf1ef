"""ensure_topics against the real broker: replicas from the broker's default, existing topics left as they are."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from loa_core.contracts import ALL_TOPICS, CHANNEL_REGISTRY, FOOTAGE_UPLOADED
from loa_core.kafka import ensure_topics
from loa_dev.kafka import KafkaBroker


async def _describe(bootstrap: str, topics: list[str]) -> tuple[int, dict[str, list[dict[str, object]]]]:
    """The broker's default.replication.factor and each topic's partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1", {"default.replication.factor": None})]
        )
        entries = configs[0].to_object()["resources"][0]["config_entries"]
        default = int(next(e["config_value"] for e in entries if e["config_names"] == "default.replication.factor"))
        described = await admin.describe_topics(topics)
        return default, {t["topic"]: t["partitions"] for t in described}
    finally:
        await admin.close()


def test_created_topics_get_the_broker_default_replication(kafka_broker: KafkaBroker) -> None:
    prefix = f"r{uuid.uuid4().hex[:10]}."
    created = asyncio.run(ensure_topics(kafka_broker.bootstrap, prefix))
    assert created == [s.full_name(prefix) for s in ALL_TOPICS]
    default, partitions = asyncio.run(_describe(kafka_broker.bootstrap, created))
    for spec in ALL_TOPICS:
        parts = partitions[spec.full_name(prefix)]
        assert len(parts) == spec.partitions
        assert {len(p["replicas"]) for p in parts} == {default}  # type: ignore[arg-type]


async def _create_one_partition(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        # The controller has it; wait until the broker's metadata shows it too, as it would for a topic made long ago.
        while not any(t["partitions"] for t in await admin.describe_topics([topic])):
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


def test_existing_topic_with_fewer_partitions_is_left_and_logged(
    kafka_broker: KafkaBroker, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"r{uuid.uuid4().hex[:10]}."
    topic = FOOTAGE_UPLOADED.full_name(prefix)
    asyncio.run(_create_one_partition(kafka_broker.bootstrap, topic))
    with caplog.at_level(logging.WARNING, logger="loa_core.kafka"):
        created = asyncio.run(ensure_topics(kafka_broker.bootstrap, prefix))
    assert topic not in created and len(created) == len(ALL_TOPICS) - 1
    _, partitions = asyncio.run(_describe(kafka_broker.bootstrap, [topic]))
    assert len(partitions[topic]) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"topic {topic} has 1 partitions but its contract declares {FOOTAGE_UPLOADED.partitions}: left as it is, "
        "so at most 1 consumers of a group share it; add partitions with kafka-topics --alter if that is intended"
    ]


def test_a_refused_creation_is_an_error_not_silence(kafka_broker: KafkaBroker) -> None:
    # Zero partitions stands in for any refusal (too few brokers for the default replication, a bad config):
    # aiokafka hands back the broker's per-topic error instead of raising it.
    prefix = f"r{uuid.uuid4().hex[:10]}."
    refused = dataclasses.replace(FOOTAGE_UPLOADED, partitions=0)
    with pytest.raises(RuntimeError, match=rf"refused to create topics .*{prefix}footage.uploaded: InvalidPartitions"):
        asyncio.run(ensure_topics(kafka_broker.bootstrap, prefix, (refused,)))


async def _topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        wanted = {"cleanup.policy": None, "retention.ms": None}
        for _ in range(300):
            configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, wanted)])
            resource = configs[0].to_object()["resources"][0]
            # A topic created a moment ago may not be known to the broker that answers yet (UnknownTopic): ask again.
            if resource["error_code"] == 0:
                return {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
            await asyncio.sleep(0.1)
        raise AssertionError(f"the broker never described {topic}: {resource}")
    finally:
        await admin.close()


def test_the_channel_registry_is_created_compacted_and_the_rest_deleted_by_age(kafka_broker: KafkaBroker) -> None:
    prefix = f"r{uuid.uuid4().hex[:10]}."
    asyncio.run(ensure_topics(kafka_broker.bootstrap, prefix))
    registry = asyncio.run(_topic_config(kafka_broker.bootstrap, CHANNEL_REGISTRY.full_name(prefix)))
    assert (registry["cleanup.policy"], registry["retention.ms"]) == ("compact", "-1")
    footage = asyncio.run(_topic_config(kafka_broker.bootstrap, FOOTAGE_UPLOADED.full_name(prefix)))
    assert (footage["cleanup.policy"], footage["retention.ms"]) == ("delete", str(FOOTAGE_UPLOADED.retention_ms))
