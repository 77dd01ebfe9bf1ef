"""Two ingest replicas behind a round-robin proxy, as processes sharing one PostgreSQL database and one MinIO bucket
with the shared tus spool (LOA_TUS_SPOOL=shared): an upload started on one resumes on the other after the first is
SIGKILLed, the same file sent through both at once is one footage, a final PATCH retried on another replica while the
first still finishes the upload is answered with that one outcome, and a rate limit holds across them."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client
from tusclient.uploader import Uploader

from loa_core.auth import hash_token, new_token
from loa_core.contracts import FOOTAGE_UPLOADED, FootageUploaded, layout
from loa_core.hashing import sha256_file
from loa_core.secrets import ensure_key_file
from loa_core.storage import S3Storage
from loa_dev.kafka import KafkaBroker
from tests.support.ingest import IngestProcess, read_topic, run_ingest, tus_metadata
from tests.support.media import make_clip
from tests.support.minio import MinioServer
from tests.support.polling import wait_until
from tests.support.postgres import PostgresServer
from tests.support.round_robin import RoundRobinProxy, round_robin

BURST = 100  # requests each token may make (the refill is negligible): the uploads here need far fewer
CHUNK = 512 * 1024


class Sha256Uploader(Uploader):  # type: ignore[misc]
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


@dataclass
class Replicas:
    a: IngestProcess
    b: IngestProcess
    proxy: RoundRobinProxy
    token: str  # for the uploads
    limited: str  # only for the rate limit's test
    storage: S3Storage
    bootstrap: str
    prefix: str
    env: dict[str, str]  # what both replicas were started with: a third one joins them with it

    def uploader(self, path: Path, title: str) -> Sha256Uploader:
        client = tus_client.TusClient(f"{self.proxy.url}/files/", headers={"Authorization": f"Bearer {self.token}"})
        return Sha256Uploader(
            file_path=str(path),
            client=client,
            chunk_size=CHUNK,
            metadata={"title": title},
            upload_checksum=True,
            retries=10,
            retry_delay=0.5,
        )

    def events(self) -> list[FootageUploaded]:
        topic = FOOTAGE_UPLOADED.full_name(self.prefix)
        return [FootageUploaded.from_bytes(v) for v in read_topic(self.bootstrap, topic)]

    def logs(self) -> str:
        return f"--- a ---\n{self.a.log()[-3000:]}\n--- b ---\n{self.b.log()[-3000:]}"


def _port(ingest: IngestProcess) -> int:
    return int(ingest.url.rsplit(":", 1)[1])


@contextmanager
def two_replicas(root: Path, kafka: KafkaBroker, postgres: PostgresServer, minio: MinioServer) -> Iterator[Replicas]:
    token, limited = new_token(), new_token()
    bucket, prefix = f"replicas-{uuid.uuid4().hex[:12]}", f"r{uuid.uuid4().hex[:10]}."
    env = {
        "LOA_DATABASE_URL": postgres.new_database(),
        "LOA_TUS_SPOOL": "shared",
        **minio.service_env(bucket),
        "LOA_TOPIC_PREFIX": prefix,
        "LOA_API_TOKEN_HASHES": f"{hash_token(token)},{hash_token(limited)}",
        "LOA_SECRET_KEY_FILE": str(ensure_key_file(root / "secret-key")),
        "LOA_RATE_LIMIT_PER_S": "0.001",
        "LOA_RATE_LIMIT_BURST": str(BURST),
    }
    with (
        run_ingest(root / "a", kafka.bootstrap, env) as a,
        run_ingest(root / "b", kafka.bootstrap, env) as b,
        round_robin([_port(a), _port(b)]) as proxy,
    ):
        storage = S3Storage(bucket, minio.endpoint_url, minio.access_key, minio.secret_key, create_bucket=False)
        yield Replicas(a, b, proxy, token, limited, storage, kafka.bootstrap, prefix, env)


@pytest.fixture(scope="module")
def replicas(
    kafka_broker: KafkaBroker,
    postgres_server: PostgresServer,
    minio_server: MinioServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Replicas]:
    with two_replicas(tmp_path_factory.mktemp("replicas"), kafka_broker, postgres_server, minio_server) as pair:
        yield pair


@dataclass
class Paused:
    """A replica beside `replicas`' two, which stops dead each time it reaches `point`."""

    ingest: IngestProcess
    point: str

    def wait(self) -> None:
        marker = self.ingest.root / "paused"
        wait_until(lambda: marker.exists() or None, 60, f"the replica stops at {self.point}", diagnose=self.ingest.log)

    def resume(self) -> None:
        go, marker = self.ingest.root / "paused.resume", self.ingest.root / "paused"
        go.touch()
        wait_until(lambda: not marker.exists() or None, 30, "the paused replica goes on", diagnose=self.ingest.log)
        go.unlink()


