"""Object storage for Loa's media: one small sync interface, a local-directory backend and an S3 backend.

Keys are '/'-separated relative strings such as ``raw/<id>/source.mp4``. Both backends give the same
behaviour for valid keys, so services can be tested against the local backend and run against S3.
Outputs are written under a temporary key and published with ``move`` so readers never see half a file.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Concatenate, Literal, ParamSpec, TypeVar

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import BaseModel, SecretStr, model_validator
from s3transfer.exceptions import RetriesExceededError

__all__ = [
    "MULTIPART_PART_SIZE",
    "InvalidKey",
    "LocalStorage",
    "ObjectNotFound",
    "RangeNotSatisfiable",
    "S3Storage",
    "Storage",
    "StorageSettings",
    "StorageUnavailable",
    "make_storage",
    "validate_key",
]

# Part size for multipart uploads: S3 needs >= 5 MiB for every part but the last; 8 MiB keeps
# put_stream's memory bounded while staying far below the 10,000-part limit for multi-GB media.
MULTIPART_PART_SIZE = 8 * 1024 * 1024

# LocalStorage's in-flight files carry this name prefix. Keys may not use it, so an unfinished
# write can never be mistaken for (or overwrite) a real object, and list() can skip them.
_TEMP_PREFIX = ".loa-tmp-"

_COPY_BUFSIZE = 1024 * 1024
# S3Storage.create retries a 409 ConditionalRequestConflict (a concurrent write to the key) this many times.
_CREATE_CONFLICT_RETRIES = 4

P = ParamSpec("P")
R = TypeVar("R")


class InvalidKey(ValueError):
    """The key is not a safe relative '/'-separated object key."""


class ObjectNotFound(KeyError):
    """No object is stored under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no object stored under key {self.key!r}"


class RangeNotSatisfiable(ValueError):
    """A byte range that starts past the object's end (or is empty or negative): HTTP's 416."""

    def __init__(self, key: str, start: int, end: int, size: int | None) -> None:
        super().__init__(f"bytes {start}-{end} of {key!r} ({size if size is not None else '?'} bytes)")
        self.key, self.start, self.end, self.size = key, start, end, size


