"""Consumer lag measured from a real Kafka broker: end offsets minus the group's committed offsets."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import REGISTRY

from loa_core.contracts import FOOTAGE_UPLOADED, RENDITIONS_READY
from loa_core.lag import Group, LagMonitor
from loa_dev.kafka import KafkaBroker


async def test_lag_per_group_and_topic(kafka_broker: KafkaBroker, topic_prefix: str) -> None:
    uploaded = FOOTAGE_UPLOADED.full_name(topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(uploaded, b"{}", partition=i % 2)  # 3 records on p0, 2 on p1
    finally:
        await producer.stop()

    group_id = f"{topic_prefix}loa-transcode"
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_broker.bootstrap, group_id=group_id, enable_auto_commit=False)
    consumer.assign([TopicPartition(uploaded, 0), TopicPartition(uploaded, 1)])
    await consumer.start()
    try:
        # The group has consumed 2 records of partition 0 and none of partition 1 (no commit there at all).
        await consumer.commit({TopicPartition(uploaded, 0): OffsetAndMetadata(2, "")})
    finally:
        await consumer.stop()

    monitor = LagMonitor(
        kafka_broker.bootstrap,
        topic_prefix,
        [
            Group("loa-transcode", group_id, (FOOTAGE_UPLOADED,)),
            Group("loa-publisher", f"{topic_prefix}loa-publisher", (RENDITIONS_READY,)),
        ],
    )
    try:
        lag = await monitor.measure()
    finally:
        await monitor.close()
    assert lag == {("loa-transcode", "footage.uploaded"): 1 + 2, ("loa-publisher", "renditions.ready"): 0}
    assert REGISTRY.get_sample_value("loa_consumer_lag", {"group": "loa-transcode", "topic": "footage.uploaded"}) == 3
    assert (REGISTRY.get_sample_value("loa_consumer_lag_measured_timestamp_seconds") or 0) > 0