@contextmanager
def paused_replica(replicas: Replicas, root: Path, point: str) -> Iterator[Paused]:
    with run_ingest(root, replicas.bootstrap, replicas.env, pause_at=f"loa_ingest.catalog:{point}") as ingest:
        yield Paused(ingest, point)


@pytest.fixture(scope="module")
def paused(replicas: Replicas, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paused]:
    """Replica c, stopped at Catalog.reserve: it has checked a file that is all in (and claimed its upload's finish)
    and is about to record it as footage."""
    with paused_replica(replicas, tmp_path_factory.mktemp("paused"), "Catalog.reserve") as c:
        yield c


def _noise_clip(path: Path, seconds: int) -> Path:
    """Noise does not compress: a few seconds are several MB, so many tus chunks."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "nullsrc=s=320x240:r=25,geq=random(1)*255:128:128",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_an_upload_resumes_on_the_other_replica_after_one_is_killed(
    kafka_broker: KafkaBroker, postgres_server: PostgresServer, minio_server: MinioServer, tmp_path: Path
) -> None:
    clip = _noise_clip(tmp_path / "noise.mp4", 2)
    size = clip.stat().st_size
    assert size > 6 * CHUNK
    with two_replicas(tmp_path / "pair", kafka_broker, postgres_server, minio_server) as pair:
        uploader = pair.uploader(clip, "Hai máy chủ")
        uploader.upload(stop_at=size // 3)
        upload_id = uploader.url.rsplit("/", 1)[1]
        assert {_port(pair.a), _port(pair.b)} <= set(pair.proxy.served), "both replicas took part"
        # What the replicas committed so far is in the bucket, not on either replica's disk.
        assert pair.storage.list(layout.tus_prefix(upload_id))
        assert not list((pair.a.spool_dir / "tus-scratch").iterdir())

        # The rest is sent while replica a is SIGKILLed, probably in the middle of a PATCH.
        sender = threading.Thread(target=uploader.upload)
        sender.start()
        wait_until(lambda: uploader.offset >= 2 * size // 3 or None, 60, "two thirds sent", diagnose=pair.logs)
        pair.a.process.kill()
        pair.a.process.wait()
        sender.join(120)
        assert not sender.is_alive()

        footage_id = uploader.request.response_headers["loa-footage-id"]
        (event,) = [e for e in pair.events() if e.footage_id == footage_id]
        pair.storage.download(event.media.key, tmp_path / "back.mp4")
        assert sha256_file(tmp_path / "back.mp4") == sha256_file(clip) == event.media.sha256
        assert event.media.size_bytes == size
        # Every part is gone once the upload is accepted; nothing else but the footage is in the bucket.
        assert pair.storage.list(layout.TUS.prefix) == []
        assert [k for k in pair.storage.list() if not k.startswith(layout.RAW.prefix)] == []
        # The upload's status answers the same from the surviving replica.
        answer = httpx.get(f"{pair.proxy.url}/files/{upload_id}", headers={"Authorization": f"Bearer {pair.token}"})
        assert answer.json()["state"] == "accepted" and answer.json()["footage_id"] == footage_id


def test_the_same_file_through_both_replicas_at_once_is_one_footage(replicas: Replicas, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "same.mp4", width=320, height=240, duration_s=2.0)
    uploaders = [replicas.uploader(clip, "Cùng một tệp") for _ in range(2)]
    threads = [threading.Thread(target=u.upload) for u in uploaders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    ids = {u.request.response_headers["loa-footage-id"] for u in uploaders}
    assert len(ids) == 1
    # Announced as that one footage only (the same event may be sent by both if they raced to announce it).
    assert {e.footage_id for e in replicas.events() if e.media.sha256 == sha256_file(clip)} == ids


def test_a_rate_limit_holds_across_replicas(replicas: Replicas) -> None:
    headers = {"Authorization": f"Bearer {replicas.limited}"}
    before = len(replicas.proxy.served)
    # A new connection per request: the proxy sends them to each replica in turn.
    with httpx.Client(
        base_url=replicas.proxy.url, headers=headers, limits=httpx.Limits(max_keepalive_connections=0)
    ) as c:
        answers = [c.get("/whoami").status_code for _ in range(BURST + 1)]
    served = replicas.proxy.served[before:]
    assert served.count(_port(replicas.a)) >= BURST // 2 and served.count(_port(replicas.b)) >= BURST // 2
    assert answers == [200] * BURST + [429]


def _create(replicas: Replicas, length: int, title: str = "Từng phần") -> str:
    headers = {
        "Authorization": f"Bearer {replicas.token}",
        "Tus-Resumable": "1.0.0",
        "Upload-Length": str(length),
        "Upload-Metadata": tus_metadata(title=title),
    }
    answer = httpx.post(f"{replicas.proxy.url}/files/", headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.headers["location"].rsplit("/", 1)[1]


def _patch(replicas: Replicas, upload_id: str, offset: int, body: bytes, via: str | None = None) -> httpx.Response:
    """PATCH through the proxy, or `via` one replica's URL."""
    headers = {
        "Authorization": f"Bearer {replicas.token}",
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
    }
    url = f"{via or replicas.proxy.url}/files/{upload_id}"
    return httpx.patch(url, headers=headers, content=body, timeout=60)


