"""tus 1.0 against the real ingest process, with the real tuspy client, real Kafka and real ffprobe."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.uploader import Uploader

from loa_core.contracts import layout
from loa_core.hashing import sha256_file
from loa_core.storage import S3Storage
from loa_dev.kafka import KafkaBroker
from tests.support.ingest import CuttingProxy, IngestProcess, run_ingest, tus_metadata
from tests.support.media import make_clip
from tests.support.minio import MinioServer

TUS = {"Tus-Resumable": "1.0.0"}


class Sha256Uploader(Uploader):  # type: ignore[misc]
    """tuspy sends sha1 checksums by default; Loa's clients send sha256 (both are accepted)."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


@pytest.fixture(scope="module")
def ingest(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    with run_ingest(tmp_path_factory.mktemp("ingest"), kafka_broker.bootstrap) as process:
        yield process


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Noise does not compress, so a few seconds make a file of several MB: enough to cut a connection mid-body.
    path = tmp_path_factory.mktemp("clips") / "noise.mp4"

    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "nullsrc=s=320x240:r=25,geq=random(1)*255:128:128",
         "-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    assert path.stat().st_size > 9 * 1024 * 1024, "more than one 8 MiB multipart part"
    return path


def _client(ingest: IngestProcess, url: str | None = None) -> tus_client.TusClient:
    return tus_client.TusClient(url or f"{ingest.url}/files/", headers=ingest.headers())


def _event_for(ingest: IngestProcess, footage_id: str) -> list[object]:
    return [e for e in ingest.uploaded_events() if e.footage_id == footage_id]


def test_options_advertises_the_extensions(ingest: IngestProcess) -> None:
    response = httpx.options(f"{ingest.url}/files/")
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    extensions = set(response.headers["Tus-Extension"].split(","))
    assert {"creation", "creation-with-upload", "termination", "expiration", "checksum"} <= extensions
    assert "sha256" in response.headers["Tus-Checksum-Algorithm"].split(",")


def test_tuspy_upload_is_validated_stored_and_announced(ingest: IngestProcess, clip: Path) -> None:
    # Typed on a keyboard that decomposes diacritics: must arrive NFC.
    title = unicodedata.normalize("NFD", "Lễ khai giảng năm học mới")
    uploader = Sha256Uploader(
        file_path=str(clip),
        client=_client(ingest),
        chunk_size=64 * 1024,
        metadata={"title": title, "filename": "khai-giang.mp4", "tags": "giáo dục, phường"},
        upload_checksum=True,
    )
    uploader.upload()
    footage_id = uploader.request.response_headers["loa-footage-id"]
    status = httpx.get(uploader.url, headers=ingest.headers()).json()
    assert status["state"] == "accepted" and status["footage_id"] == footage_id

    events = _event_for(ingest, footage_id)
    assert len(events) == 1
    event = events[0]
    assert event.metadata.title == "Lễ khai giảng năm học mới"
    assert unicodedata.is_normalized("NFC", event.metadata.title)
    assert event.metadata.tags == ("giáo dục", "phường")
    assert event.media.sha256 == sha256_file(clip)
    assert event.media.size_bytes == clip.stat().st_size
    stored = ingest.storage_root / event.media.key
    assert sha256_file(stored) == sha256_file(clip)
    # The spool is gone once the upload is accepted.
    assert not list((ingest.spool_dir / "tus").glob(f"{uploader.url.rsplit('/', 1)[1]}*"))


def test_dropped_connection_resumes_from_server_offset(ingest: IngestProcess, big_clip: Path) -> None:
    size = big_clip.stat().st_size
    port = int(ingest.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, cut_after=size // 2)
    try:
        through_proxy = f"http://127.0.0.1:{proxy.port}/files/"
        first = Sha256Uploader(
            file_path=str(big_clip),
            client=_client(ingest, through_proxy),
            upload_checksum=False,
            metadata={"title": "x"},
        )
        with pytest.raises((TusUploadFailed, TusCommunicationError)):
            first.upload()  # one PATCH with the whole file; the link drops halfway
        assert proxy.cut_done.is_set()
        upload_url = first.url
        assert upload_url is not None

        # Run again, the way a person would: a new client that only knows the upload URL asks the server.
        second = Sha256Uploader(file_path=str(big_clip), client=_client(ingest), url=upload_url, chunk_size=1 << 20)
        assert 0 < second.offset < size, "the server kept the bytes that arrived before the drop"
        resumed_from = second.offset
        second.upload()
    finally:
        proxy.close()
    footage_id = second.request.response_headers["loa-footage-id"]
    assert resumed_from > 0
    (event,) = _event_for(ingest, footage_id)
    assert event.media.sha256 == sha256_file(big_clip)
    assert sha256_file(ingest.storage_root / event.media.key) == sha256_file(big_clip)


def test_same_file_twice_is_the_same_footage(ingest: IngestProcess, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "twice.mp4", width=320, height=180, duration_s=1.0)
    ids = []
    for _ in range(2):
        uploader = Sha256Uploader(file_path=str(clip), client=_client(ingest), metadata={"title": "Hai lần"})
        uploader.upload()
        ids.append(
            (uploader.request.response_headers["loa-footage-id"], uploader.request.response_headers["loa-duplicate"])
        )
    assert ids[0][0] == ids[1][0]
    assert [d for _, d in ids] == ["false", "true"]
    assert len(_event_for(ingest, ids[0][0])) == 1


def test_same_file_with_other_details_is_refused_and_names_the_footage(ingest: IngestProcess, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "chao-co.mp4", width=256, height=144, duration_s=1.0)
    first = Sha256Uploader(file_path=str(clip), client=_client(ingest), metadata={"title": "Lễ chào cờ"})
    first.upload()
    footage_id = first.request.response_headers["loa-footage-id"]

    publish_at = (datetime.now(UTC) + timedelta(days=2)).isoformat(timespec="seconds")
    second = Sha256Uploader(
        file_path=str(clip), client=_client(ingest), metadata={"title": "Lễ chào cờ", "publish_at": publish_at}
    )
    with pytest.raises(TusUploadFailed) as refused:
        second.upload()
    # 422 like any refused file: tus clients retry a 409 from the start.
    assert refused.value.status_code == 422
    detail = json.loads(refused.value.response_content)["detail"]
    assert f"already uploaded: it is footage {footage_id}" in detail and "not applied: publish time" in detail
    assert "Tệp này đã được tải lên" in detail
    assert second.request.response_headers["loa-footage-id"] == footage_id
    status = httpx.get(second.url, headers=ingest.headers()).json()
    assert (status["state"], status["footage_id"], status["reason"]) == ("rejected", footage_id, detail)
    (event,) = _event_for(ingest, footage_id)
    assert event.metadata.publish_at == {}, "the footage keeps its details"

    # The one-request form answers 409 Conflict with the same words.
    with clip.open("rb") as f:
        form = httpx.post(
            f"{ingest.url}/footage",
            headers=ingest.headers(),
            data={"title": "Chào cờ tháng 12"},
            files={"file": ("chao-co.mp4", f, "video/mp4")},
        )
    assert form.status_code == 409 and form.json()["footage_id"] == footage_id
    assert "not applied: title" in form.json()["detail"]
    assert len(_event_for(ingest, footage_id)) == 1


def test_checksum_mismatch_keeps_the_offset(ingest: IngestProcess, clip: Path) -> None:
    data = clip.read_bytes()
    created = httpx.post(
        f"{ingest.url}/files/",
        headers={
            **TUS,
            **ingest.headers(),
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus_metadata(title="c"),
        },
    )
    assert created.status_code == 201
    url = f"{ingest.url}{created.headers['Location']}"
    wrong = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    patch_headers = {**TUS, **ingest.headers(), "Content-Type": "application/offset+octet-stream"}
    bad = httpx.patch(
        url, content=data[:1000], headers={**patch_headers, "Upload-Offset": "0", "Upload-Checksum": f"sha256 {wrong}"}
    )
    assert bad.status_code == 460
    assert httpx.head(url, headers={**TUS, **ingest.headers()}).headers["Upload-Offset"] == "0"
    good_sum = base64.b64encode(hashlib.sha256(data[:1000]).digest()).decode()
    good = httpx.patch(
        url,
        content=data[:1000],
        headers={**patch_headers, "Upload-Offset": "0", "Upload-Checksum": f"sha256 {good_sum}"},
    )
    assert good.status_code == 204 and good.headers["Upload-Offset"] == "1000"


def test_creation_with_upload_and_termination(ingest: IngestProcess, clip: Path) -> None:
    data = clip.read_bytes()
    created = httpx.post(
        f"{ingest.url}/files/",
        content=data[:5000],
        headers={
            **TUS,
            **ingest.headers(),
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus_metadata(title="terminated"),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert created.status_code == 201
    assert created.headers["Upload-Offset"] == "5000"
    assert "Upload-Expires" in created.headers
    url = f"{ingest.url}{created.headers['Location']}"
    upload_id = url.rsplit("/", 1)[1]
    assert (ingest.spool_dir / "tus" / f"{upload_id}.bin").stat().st_size == 5000
    deleted = httpx.delete(url, headers={**TUS, **ingest.headers()})
    assert deleted.status_code == 204
    assert httpx.head(url, headers={**TUS, **ingest.headers()}).status_code in (404, 410)
    assert not (ingest.spool_dir / "tus" / f"{upload_id}.bin").exists()


def test_unfinished_upload_expires(kafka_broker: KafkaBroker, tmp_path: Path, clip: Path) -> None:
    with run_ingest(tmp_path / "ingest", kafka_broker.bootstrap, {"LOA_UPLOAD_EXPIRY_S": "1"}) as short:
        data = clip.read_bytes()
        created = httpx.post(
            f"{short.url}/files/",
            headers={
                **TUS,
                **short.headers(),
                "Upload-Length": str(len(data)),
                "Upload-Metadata": tus_metadata(title="e"),
            },
        )
        url = f"{short.url}{created.headers['Location']}"
        deadline = time.monotonic() + 60
        while (status := httpx.head(url, headers={**TUS, **short.headers()}).status_code) == 200:
            assert time.monotonic() < deadline, "the upload never expired"
            time.sleep(0.2)
        assert status == 410
        patch = httpx.patch(
            url,
            content=data,
            headers={**TUS, **short.headers(), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        )
        assert patch.status_code == 410
        assert short.uploaded_events() == []
        assert short.stored_objects() == []
        assert list((short.spool_dir / "tus").iterdir()) == []


def test_tus_upload_into_s3_multipart(
    kafka_broker: KafkaBroker, minio_server: MinioServer, tmp_path: Path, big_clip: Path
) -> None:
    bucket = f"ingest-{uuid.uuid4().hex[:12]}"
    env = {
        "LOA_STORAGE_BACKEND": "s3",
        "LOA_S3_BUCKET": bucket,
        "LOA_S3_ENDPOINT_URL": minio_server.endpoint_url,
        "LOA_S3_ACCESS_KEY": minio_server.access_key,
        "LOA_S3_SECRET_KEY": minio_server.secret_key,
    }
    with run_ingest(tmp_path / "ingest", kafka_broker.bootstrap, env) as on_s3:
        uploader = Sha256Uploader(
            file_path=str(big_clip),
            client=_client(on_s3),
            chunk_size=4 * 1024 * 1024,
            metadata={"title": "Lưu trên S3"},
            upload_checksum=True,
        )
        uploader.upload()
        footage_id = uploader.request.response_headers["loa-footage-id"]
        (event,) = _event_for(on_s3, footage_id)
        assert on_s3.stored_objects() == [], "nothing written to local storage"
    s3 = S3Storage(
        bucket, minio_server.endpoint_url, minio_server.access_key, minio_server.secret_key, create_bucket=False
    )
    # The source, and its signed C2PA manifest beside it (loa_ingest/service.py: _keep_source_manifest).
    assert s3.list() == [event.media.key, layout.source_manifest_key(footage_id)]
    s3.download(event.media.key, tmp_path / "back.mp4")
    assert sha256_file(tmp_path / "back.mp4") == sha256_file(big_clip)


def test_offset_falls_back_to_what_the_spool_really_holds(ingest: IngestProcess, tmp_path: Path) -> None:
    """After a power cut the spool can be shorter than the committed offset (no fsync per PATCH): resume from it."""
    clip = make_clip(tmp_path / "power-cut.mp4", width=288, height=160, duration_s=1.0)  # not uploaded before
    data = clip.read_bytes()
    created = httpx.post(
        f"{ingest.url}/files/",
        content=data[:5000],
        headers={
            **TUS,
            **ingest.headers(),
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus_metadata(title="power cut"),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert created.headers["Upload-Offset"] == "5000"
    url = f"{ingest.url}{created.headers['Location']}"
    spool = ingest.spool_dir / "tus" / f"{url.rsplit('/', 1)[1]}.bin"
    with spool.open("r+b") as f:
        f.truncate(2000)  # the last 3000 bytes never reached the disk
    head = httpx.head(url, headers={**TUS, **ingest.headers()})
    assert head.headers["Upload-Offset"] == "2000"
    rest = httpx.patch(
        url,
        content=data[2000:],
        headers={**TUS, **ingest.headers(), "Upload-Offset": "2000", "Content-Type": "application/offset+octet-stream"},
    )
    assert rest.status_code == 204, rest.text
    (event,) = _event_for(ingest, rest.headers["Loa-Footage-Id"])
    assert event.media.sha256 == sha256_file(clip)
