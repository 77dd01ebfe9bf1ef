"""Kafka plumbing shared by every service: topic creation, an idempotent producer, dead letters."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError, for_code

from loa_core.contracts import ALL_TOPICS, DEAD_LETTER, DeadLetter, Event, TopicSpec, check_produces, group_id
from loa_core.contracts.base import WARD_PATTERN
from loa_core.metrics import DEAD_LETTERS_SENT

log = logging.getLogger(__name__)


# CreateTopics with replication factor -1 means "the broker's default.replication.factor" (KIP-464): 1 on the embedded
# single node, what the Strimzi overlay sets in a city. A hard-coded 1 would leave a topic a service created before the
# topic operator with one replica, which min.insync.replicas=2 then refuses every acks=all write to. KIP-464 documents
# -1 from CreateTopics v4 (Kafka 2.4); aiokafka 0.14 sends v3 at most, and Kafka 4.x applies the default there too
# (tests/integration/test_kafka_topics.py checks it against the real broker).
BROKER_DEFAULT_REPLICATION = -1


def new_topics(specs: tuple[TopicSpec, ...], prefix: str) -> list[NewTopic]:
    """CreateTopics entries for the declared topics: the contract's partitions and retention, the broker's replicas."""
    return [
        NewTopic(
            s.full_name(prefix),
            num_partitions=s.partitions,
            replication_factor=BROKER_DEFAULT_REPLICATION,
            # aiokafka's NewTopic wants either a replication factor or an assignment and treats -1 as "assignment
            # given"; an empty one sends no assignment, so the broker places the replicas.
            replica_assignments={},
            topic_configs=(
                {"cleanup.policy": "compact", "retention.ms": "-1"}
                if s.compacted
                else {"retention.ms": str(s.retention_ms)}
            ),
        )
        for s in specs
    ]


def partition_shortfalls(
    specs: tuple[TopicSpec, ...], prefix: str, partitions: dict[str, int]
) -> list[tuple[str, int, int]]:
    """(topic, partitions it has, partitions the contract declares) for each existing topic that has fewer."""
    return [
        (s.full_name(prefix), partitions[s.full_name(prefix)], s.partitions)
        for s in specs
        if s.full_name(prefix) in partitions and partitions[s.full_name(prefix)] < s.partitions
    ]


def creation_failures(topic_errors: list[tuple[str, int, str | None]]) -> tuple[set[str], list[str]]:
    """Split a CreateTopics response's (topic, error code, message) entries: the topics that already existed (another
    service created them between our list and our create, which is fine) and a line for each real failure."""
    already: set[str] = set()
    failed: list[str] = []
    for topic, code, message in topic_errors:
        if code == TopicAlreadyExistsError.errno:
            already.add(topic)
        elif code != 0:
            failed.append(f"{topic}: {for_code(code).__name__} {message or ''}".rstrip())
    return already, failed


async def ensure_topics(
    bootstrap: str, prefix: str = "", specs: tuple[TopicSpec, ...] = ALL_TOPICS, timeout_s: float = 60.0
) -> list[str]:
    """Create the declared topics that do not exist yet and return their names; waits for a broker still starting.

    An existing topic is never altered: one with fewer partitions than its contract declares is logged, since adding
    partitions moves keys to other partitions and so is the operator's decision."""
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [s for s in specs if s.full_name(prefix) not in existing]
            created: list[str] = []
            if missing:
                # aiokafka returns the broker's per-topic errors instead of raising them.
                response = await admin.create_topics(new_topics(tuple(missing), prefix))
                entries = [(e[0], e[1], e[2] if len(e) > 2 else None) for e in response.topic_errors]
                already, failed = creation_failures(entries)
                if failed:
                    reasons = "; ".join(failed)
                    raise RuntimeError(
                        f"Kafka at {bootstrap} refused to create topics / Kafka không tạo được topic: {reasons}"
                    )
                existing |= already
                created = [s.full_name(prefix) for s in missing if s.full_name(prefix) not in already]
            present = [s.full_name(prefix) for s in specs if s.full_name(prefix) in existing]
            if present:
                described = await admin.describe_topics(present)
                # A topic created a moment ago may not be in this broker's metadata yet: no partitions, no verdict.
                counts = {
                    t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0 and t["partitions"]
                }
                for topic, has, declared in partition_shortfalls(specs, prefix, counts):
                    log.warning(
                        "topic %s has %d partitions but its contract declares %d: left as it is, so at most %d "
                        "consumers of a group share it; add partitions with kafka-topics --alter if that is intended",
                        topic,
                        has,
                        declared,
                        has,
                    )
            return created
        except (KafkaConnectionError, OSError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka at {bootstrap} is not reachable: {exc}") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


def record_key(spec: TopicSpec, event: Event) -> bytes | None:
    value = getattr(event, spec.key, None)
    return None if value is None else str(value).encode("utf-8")


class EventProducer:
    """aiokafka producer with idempotence and acks=all: a send that returns is durably on the broker.

    Faust's own producer is not idempotent, so the Faust services send their output events through this too.
    A service's producer is made with its name and sends only on the topics whose TopicSpec names it as a
    producer (UndeclaredTopic otherwise); one made without (a tool, a test standing in for a service) sends on any.
    """

    def __init__(self, bootstrap: str, prefix: str = "", *, service: str | None = None) -> None:
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._service = service
        self._client_id = group_id(service) if service else "loa"
        self._producer: AIOKafkaProducer | None = None
        self._lock: asyncio.Lock | None = None

    async def start(self) -> None:
        # aiokafka binds to the running loop, so the client is made here, on first use; a Faust agent
        # can then send without a separate start-up hook.
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    client_id=self._client_id,
                    enable_idempotence=True,
                    acks="all",
                )
                await producer.start()
                self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def send(self, spec: TopicSpec, event: Event) -> None:
        if not isinstance(event, spec.event):
            raise TypeError(f"{type(event).__name__} does not belong on {spec.name}")
        if self._service is not None:
            check_produces(self._service, spec)
        await self.start()
        assert self._producer is not None
        await self._producer.send_and_wait(spec.full_name(self._prefix), event.to_bytes(), key=record_key(spec, event))