def test_two_patches_of_one_range_through_both_replicas_commit_once(replicas: Replicas) -> None:
    upload_id = _create(replicas, 4 * CHUNK)
    body = bytes(range(256)) * (CHUNK // 256)
    answers: list[int] = []

    def send() -> None:
        answers.append(_patch(replicas, upload_id, 0, body).status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]  # the same request twice, at the same time
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answers) == [204, 409]
    (part,) = replicas.storage.list(layout.tus_prefix(upload_id))  # the loser's part is gone
    assert replicas.storage.size(part) == CHUNK
    status = httpx.get(f"{replicas.proxy.url}/files/{upload_id}", headers={"Authorization": f"Bearer {replicas.token}"})
    assert status.json()["offset"] == CHUNK


def test_a_terminated_upload_leaves_no_part(replicas: Replicas) -> None:
    upload_id = _create(replicas, 4 * CHUNK)
    assert _patch(replicas, upload_id, 0, b"x" * CHUNK).status_code == 204
    assert _patch(replicas, upload_id, CHUNK, b"y" * CHUNK).status_code == 204
    assert len(replicas.storage.list(layout.tus_prefix(upload_id))) == 2
    headers = {"Authorization": f"Bearer {replicas.token}", "Tus-Resumable": "1.0.0"}
    assert httpx.delete(f"{replicas.proxy.url}/files/{upload_id}", headers=headers).status_code == 204
    assert replicas.storage.list(layout.tus_prefix(upload_id)) == []
    assert httpx.head(f"{replicas.proxy.url}/files/{upload_id}", headers=headers).status_code in (404, 410)


def _send(
    replicas: Replicas, upload_id: str, offset: int, body: bytes, via: str
) -> tuple[threading.Thread, list[httpx.Response]]:
    """PATCH in a thread (its replica may stop dead meanwhile); the answer lands in the list."""
    answer: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answer.append(_patch(replicas, upload_id, offset, body, via)))
    thread.start()
    return thread, answer


