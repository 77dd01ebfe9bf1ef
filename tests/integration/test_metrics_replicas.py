"""Two metrics replicas in one consumer group on one PostgreSQL projection, as processes on a real broker.

Each replica consumes part of the partitions and writes what it consumes; both must answer the same, complete
status for every footage, and their /metrics gauges must agree. The gauges' summary was cached until the replica's
own next write, so a replica that consumed none of the later events kept reporting the footage as transcoded.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx

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
from loa_dev.kafka import KafkaBroker, free_port
from loa_dev.processes import stop_processes, wait_healthy
from tests.support.metrics_events import published, renditions, uploaded
from tests.support.pipeline import group_assignment, partition_of, spread_ids
from tests.support.polling import wait_until
from tests.support.postgres import PostgresServer

FOOTAGE = 6  # one per partition
TOKEN = "test-token-" + new_id()


class MetricsReplica:
    """`python -m loa_metrics` with its own data folder and port, on the shared database."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "metrics.log"
        self.env = {**os.environ, **env, "LOA_HTTP_PORT": str(self.port), "LOA_DATA_DIR": str(root / "data")}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "loa_metrics"], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root
            )
        wait_healthy(self.process, f"{self.url}/healthz", name="metrics", log_tail=self.log_tail, timeout_s=120)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def footage(self, footage_id: str) -> dict[str, object] | None:
        response = httpx.get(
            f"{self.url}/footage/{footage_id}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

    def gauges(self) -> dict[str, float]:
        """loa_footage{status=...} from /metrics, by status."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        prefix = 'loa_footage{status="'
        return {
            line[len(prefix) :].split('"')[0]: float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith(prefix)
        }


def _send(bootstrap: str, prefix: str, events: list[tuple[TopicSpec, Event]]) -> None:
    async def send() -> None:
        producer = EventProducer(bootstrap, prefix)
        try:
            for spec, event in events:
                await producer.send(spec, event)
        finally:
            await producer.stop()

    asyncio.run(send())


def test_two_metrics_replicas_answer_the_same_status_and_gauges(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    bootstrap = kafka_broker.bootstrap
    channels = tmp_path / "channels.json"
    channels.write_text(dump_channels([Channel(name="local", platform="local", profiles=("tiktok", "youtube"))]))
    env = {
        "LOA_KAFKA_BOOTSTRAP": bootstrap,
        "LOA_TOPIC_PREFIX": topic_prefix,
        "LOA_CHANNELS_FILE": str(channels),
        "LOA_API_TOKEN_HASHES": hash_token(TOKEN),
        "LOA_DATABASE_URL": postgres_server.new_database(),  # the projection both replicas share
    }
    replicas = [MetricsReplica(tmp_path / name, env) for name in ("m1", "m2")]

    def logs() -> str:
        return "\n".join(f"--- {r.root.name}\n{r.log_tail()}" for r in replicas)

    try:
        for replica in replicas:
            replica.start()
        group, posts_topic = group_id("metrics", topic_prefix), POSTS_PUBLISHED.full_name(topic_prefix)

        def stable() -> dict[str, set[int]] | None:
            state, owned = group_assignment(bootstrap, group)
            if state != "Stable" or len(owned) != 2 or not all(owned.values()):
                return None
            return {member: {p for topic, p in parts if topic == posts_topic} for member, parts in owned.items()}

        owners = wait_until(stable, 120, "both replicas in the group", interval_s=0.5, diagnose=logs)
        ids = spread_ids(FOOTAGE)
        _send(
            bootstrap,
            topic_prefix,
            [(FOOTAGE_UPLOADED, uploaded(f)) for f in ids] + [(RENDITIONS_READY, renditions(f)) for f in ids],
        )

        def statuses(wanted: str) -> bool:
            return all((r.footage(f) or {}).get("status") == wanted for r in replicas for f in ids)

        wait_until(lambda: statuses("transcoded"), 60, "every footage transcoded on both", diagnose=logs)
        for replica in replicas:  # each replica summarises what it sees now
            assert replica.gauges()["transcoded"] == FOOTAGE, logs()

        # Posts only on the partitions one replica consumes: the other one writes nothing from here on.
        writer_partitions = next(parts for parts in owners.values() if parts)
        done = [f for f in ids if partition_of(f) in writer_partitions]
        assert done, owners
        _send(
            bootstrap,
            topic_prefix,
            [(POSTS_PUBLISHED, published(f, profile)) for f in done for profile in ("tiktok", "youtube")],
        )

        wait_until(
            lambda: all((r.footage(f) or {}).get("status") == "published" for r in replicas for f in done),
            60,
            "the posted footage published on both",
            diagnose=logs,
        )
        first, second = ([r.footage(f) for f in ids] for r in replicas)
        assert first == second, "both replicas answer the same status"
        assert [v["status"] for v in first if v is not None] == [
            "published" if f in done else "transcoded" for f in ids
        ], "complete: every footage, with its posts"

        expected = {"published": len(done), "transcoded": FOOTAGE - len(done)}
        for replica in replicas:
            gauges = replica.gauges()
            assert {s: n for s, n in gauges.items() if n} == expected, f"{replica.root.name}: {gauges}"
    finally:
        stop_processes([r.process for r in replicas])
