"""What ensure_topics asks the broker for: the contract's partitions and retention, the broker's default replicas."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from loa_core.contracts import ALL_TOPICS, CHANNEL_REGISTRY, FOOTAGE_UPLOADED
from loa_core.kafka import creation_failures, new_topics, partition_shortfalls


def test_new_topics_send_the_broker_default_replication_and_no_assignment() -> None:
    # The tuple is exactly what aiokafka puts in the CreateTopics request: replication factor -1 with an empty
    # assignment lets the broker apply its default.replication.factor (3 in a city, 1 on one node).
    sent = [AIOKafkaAdminClient._convert_new_topic_request(t) for t in new_topics(ALL_TOPICS, "p.")]
    configs = {
        s.name: [("cleanup.policy", "compact"), ("retention.ms", "-1")]
        if s.compacted
        else [("retention.ms", str(s.retention_ms))]
        for s in ALL_TOPICS
    }
    assert sent == [(f"p.{s.name}", s.partitions, -1, [], configs[s.name]) for s in ALL_TOPICS]


def test_the_channel_registry_is_created_compacted_and_kept_for_ever() -> None:
    # Configuration: a reader starting tomorrow must find every channel's newest record, however old it is.
    assert CHANNEL_REGISTRY in ALL_TOPICS
    (request,) = [AIOKafkaAdminClient._convert_new_topic_request(t) for t in new_topics((CHANNEL_REGISTRY,), "")]
    assert request == ("channels.registry", 1, -1, [], [("cleanup.policy", "compact"), ("retention.ms", "-1")])
    assert [s.name for s in ALL_TOPICS if s.compacted] == ["channels.registry"]


def test_partition_shortfalls_name_only_existing_topics_with_fewer_partitions() -> None:
    specs = ALL_TOPICS
    declared = {s.full_name("p."): s.partitions for s in specs}
    fewer = dict(declared, **{FOOTAGE_UPLOADED.full_name("p."): 1})
    assert partition_shortfalls(specs, "p.", declared) == []
    assert partition_shortfalls(specs, "p.", {}) == []
    assert partition_shortfalls(specs, "p.", fewer) == [
        (FOOTAGE_UPLOADED.full_name("p."), 1, FOOTAGE_UPLOADED.partitions)
    ]
    more = {FOOTAGE_UPLOADED.full_name("p."): FOOTAGE_UPLOADED.partitions + 2}
    assert partition_shortfalls(specs, "p.", more) == []


def test_creation_failures_tolerate_a_race_and_name_real_refusals() -> None:
    already, failed = creation_failures(
        [
            ("p.a", 0, None),
            ("p.b", 36, "Topic 'p.b' already exists."),
            ("p.c", 38, "Unable to replicate the partition 3 time(s): only 1 broker(s) are registered."),
        ]
    )
    assert already == {"p.b"}
    assert failed == [
        "p.c: InvalidReplicationFactorError "
        "Unable to replicate the partition 3 time(s): only 1 broker(s) are registered."
    ]