def test_a_final_patch_retried_on_another_replica_while_the_first_finishes_gets_its_one_outcome(
    replicas: Replicas, paused: Paused, tmp_path: Path
) -> None:
    """The client's final PATCH reached replica c, which stops dead while finishing the upload (as a slow check
    would hold it); the client gives up waiting and sends the final PATCH again (empty, at the final offset), which
    reaches replica a. a must not finish the upload a second time: it waits for c's outcome and answers the same."""
    clip = make_clip(tmp_path / "retried.mp4", width=352, height=288, duration_s=2.0)
    data = clip.read_bytes()
    upload_id = _create(replicas, len(data), title="Gửi lại")
    assert _patch(replicas, upload_id, 0, data[:-1000]).status_code == 204
    first, first_answer = _send(replicas, upload_id, len(data) - 1000, data[-1000:], paused.ingest.url)
    paused.wait()
    retried, retried_answer = _send(replicas, upload_id, len(data), b"", replicas.a.url)
    wait_until(
        lambda: retried_answer or "another request is finishing it" in replicas.a.log() or None,
        30,
        "replica a answers the retry or waits for c",
        diagnose=replicas.logs,
    )
    paused.resume()
    first.join(60)
    retried.join(60)

    (one,), (other,) = first_answer, retried_answer
    assert (one.status_code, other.status_code) == (204, 204), (one.text, other.text)
    footage_id = one.headers["loa-footage-id"]
    assert other.headers["loa-footage-id"] == footage_id
    # Neither answer takes this upload for a copy of another: it was checked and recorded once, by c.
    assert one.headers["loa-duplicate"] == other.headers["loa-duplicate"] == "false"
    assert [e.footage_id for e in replicas.events() if e.media.sha256 == sha256_file(clip)] == [footage_id]
    status = httpx.get(f"{replicas.proxy.url}/files/{upload_id}", headers={"Authorization": f"Bearer {replicas.token}"})
    assert (status.json()["state"], status.json()["duplicate"]) == ("accepted", False)
    assert replicas.storage.list(layout.tus_prefix(upload_id)) == []


def test_the_same_file_recorded_on_two_replicas_at_once_is_one_footage(
    replicas: Replicas, paused: Paused, tmp_path: Path
) -> None:
    """Two uploads of one file: replica c has checked the first and found no footage for it, and stops just before
    recording it; meanwhile replica a takes the second through to an announced footage. When c goes on, the shared
    catalog tells it the file is that footage already: one footage, announced once, the later answer a duplicate."""
    clip = make_clip(tmp_path / "twice.mp4", width=384, height=216, duration_s=2.0)
    data = clip.read_bytes()
    first, second = _create(replicas, len(data), title="Hai lần"), _create(replicas, len(data), title="Hai lần")
    on_c, c_answer = _send(replicas, first, 0, data, paused.ingest.url)
    paused.wait()
    on_a = _patch(replicas, second, 0, data, replicas.a.url)
    assert on_a.status_code == 204, on_a.text
    paused.resume()
    on_c.join(60)

    (on_c_answer,) = c_answer
    assert on_c_answer.status_code == 204, on_c_answer.text
    footage_id = on_a.headers["loa-footage-id"]
    assert on_c_answer.headers["loa-footage-id"] == footage_id
    assert (on_a.headers["loa-duplicate"], on_c_answer.headers["loa-duplicate"]) == ("false", "true")
    assert [e.footage_id for e in replicas.events() if e.media.sha256 == sha256_file(clip)] == [footage_id]


def test_a_second_upload_of_a_file_being_announced_waits_for_that_announcement(
    replicas: Replicas, tmp_path: Path
) -> None:
    """Two uploads of one file: replica d has recorded, stored and sent the first's footage, and stops dead before
    marking it announced; the second reaches replica a meanwhile. a neither stores nor announces the footage again
    (nor could it delete d's source after a failed send of its own): it waits for d's outcome and answers a
    duplicate of that footage. (Before, a announced it a second time and both answers said it was no duplicate.)"""
    clip = make_clip(tmp_path / "announcing.mp4", width=416, height=240, duration_s=2.0)
    data = clip.read_bytes()
    first, second = _create(replicas, len(data), title="Đang báo"), _create(replicas, len(data), title="Đang báo")
    with paused_replica(replicas, tmp_path / "d", "Catalog.mark_announced") as d:
        on_d, d_answer = _send(replicas, first, 0, data, d.ingest.url)
        d.wait()
        on_a, a_answer = _send(replicas, second, 0, data, replicas.a.url)
        wait_until(
            lambda: a_answer or "another request is announcing it" in replicas.a.log() or None,
            30,
            "replica a answers or waits for d's announcement",
            diagnose=replicas.logs,
        )
        d.resume()
        on_d.join(60)
        on_a.join(60)

    (from_d,), (from_a,) = d_answer, a_answer
    assert (from_d.status_code, from_a.status_code) == (204, 204), (from_d.text, from_a.text)
    footage_id = from_d.headers["loa-footage-id"]
    assert from_a.headers["loa-footage-id"] == footage_id
    assert (from_d.headers["loa-duplicate"], from_a.headers["loa-duplicate"]) == ("false", "true")
    assert [e.footage_id for e in replicas.events() if e.media.sha256 == sha256_file(clip)] == [footage_id]
    assert replicas.storage.exists(layout.source_key(footage_id))