def dead_letter_for(
    raw: bytes | None,
    *,
    service: str,
    topic: str,
    error: BaseException,
    partition: int | None = None,
    offset: int | None = None,
    footage_id: str | None = None,
    ward: str | None = None,
) -> DeadLetter:
    """Wrap a record that cannot be processed, keeping its bytes intact whatever they are. `ward`: the record's, if
    known; else read from the record's own `ward` field when it is JSON that names one (a record too new or
    malformed to decode still says whose it is), so the dead letter is shown to that ward's people."""
    raw = raw or b""
    try:
        original, encoding = raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        original, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return DeadLetter(
        origin_service=service,
        origin_topic=topic,
        origin_partition=partition,
        origin_offset=offset,
        reason=f"{type(error).__name__}: {error}"[:4000],
        error_type=type(error).__name__,
        footage_id=footage_id,
        ward=ward or _ward_of(raw),
        original_value=original,
        original_encoding=encoding,  # type: ignore[arg-type]
    )


_WARD = re.compile(WARD_PATTERN)


def _ward_of(raw: bytes) -> str | None:
    """The `ward` a JSON record names, if it is one; None for anything else."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    ward = data.get("ward") if isinstance(data, dict) else None
    return ward if isinstance(ward, str) and _WARD.fullmatch(ward) else None


async def send_dead_letter(producer: EventProducer, letter: DeadLetter) -> None:
    log.warning(
        "dead-lettered a record from %s[%s]@%s: %s",
        letter.origin_topic,
        letter.origin_partition,
        letter.origin_offset,
        letter.reason,
    )
    await producer.send(DEAD_LETTER, letter)
    DEAD_LETTERS_SENT.labels(letter.origin_service, letter.error_type).inc()