class StorageUnavailable(OSError):
    """The storage server could not be reached or answered with a server error (after the client's own retries):
    worth retrying later. An OSError, as a local disk's failure is, so callers handle both backends alike."""


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a valid object key, else raise InvalidKey.

    Rejected: empty keys, absolute keys, backslashes, NUL, and empty, '.' or '..' segments. Empty and
    '.' segments are rejected too (not only '..') because a filesystem folds them away while S3 does not,
    so they would name one object locally and another on S3.
    """
    if not isinstance(key, str):
        raise InvalidKey(f"object key must be a str, got {type(key).__name__}")
    if not key:
        raise InvalidKey("object key is empty")
    if "\x00" in key:
        raise InvalidKey("object key contains a NUL character")
    if "\\" in key:
        raise InvalidKey(f"object key contains a backslash: {key!r}")
    if key.startswith("/"):
        raise InvalidKey(f"object key is absolute: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(f"object key has an empty, '.' or '..' segment: {key!r}")
        if segment.startswith(_TEMP_PREFIX):
            raise InvalidKey(f"object key uses the reserved prefix {_TEMP_PREFIX!r}: {key!r}")
    return key


def _validate_prefix(prefix: str) -> str:
    """A list() prefix is a key, a key followed by '/', or '' for everything."""
    if prefix == "":
        return prefix
    validate_key(prefix.removesuffix("/"))
    return prefix


class Storage(ABC):
    """Object storage. Every method validates its keys and raises InvalidKey for bad ones."""

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` under ``key``, replacing any existing object."""

    def put_file_hashed(self, key: str, path: Path, block: int = 1 << 20) -> str:
        """Store the file at ``path`` under ``key`` (as put_stream does) and return its sha256 (hex, as
        hashing.sha256_file gives), hashed in the one read that stores it rather than in a read of its own."""
        digest = hashlib.sha256()

        def blocks() -> Iterator[bytes]:
            with path.open("rb") as f:
                while data := f.read(block):
                    digest.update(data)
                    yield data

        self.put_stream(key, blocks())
        return digest.hexdigest()

    @abstractmethod
    def create(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key`` only if no object is there: True if this call stored it, False if an object
        was there already. Atomic: of writers racing to create one key, exactly one gets True, and a reader sees
        the whole object or none (a claim such as transcode's job lease builds on this)."""

    @abstractmethod
    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        """Store the concatenated chunks under ``key`` with bounded memory; return bytes written.

        The object appears only once the whole stream is stored; on error nothing is left behind.
        """

    @abstractmethod
    def download(self, key: str, dest: Path) -> None:
        """Copy the object to the local file ``dest`` (parent folders are created)."""

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """Open the object for sequential reading; the caller closes the stream (use ``with``)."""

    @abstractmethod
    def read_range(self, key: str, start: int, end: int, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """Bytes ``start``..``end`` (inclusive, as HTTP's Range counts) of the object, in chunks of at most
        ``chunk_size``; an ``end`` past the object's last byte stops at it. The object is opened before this
        returns (ObjectNotFound, RangeNotSatisfiable for ``start`` past the end or ``end < start``), and the
        stream is closed when the iterator is exhausted or closed."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The object's size in bytes."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete the object; deleting a missing key is not an error."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys of all objects whose key starts with ``prefix`` (a plain string prefix, as in S3)."""

    @abstractmethod
    def move(self, src_key: str, dst_key: str) -> None:
        """Rename ``src_key`` to ``dst_key``, replacing any object there (used to publish outputs)."""

    @abstractmethod
    def local_path(self, key: str) -> Path | None:
        """A filesystem path where the object can be read in place, or None if it has none."""

    def readable(self, key: str, dest: Path) -> Path:
        """The object as a file to read: in place where it has a path (never to be changed or deleted), or else
        downloaded to ``dest``. A live's segments and chunks are read once each: a copy first would double it."""
        in_place = self.local_path(key)
        if in_place is not None and in_place.is_file():
            return in_place
        self.download(key, dest)
        return dest


def _chunks(stream: BinaryIO, length: int, chunk_size: int) -> Iterator[bytes]:
    """``length`` bytes of ``stream`` (fewer if it ends first) in chunks, closing it at the end or on close()."""
    with contextlib.closing(stream):
        while length > 0:
            chunk = stream.read(min(chunk_size, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def _write_via_temp(path: Path, write: Callable[[BinaryIO], int], prefix: str, *, exclusive: bool = False) -> int:
    """Create ``path`` through a temp file in the same folder: one filesystem, so the final rename is atomic.

    Readers see the old file or the complete new one, never a partial write; on error the temp file goes. With
    ``exclusive``, an existing ``path`` is left alone and FileExistsError raised.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            # mkstemp creates 0600; published files get ordinary permissions.
            os.fchmod(out.fileno(), 0o644)
            written = write(out)
            out.flush()
            # Durable before it becomes visible: a crash must not publish a truncated file.
            os.fsync(out.fileno())
        if exclusive:
            # link(2) fails if the name exists, atomically, and shows the file complete (O_EXCL would show it empty).
            os.link(tmp, path)
            tmp.unlink()
        else:
            tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


class LocalStorage(Storage):
    """Objects are files under ``root``; a key maps to ``root/<key>``."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        # Resolved once so the containment check below compares real paths.
        self.root = root.resolve()

    def __repr__(self) -> str:
        return f"LocalStorage(root={str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = self.root / validate_key(key)
        # Validation already forbids '..'; resolving also catches symlinks inside root that point out.
        if not path.resolve().is_relative_to(self.root):
            raise InvalidKey(f"object key resolves outside the storage root: {key!r}")
        return path

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)

        def write(out: BinaryIO) -> int:
            with path.open("rb") as src:
                shutil.copyfileobj(src, out, _COPY_BUFSIZE)
            return out.tell()

        _write_via_temp(target, write, prefix=_TEMP_PREFIX)

    def create(self, key: str, data: bytes) -> bool:
        try:
            _write_via_temp(self._path(key), lambda out: out.write(data), prefix=_TEMP_PREFIX, exclusive=True)
        except FileExistsError:
            return False
        return True

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        target = self._path(key)

        def write(out: BinaryIO) -> int:
            total = 0
            for chunk in chunks:
                out.write(chunk)
                total += len(chunk)
            return total

        return _write_via_temp(target, write, prefix=_TEMP_PREFIX)

    def download(self, key: str, dest: Path) -> None:
        src = self._existing_file(key)

        def write(out: BinaryIO) -> int:
            with src.open("rb") as inp:
                shutil.copyfileobj(inp, out, _COPY_BUFSIZE)
            return out.tell()

        # Via a temp file next to dest too, so a failed copy never leaves a partial dest behind.
        _write_via_temp(dest, write, prefix=f".{dest.name}.")

    def _existing_file(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return path

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(key) from None

    def read_range(self, key: str, start: int, end: int, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        stream = self.open_read(key)
        size = os.fstat(stream.fileno()).st_size
        if start < 0 or end < start or start >= size:
            stream.close()
            raise RangeNotSatisfiable(key, start, end, size)
        stream.seek(start)
        return _chunks(stream, min(end, size - 1) - start + 1, chunk_size)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._existing_file(key).stat().st_size

    def delete(self, key: str) -> None:
        path = self._path(key)
        # Missing is fine; a folder is not an object (it only holds deeper keys), so nothing to delete.
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            path.unlink()

    def list(self, prefix: str = "") -> list[str]:
        _validate_prefix(prefix)
        # Walk only the deepest folder the prefix fully names, not the whole tree.
        folder = prefix.rpartition("/")[0]
        base = self.root / folder if folder else self.root
        if not base.resolve().is_relative_to(self.root) or not base.is_dir():
            return []
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(_TEMP_PREFIX)]
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith(_TEMP_PREFIX):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def move(self, src_key: str, dst_key: str) -> None:
        src = self._existing_file(src_key)
        dst = self._path(dst_key)
        dst.parent.mkdir(parents=True, exist_ok=True)
        # Atomic on one filesystem: readers see either the old object or the complete new one.
        try:
            src.replace(dst)
        except FileNotFoundError:
            # Lost a race with a concurrent delete/move of src.
            raise ObjectNotFound(src_key) from None

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


# Building a client loads S3's large service description (~0.1 s each time on a new session); one shared
# session caches it. botocore sessions are not thread-safe, hence the lock; the clients themselves are.
_session_lock = threading.Lock()
_session: Any = None


def _new_s3_client(**kwargs: Any) -> Any:
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client("s3", **kwargs)


def _is_not_found(err: ClientError) -> bool:
    code = str(err.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


# S3 error codes that say "try again" (besides any 5xx status).
_TRANSIENT_CODES = frozenset({"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "Throttling"})


def _is_transient(exc: BaseException | None) -> bool:
    """A connection failure, a timeout or a server-side error: the server was down or busy, not the request wrong.
    boto3's managed transfers wrap the client's error (S3UploadFailedError, RetriesExceededError): look inside."""
    if isinstance(exc, (BotoConnectionError, HTTPClientError, RetriesExceededError)):
        return True
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or str(exc.response.get("Error", {}).get("Code", "")) in _TRANSIENT_CODES
    if isinstance(exc, S3UploadFailedError):
        return exc.__context__ is None or _is_transient(exc.__context__)
    return False


def _s3_call(method: Callable[Concatenate[S3Storage, P], R]) -> Callable[Concatenate[S3Storage, P], R]:
    """An S3Storage method that raises StorageUnavailable for what `_is_transient` accepts (after botocore's own
    retries), anything else as it is."""

    @functools.wraps(method)
    def call(self: S3Storage, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except StorageUnavailable:
            raise
        except Exception as exc:
            if _is_transient(exc):
                raise StorageUnavailable(f"S3 bucket {self.bucket!r} unavailable: {exc}") from exc
            raise

    return call


class S3Storage(Storage):
    """Objects in one S3 bucket (AWS or any S3-compatible server such as MinIO)."""

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        *,
        create_bucket: bool = True,
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        config = Config(
            region_name=region,
            signature_version="s3v4",
            # Path-style addressing: self-hosted servers (MinIO on 127.0.0.1) have no per-bucket DNS names.
            s3={"addressing_style": "path"},
            connect_timeout=10,
            read_timeout=60,
            retries={"max_attempts": 5, "mode": "standard"},
        )
        # None credentials fall back to boto3's default chain (env vars, instance role, ...).
        self._client = _new_s3_client(
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=config,
        )
        self._transfer_config = TransferConfig(
            multipart_threshold=MULTIPART_PART_SIZE,
            multipart_chunksize=MULTIPART_PART_SIZE,
        )
        if create_bucket:
            self._ensure_bucket()

    def __repr__(self) -> str:
        # Never show credentials.
        return f"S3Storage(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r}, region={self.region!r})"

    @_s3_call
    def _ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as err:
            if not _is_not_found(err) and err.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        # us-east-1 is S3's default region and must not be named as a location constraint.
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**kwargs)
        except ClientError as err:
            # Another process created it between our check and our create: that is fine.
            if err.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise

    @_s3_call
    def put_file(self, key: str, path: Path) -> None:
        validate_key(key)
        # upload_file switches to a parallel multipart upload above the threshold.
        self._client.upload_file(str(path), self.bucket, key, Config=self._transfer_config)

    @_s3_call
    def create(self, key: str, data: bytes) -> bool:
        validate_key(key)
        # A conditional write (AWS since Nov 2024, MinIO; botocore >= 1.35.16): 412 PreconditionFailed when the key
        # exists; 409 ConditionalRequestConflict while a concurrent write to it is under way, to be retried (then it
        # is the 412, or ours wins if the other one failed).
        attempt = 0
        while True:
            try:
                self._client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
                return True
            except ClientError as err:
                code = str(err.response.get("Error", {}).get("Code", ""))
                if code == "PreconditionFailed":
                    return False
                if code != "ConditionalRequestConflict" or attempt == _CREATE_CONFLICT_RETRIES:
                    raise
            time.sleep(0.05 * 2**attempt)
            attempt += 1

    @_s3_call
    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        validate_key(key)
        buffer = bytearray()
        total = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                buffer += chunk
                total += len(chunk)
                while len(buffer) >= MULTIPART_PART_SIZE:
                    if upload_id is None:
                        created = self._client.create_multipart_upload(Bucket=self.bucket, Key=key)
                        upload_id = created["UploadId"]
                    part = bytes(buffer[:MULTIPART_PART_SIZE])
                    del buffer[:MULTIPART_PART_SIZE]
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, part))
            if upload_id is None:
                # Smaller than one part: a single PUT is simpler and just as atomic.
                self._client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer))
                return total
            if buffer:
                parts.append(self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # Also on KeyboardInterrupt/cancellation: unaborted uploads keep their parts (and cost) forever.
            # A failed abort must not hide the original error.
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        return total

    @_s3_call
    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        response = self._client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        part: dict[str, Any] = {"PartNumber": number, "ETag": response["ETag"]}
        # Newer botocore adds a checksum to every part; the completion request must repeat it.
        for field in ("ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1", "ChecksumSHA256"):
            if field in response:
                part[field] = response[field]
        return part

    @_s3_call
    def download(self, key: str, dest: Path) -> None:
        validate_key(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            # download_file writes to a temp name and renames, so dest is never left partial.
            self._client.download_file(self.bucket, key, str(dest), Config=self._transfer_config)
        except ClientError as err:
            if _is_not_found(err):
                raise ObjectNotFound(key) from None
            raise

    @_s3_call
    def open_read(self, key: str) -> BinaryIO:
        validate_key(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if _is_not_found(err):
                raise ObjectNotFound(key) from None
            raise
        # botocore's StreamingBody: an io.IOBase with read(amt), iter_chunks() and close().
        body: BinaryIO = response["Body"]
        return body

    @_s3_call
    def read_range(self, key: str, start: int, end: int, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        validate_key(key)
        if start < 0 or end < start:
            raise RangeNotSatisfiable(key, start, end, None)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}")
        except ClientError as err:
            if _is_not_found(err):
                raise ObjectNotFound(key) from None
            if str(err.response.get("Error", {}).get("Code", "")) == "InvalidRange":
                raise RangeNotSatisfiable(key, start, end, None) from None
            raise
        body: BinaryIO = response["Body"]
        return _chunks(body, int(response["ContentLength"]), chunk_size)

    @_s3_call
    def _head(self, key: str) -> dict[str, Any] | None:
        validate_key(key)
        try:
            head: dict[str, Any] = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if _is_not_found(err):
                return None
            raise
        return head

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise ObjectNotFound(key)
        return int(head["ContentLength"])

    @_s3_call
    def delete(self, key: str) -> None:
        validate_key(key)
        # S3 deletes are idempotent: a missing key is not an error.
        self._client.delete_object(Bucket=self.bucket, Key=key)

    @_s3_call
    def list(self, prefix: str = "") -> list[str]:
        _validate_prefix(prefix)
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    @_s3_call
    def move(self, src_key: str, dst_key: str) -> None:
        validate_key(src_key)
        validate_key(dst_key)
        if src_key == dst_key:
            # Copy-then-delete onto itself would delete the object.
            if not self.exists(src_key):
                raise ObjectNotFound(src_key)
            return
        try:
            # The managed copy uses copy_object, or multipart copy above 5 GiB where copy_object stops.
            self._client.copy(
                {"Bucket": self.bucket, "Key": src_key}, self.bucket, dst_key, Config=self._transfer_config
            )
        except ClientError as err:
            if _is_not_found(err):
                raise ObjectNotFound(src_key) from None
            raise
        self._client.delete_object(Bucket=self.bucket, Key=src_key)

    def local_path(self, key: str) -> Path | None:
        validate_key(key)
        return None


class StorageSettings(BaseModel):
    """Which backend to use and how to reach it (defaults match loa_core.settings.CommonSettings)."""

    backend: Literal["local", "s3"] = "local"
    root: Path = Path(".cache/run/storage")
    s3_bucket: str = "loa"
    s3_endpoint_url: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"

    @model_validator(mode="after")
    def _check_s3(self) -> StorageSettings:
        if self.backend == "s3" and not self.s3_bucket:
            raise ValueError("s3_bucket is required when backend is 's3'")
        return self


def make_storage(settings: StorageSettings) -> Storage:
    """Build the configured backend (S3Storage creates its bucket if missing)."""
    if settings.backend == "s3":
        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key is not None else None
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            access_key=settings.s3_access_key,
            secret_key=secret,
            region=settings.s3_region,
        )
    return LocalStorage(settings.root)
