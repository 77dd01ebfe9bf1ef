"""Two archiver replicas as processes on one PostgreSQL database and one MinIO bucket, RTMP behind a round-robin TCP
balancer (as a Kubernetes LoadBalancer Service), one of them SIGKILLed mid-live.

Pushes: three publishes spread over the replicas; the replica recording two of them is killed. One publisher
reconnects through the balancer, lands on the survivor and continues the same archive (same stream key, the
segments the dead replica stored kept); one never comes back, and the survivor finalizes its archive; the publish on
the survivor goes on untouched. Pulls: a scheduled pull is claimed by exactly one replica; killed, the other takes
the lapsed claim over and resumes after the last stored segment. Every archive is announced once, no live twice (see
assert_announced_once for a live chunk repeated by the replica that took over).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loa_archiver.store import ArchiveStore
from loa_core.contracts import LiveChunk
from loa_dev.kafka import KafkaBroker
from tests.support.archiver import (
    SEGMENT_S,
    ArchiverProcess,
    Publisher,
    footage_events_now,
    http_server,
    start_hls_source,
    values_now,
)
from tests.support.minio import MinioServer
from tests.support.polling import wait_until
from tests.support.postgres import PostgresServer
from tests.support.round_robin import RoundRobinProxy, round_robin

CHUNK_S = 4.0  # two segments: several live chunks per live


@contextlib.contextmanager
def two_replicas(
    root: Path, broker: KafkaBroker, prefix: str, database_url: str, minio: MinioServer, **settings: str
) -> Iterator[tuple[ArchiverProcess, ArchiverProcess]]:
    storage = {k.removeprefix("LOA_").lower(): v for k, v in minio.service_env(f"arch-{uuid.uuid4().hex[:12]}").items()}
    shared = {
        "database_url": database_url,
        **storage,
        "highlight_first_s": "0",  # one footage per archive: what is counted below
        "live_chunk_s": f"{CHUNK_S:g}",
        **settings,
    }
    replicas = (
        ArchiverProcess(root / "a", broker.bootstrap, prefix, **shared),
        ArchiverProcess(root / "b", broker.bootstrap, prefix, **shared),
    )
    try:
        for replica in replicas:
            replica.launch()
        for replica in replicas:
            replica.wait_ready()
        yield replicas
    except BaseException:
        for replica in replicas:
            print(f"--- {replica.root.name}\n{replica.log_tail()}", file=sys.stderr)
        raise
    finally:
        for replica in replicas:
            replica.stop()


def by_port(proxy: RoundRobinProxy, replicas: tuple[ArchiverProcess, ArchiverProcess], n: int) -> ArchiverProcess:
    """The replica the balancer sent its n-th connection to."""
    return next(r for r in replicas if r.rtmp_port == proxy.served[n])


def assert_announced_once(broker: KafkaBroker, prefix: str, archives: list[dict[str, Any]]) -> None:
    """Each archive's footage announced once and nothing else; its live chunks numbered from 0, each one chunk.

    A live chunk may be announced again by the replica that took the live over, when the dead one was killed between
    the broker's answer and its count of what it sent (the kill here lands where a chunk closes): then it is the same
    chunk under the same event id, which transcode finds done. Never two different chunks under one index."""
    events = footage_events_now(broker.bootstrap, prefix)
    assert Counter(e.footage_id for e in events) == {a["footage_id"]: 1 for a in archives}, events
    chunks = [LiveChunk.from_bytes(v) for v in values_now(broker.bootstrap, f"{prefix}live.chunks")]
    for archive in archives:
        (event,) = [e for e in events if e.footage_id == archive["footage_id"]]
        mine = [c for c in chunks if c.archive_id == archive["archive_id"]]
        indices = sorted({c.index for c in mine})
        assert indices == list(range(len(indices))) and indices, (archive["archive_id"], indices)
        assert all(len({(c.event_id, c.start_s, c.segments) for c in mine if c.index == i}) == 1 for i in indices), mine
        assert event.live_chunks == len(indices)


def test_pushes_spread_over_two_replicas_survive_one_killed(
    tmp_path: Path,
    kafka_broker: KafkaBroker,
    topic_prefix: str,
    postgres_server: PostgresServer,
    minio_server: MinioServer,
) -> None:
    database_url = postgres_server.new_database()
    with two_replicas(tmp_path, kafka_broker, topic_prefix, database_url, minio_server) as replicas:
        a, b = replicas
        keys = [a.new_stream_key(title=f"Live {i}")["stream_key"] for i in range(3)]
        with round_robin([a.rtmp_port, b.rtmp_port]) as proxy:
            rtmp = f"rtmp://127.0.0.1:{proxy.port}/live"
            # One after the other, so connections 0 and 2 land on one replica, 1 on the other.
            publishers = []
            for i, (key, duration) in enumerate(zip(keys, (40, 40, 40), strict=True)):
                publishers.append(Publisher(f"{rtmp}/{key}", duration))
                wait_until(lambda n=i: len(proxy.served) > n, 30, f"publisher {i} connected")
            first, second, third = publishers

            def recording() -> list[dict[str, Any]] | None:
                found = b.archives()
                return found if len(found) == 3 and all(x["segments"] >= 2 for x in found) else None

            lives = wait_until(recording, 60, "three lives recording, two segments each")
            doomed, survivor = by_port(proxy, replicas, 0), by_port(proxy, replicas, 1)
            assert by_port(proxy, replicas, 2) is doomed
            # A stop asked through the replica that does not record the live reaches the one that does.
            (on_survivor,) = [x["archive_id"] for x in lives if x["title"] == "Live 1"]
            assert doomed.client.post(f"/archives/{on_survivor}/stop").status_code == 202
            second.wait()  # closed by the survivor
            doomed.kill()
            stored_before = {x["archive_id"]: x for x in survivor.archives()}
            assert first.wait() != 0 and third.wait() != 0  # cut off with their replica
            # The first publisher comes back (OBS reconnects by itself); the balancer skips the dead replica.
            again = Publisher(f"{rtmp}/{keys[0]}", 6)
            assert again.wait() == 0, again.stderr()
            assert proxy.served[3] == survivor.rtmp_port

        def all_announced() -> list[dict[str, Any]] | None:
            found = survivor.archives()
            return found if [x["state"] for x in found] == ["announced"] * 3 else None

        archives = wait_until(all_announced, 120, "the three archives announced", diagnose=survivor.log_tail)

    # One archive per stream key: the reconnect continued the first live, the dead replica's segments kept.
    store = ArchiveStore.open(database_url)
    try:
        by_key = Counter(x.owner_id for x in store.archives())
        assert sorted(by_key.values()) == [1, 1, 1], by_key
        first_archive = next(x for x in store.archives() if x.title == "Live 0")
        segments = store.segments(first_archive.archive_id)
        assert [s.n for s in segments] == list(range(1, len(segments) + 1))
        before = stored_before[first_archive.archive_id]
        assert len(segments) > before["segments"]
        recorded = sum(s.duration_s for s in segments)
        # What the dead replica had stored, plus the whole reconnect; at most what was sent (the dead replica loses
        # the segment it was writing).
        assert before["recorded_s"] + again.sent_s - SEGMENT_S <= recorded <= first.sent_s + again.sent_s + SEGMENT_S
        # The stopped live: what it had when the stop was asked and more, never more than was sent (what was still
        # in the balancer's and the sockets' buffers when the survivor closed the connection is not received).
        stopped = sum(s.duration_s for s in store.segments(on_survivor))
        (asked,) = [x["recorded_s"] for x in lives if x["archive_id"] == on_survivor]
        assert asked <= stopped <= second.sent_s + SEGMENT_S, (asked, stopped, second.sent_s)
    finally:
        store.close()
    assert_announced_once(kafka_broker, topic_prefix, archives)


def test_a_pull_runs_on_one_replica_and_the_other_resumes_it_when_it_is_killed(
    tmp_path: Path,
    kafka_broker: KafkaBroker,
    topic_prefix: str,
    postgres_server: PostgresServer,
    minio_server: MinioServer,
) -> None:
    hls = tmp_path / "hls"
    hls.mkdir()
    local = {"hls_allowed_hosts": "127.0.0.1", "hls_allowed_private": "127.0.0.1"}
    source: subprocess.Popen[bytes] | None = None
    database_url = postgres_server.new_database()
    try:
        with (
            http_server(hls) as port,
            two_replicas(tmp_path, kafka_broker, topic_prefix, database_url, minio_server, **local) as replicas,
        ):
            a, b = replicas
            source = start_hls_source(hls, 12)
            wait_until(lambda: (hls / "live.m3u8").exists(), 30, "the HLS playlist")
            response = b.client.post("/pulls", json={"url": f"http://127.0.0.1:{port}/live.m3u8", "channel": "local"})
            assert response.status_code == 201, response.text
            pull_id = response.json()["pull_id"]

            def recording() -> dict[str, Any] | None:
                found = a.archives()
                return found[0] if found and found[0]["segments"] >= 2 else None

            archive = wait_until(recording, 60, "two pulled segments")
            claimed = [r for r in replicas if f"pull {pull_id}: claimed" in r.log_tail(10_000)]
            assert len(claimed) == 1, "exactly one replica runs the pull"
            (holder,) = claimed
            survivor = b if holder is a else a
            holder.kill()
            assert source.wait(60) == 0
            wait_until(
                lambda: survivor.archives()[0]["state"] == "announced" or None,
                90,
                "the pull finished and announced by the other replica",
                diagnose=survivor.log_tail,
            )
            assert f"pull {pull_id}: claimed (running)" in survivor.log_tail(10_000)
            assert survivor.client.get(f"/pulls/{pull_id}").json()["state"] == "done"
            archives = survivor.archives()
    finally:
        if source is not None:
            source.kill()
            source.wait()
    assert [x["archive_id"] for x in archives] == [archive["archive_id"]]
    store = ArchiveStore.open(database_url)
    try:
        segments = store.segments(archive["archive_id"])
    finally:
        store.close()
    # Resumed after the last stored segment: the source's segments in order, none twice.
    seqs = [s.source_seq for s in segments]
    assert seqs[0] is not None and seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    assert len(segments) > archive["segments"]
    assert [s.n for s in segments] == list(range(1, len(segments) + 1))
    assert_announced_once(kafka_broker, topic_prefix, archives)
