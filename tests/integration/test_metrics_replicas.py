"""Two metrics replicas in one consumer group on one PostgreSQL projection, as processes on a real broker.

Each replica consumes part of the partitions and writes what it consumes; both must answer the same, complete
status for every footage and the same list, and their /metrics gauges must agree (the gauges' summary was cached
until the replica's own next write, so a replica that consumed none of the later events kept reporting the footage
as transcoded). One replica polls the platforms at a time (the lease row); SIGKILLed, the other takes over its
partitions and, once the lease expires, the polling, and later events still land.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg

from loa_core.auth import hash_token
from loa_core.channels import Channel, dump_channels
from loa_core.contracts import (
    FOOTAGE_UPLOADED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    Event,
    TopicSpec,
    group_id,
    new_id,
)
from loa_core.kafka import EventProducer
from loa_dev.kafka import KafkaBroker
from loa_dev.processes import stop_processes
from tests.support.metrics_events import published, renditions, uploaded
from tests.support.metrics_process import MetricsProcess
from tests.support.pipeline import group_assignment, partition_of, spread_ids
from tests.support.polling import wait_until
from tests.support.postgres import PostgresServer

FOOTAGE = 6  # one per partition
PARTITIONS = 6
TOKEN = "test-token-" + new_id()
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _footage(replica: MetricsProcess, footage_id: str) -> dict[str, object] | None:
    response = httpx.get(f"{replica.url}/footage/{footage_id}", headers=AUTH, timeout=10)
    return response.json() if response.status_code == 200 else None


def _listed(replica: MetricsProcess) -> list[dict[str, object]]:
    response = httpx.get(f"{replica.url}/footage", params={"limit": 100}, headers=AUTH, timeout=10)
    response.raise_for_status()
    return response.json()["items"]


def _gauges(replica: MetricsProcess) -> dict[str, float]:
    """loa_footage{status=...} from /metrics, by status, without the zeros."""
    text = httpx.get(f"{replica.url}/metrics", timeout=10).text
    prefix = 'loa_footage{status="'
    found = {
        line[len(prefix) :].split('"')[0]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }
    return {status: n for status, n in found.items() if n}


def _lease(database_url: str) -> tuple[int, str] | None:
    """The poller lease's holder's pid (its holder is host/pid/random) and its expiry; None before any took it."""
    with psycopg.connect(database_url) as db:
        try:
            row = db.execute("SELECT holder, expires_at FROM metrics.leases WHERE name = 'poller'").fetchone()
        except psycopg.errors.UndefinedTable:  # not migrated yet
            return None
    return (int(row[0].split("/")[1]), str(row[1])) if row else None


def _lease_holder(database_url: str) -> int | None:
    lease = _lease(database_url)
    return lease[0] if lease else None


def _send(bootstrap: str, prefix: str, events: list[tuple[TopicSpec, Event]]) -> None:
    async def send() -> None:
        producer = EventProducer(bootstrap, prefix)
        try:
            for spec, event in events:
                await producer.send(spec, event)
        finally:
            await producer.stop()

    asyncio.run(send())


def test_two_metrics_replicas_answer_the_same_and_one_takes_over_when_the_other_is_killed(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    bootstrap = kafka_broker.bootstrap
    channels = tmp_path / "channels.json"
    channels.write_text(dump_channels([Channel(name="local", platform="local", profiles=("tiktok", "youtube"))]))
    database = postgres_server.new_database()  # the projection both replicas share
    env = {
        "LOA_KAFKA_BOOTSTRAP": bootstrap,
        "LOA_TOPIC_PREFIX": topic_prefix,
        "LOA_CHANNELS_FILE": str(channels),
        "LOA_API_TOKEN_HASHES": hash_token(TOKEN),
        "LOA_DATABASE_URL": database,
        # A SIGKILLed replica's partitions move after 6 s without its heartbeat; the poller's round is 1 s, so its
        # lease (three rounds) expires 3 s after its last renewal.
        "LOA_BROKER_SESSION_TIMEOUT_S": "6",
        "LOA_STATS_ROUND_S": "1",
    }
    replicas = []
    for name in ("m1", "m2"):
        (tmp_path / name).mkdir()
        replicas.append(MetricsProcess(tmp_path / name, env))

    def logs() -> str:
        return "\n".join(f"--- {r.root.name}\n{r.log_tail()}" for r in replicas)

    group, posts_topic = group_id("metrics", topic_prefix), POSTS_PUBLISHED.full_name(topic_prefix)

    def owned_posts_partitions(members: int) -> dict[str, set[int]] | None:
        state, owned = group_assignment(bootstrap, group)
        if state != "Stable" or len(owned) != members or not all(owned.values()):
            return None
        return {member: {p for topic, p in parts if topic == posts_topic} for member, parts in owned.items()}

    try:
        for replica in replicas:
            replica.start()
        owners = wait_until(lambda: owned_posts_partitions(2), 120, "both replicas in the group", diagnose=logs)
        ids = spread_ids(FOOTAGE)
        _send(
            bootstrap,
            topic_prefix,
            [(FOOTAGE_UPLOADED, uploaded(f)) for f in ids] + [(RENDITIONS_READY, renditions(f)) for f in ids],
        )

        def statuses(wanted: str, among: list[MetricsProcess], footage: list[str]) -> bool:
            return all((_footage(r, f) or {}).get("status") == wanted for r in among for f in footage)

        wait_until(lambda: statuses("transcoded", replicas, ids), 60, "every footage transcoded on both", diagnose=logs)
        for replica in replicas:  # each replica summarises what it sees now
            assert _gauges(replica) == {"transcoded": FOOTAGE}, logs()

        # Posts only on the partitions one replica consumes: the other one writes nothing from here on.
        writer_partitions = next(parts for parts in owners.values() if parts)
        done = [f for f in ids if partition_of(f) in writer_partitions]
        assert done, owners
        _send(
            bootstrap,
            topic_prefix,
            [(POSTS_PUBLISHED, published(f, profile)) for f in done for profile in ("tiktok", "youtube")],
        )
        wait_until(lambda: statuses("published", replicas, done), 60, "the posted footage published on both")
        first, second = ([_footage(r, f) for f in ids] for r in replicas)
        assert first == second, "both replicas answer the same status"
        assert [v["status"] for v in first if v is not None] == [
            "published" if f in done else "transcoded" for f in ids
        ], "complete: every footage, with its posts"
        listed = [_listed(r) for r in replicas]
        assert listed[0] == listed[1], "both replicas list the same"
        assert sorted(str(item["footage_id"]) for item in listed[0]) == sorted(ids), "the list holds every footage"
        expected = {"published": len(done), "transcoded": FOOTAGE - len(done)}
        for replica in replicas:
            assert _gauges(replica) == expected, f"{replica.root.name}: {_gauges(replica)}"

        # One replica polls: the lease names its poller (a child process of each replica), and it keeps renewing it
        # (the other never takes it while it lives).
        pids = {r.poller_pid(): r for r in replicas}
        poller_pid = wait_until(
            lambda: _lease_holder(database), 30, "a replica holding the poller lease", diagnose=logs
        )
        assert poller_pid in pids, (poller_pid, list(pids))
        expiries: set[str] = set()

        def renewed_twice() -> bool:
            lease = _lease(database)
            assert lease is not None and lease[0] == poller_pid, f"the lease changed hands: {lease}"
            expiries.add(lease[1])
            return len(expiries) >= 3

        wait_until(renewed_twice, 30, "the poller renewing its lease", interval_s=0.2, diagnose=logs)

        # The poller SIGKILLed: the survivor takes over every partition and, once the lease expired, the polling.
        poller = pids.pop(poller_pid)
        [survivor] = pids.values()
        poller.kill()
        wait_until(lambda: owned_posts_partitions(1), 90, "the survivor alone in the group", diagnose=logs)
        [alone] = (owned_posts_partitions(1) or {"": set()}).values()
        assert alone == set(range(PARTITIONS)), alone
        wait_until(
            lambda: _lease_holder(database) == survivor.poller_pid(),
            30,
            "the survivor holding the poller lease",
            diagnose=logs,
        )

        # Later events, on every partition (the killed replica's included), land on the survivor.
        later = spread_ids(FOOTAGE)
        rest = [f for f in ids if f not in done]
        _send(
            bootstrap,
            topic_prefix,
            [(FOOTAGE_UPLOADED, uploaded(f)) for f in later]
            + [(POSTS_PUBLISHED, published(f, profile)) for f in rest for profile in ("tiktok", "youtube")],
        )
        wait_until(lambda: statuses("uploaded", [survivor], later), 60, "the later uploads", diagnose=logs)
        wait_until(lambda: statuses("published", [survivor], rest), 60, "the later posts", diagnose=logs)
        assert sorted(str(item["footage_id"]) for item in _listed(survivor)) == sorted(ids + later)
        assert _gauges(survivor) == {"published": FOOTAGE, "uploaded": FOOTAGE}
    finally:
        stop_processes([r.process for r in replicas])
