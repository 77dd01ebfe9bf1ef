"""S3Storage against a real MinIO: the shared storage contract plus multipart behaviour."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from loa_core.storage import MULTIPART_PART_SIZE, S3Storage, Storage, StorageUnavailable, make_storage
from tests.support.minio import MinioServer
from tests.support.storage_contract import (
    StorageContract,
    StreamBroke,
    chunked,
    failing_stream,
    random_bytes,
)

TWENTY_MIB = 20 * 1024 * 1024


def new_bucket() -> str:
    return f"loa-test-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def bucket() -> str:
    return new_bucket()


@pytest.fixture
def s3(minio_server: MinioServer, bucket: str) -> S3Storage:
    """A fresh bucket per test, so list() sees only what the test wrote."""
    return S3Storage(
        bucket=bucket,
        endpoint_url=minio_server.endpoint_url,
        access_key=minio_server.access_key,
        secret_key=minio_server.secret_key,
        region=minio_server.region,
    )


@pytest.fixture
def raw_client(minio_server: MinioServer) -> Any:
    """A separate boto3 client to check what the server really holds, independently of S3Storage."""
    return boto3.client(
        "s3",
        endpoint_url=minio_server.endpoint_url,
        aws_access_key_id=minio_server.access_key,
        aws_secret_access_key=minio_server.secret_key,
        region_name=minio_server.region,
    )


class TestS3StorageContract(StorageContract):
    @pytest.fixture
    def storage(self, s3: S3Storage) -> Storage:
        return s3


def test_bucket_is_created_once_and_reused(s3: S3Storage, raw_client: Any, minio_server: MinioServer) -> None:
    assert s3.bucket in {b["Name"] for b in raw_client.list_buckets()["Buckets"]}
    s3.put_stream("raw/v1/source.mp4", [b"media"])

    again = make_storage(minio_server.storage_settings(s3.bucket))

    assert isinstance(again, S3Storage)
    assert again.list() == ["raw/v1/source.mp4"]


def test_local_path_is_none(s3: S3Storage) -> None:
    s3.put_stream("raw/v1/source.mp4", [b"media"])
    assert s3.local_path("raw/v1/source.mp4") is None


def test_repr_hides_credentials(s3: S3Storage, minio_server: MinioServer) -> None:
    assert minio_server.secret_key not in repr(s3)
    assert minio_server.secret_key not in repr(minio_server)


def test_put_stream_of_20_mib_uses_multipart(s3: S3Storage, raw_client: Any, tmp_path: Path) -> None:
    data = random_bytes(TWENTY_MIB + 12_345)
    # Chunks that do not line up with part boundaries, as a network stream delivers them.
    written = s3.put_stream("raw/big/source.mp4", chunked(data, 1024 * 1024 + 7))

    assert written == len(data)
    head = raw_client.head_object(Bucket=s3.bucket, Key="raw/big/source.mp4")
    assert head["ContentLength"] == len(data)
    # A multipart object's ETag ends in "-<part count>": 20 MiB in 8 MiB parts is 3 parts.
    expected_parts = -(-len(data) // MULTIPART_PART_SIZE)
    assert head["ETag"].strip('"').endswith(f"-{expected_parts}")
    dest = tmp_path / "copy.mp4"
    s3.download("raw/big/source.mp4", dest)
    assert hashlib.sha256(dest.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_failed_multipart_put_stream_is_aborted(s3: S3Storage, raw_client: Any) -> None:
    key = "raw/broken/source.mp4"
    # More than one part has been uploaded when the source fails.
    with pytest.raises(StreamBroke):
        s3.put_stream(key, failing_stream(random_bytes(MULTIPART_PART_SIZE + 1024), 1024 * 1024))

    assert not s3.exists(key)
    uploads = raw_client.list_multipart_uploads(Bucket=s3.bucket, Prefix=key)
    assert uploads.get("Uploads", []) == []


def test_put_file_of_20_mib_uses_multipart_and_moves(s3: S3Storage, raw_client: Any, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(random_bytes(TWENTY_MIB, seed=11))

    s3.put_file("out/.tmp/big.bin", source)
    assert raw_client.head_object(Bucket=s3.bucket, Key="out/.tmp/big.bin")["ETag"].strip('"').count("-") == 1
    s3.move("out/.tmp/big.bin", "out/big.bin")

    assert s3.list("out/") == ["out/big.bin"]
    digest = hashlib.sha256()
    with s3.open_read("out/big.bin") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    assert digest.digest() == hashlib.sha256(source.read_bytes()).digest()


def test_wrong_credentials_are_refused(minio_server: MinioServer) -> None:
    with pytest.raises(Exception, match=r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|403") as refused:
        S3Storage(
            bucket=new_bucket(),
            endpoint_url=minio_server.endpoint_url,
            access_key=minio_server.access_key,
            secret_key="not-the-secret",
            region=minio_server.region,
        )
    # A refusal is not an outage: retrying would not help.
    assert not isinstance(refused.value, StorageUnavailable)


def test_an_unreachable_server_is_storage_unavailable_and_the_object_is_there_after(tmp_path: Path) -> None:
    """Connections refused (after botocore's own retries) raise StorageUnavailable, an OSError, which the services
    retry; the server back on the same port and data has what was written before."""
    source = tmp_path / "clip.bin"
    source.write_bytes(random_bytes(1000))
    with MinioServer(tmp_path / "minio") as server:
        storage = make_storage(server.storage_settings(new_bucket()))
        storage.put_file("raw/a/source.bin", source)
        server.kill()
        with pytest.raises(StorageUnavailable, match="unavailable"):
            storage.put_file("raw/b/source.bin", source)
        with pytest.raises(StorageUnavailable, match="unavailable"):
            storage.exists("raw/a/source.bin")
        server.start()
        assert storage.list() == ["raw/a/source.bin"]
