"""The tus 1.0.0 resumable upload protocol: core, creation, creation-with-upload, termination, expiration, checksum.

https://tus.io/protocols/resumable-upload. Bytes go to a spool file on local disk as they arrive (bounded memory:
two 4 MiB blocks per upload, one being received while worker threads write and hash the other), the offset is
committed to SQLite after each PATCH, and a dropped connection keeps what arrived, so the client resumes from the
server's offset. When the last byte is in, the spool is validated (ffprobe, dedup by sha256) by
`IngestService.accept`, streamed to storage (local or S3 multipart) and announced.
With LOA_TUS_SPOOL=shared the bytes go to object storage instead, one part per PATCH, so replicas share every
upload (loa_ingest/tus_parts.py).
The final PATCH answers 204 with `Loa-Footage-Id`, or 422 with the reason when the file is refused (with
`Loa-Footage-Id` too when the file already is footage and was sent with other details: see duplicates.py).

Replicas: what two requests for one upload could race on is decided by a conditional update of the upload's row
(loa_ingest/uploads.py), never by this process's locks, which only spare a request in this process a needless
conflict. Of two PATCHes of one range only one commits its bytes; the finish (assemble, check, store, announce) is
claimed by one request, and any other request for the upload meanwhile (a client whose final PATCH timed out,
retrying on another replica) waits for its outcome and answers the same.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import formatdate
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from loa_core.auth import Caller
from loa_core.contracts import FootageMetadata, new_id
from loa_core.hashing import sha256_file
from loa_ingest import leases
from loa_ingest.duplicates import AlreadyUploaded
from loa_ingest.service import AnnouncementBusy, IngestService
from loa_ingest.tus_parts import SharedParts
from loa_ingest.uploads import GONE_STATES, OPEN_STATES, Upload, UploadState, UploadStore
from loa_ingest.validation import RejectedUpload

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
# sha1 is the algorithm every tus server must support; sha256 is what Loa's own clients send.
CHECKSUM_ALGORITHMS = ("sha256", "sha1", "md5")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
MAX_METADATA_HEADER = 16 * 1024
# Bytes gathered before one hand-off to the worker threads: each hand-off costs thread wake-ups and GIL traffic,
# so larger blocks are faster (4 MiB: ~2.5x fewer samples in the hand-off than 1 MiB), but the first and the last
# block of each PATCH do not overlap with the network; memory stays bounded at two blocks per upload in flight.
WRITE_BLOCK = 4 * 1024 * 1024
# How long a request waits for another's finish before answering 423 (tus clients retry a 423), and how often it
# looks at the row meanwhile. The same wait as for this process's lock on the upload.
FINISH_WAIT_S = 15.0
FINISH_POLL_S = 0.2


class TusError(Exception):
    """A protocol-level refusal: status code plus a message for people (English / Vietnamese)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def parse_upload_metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64(value)` pairs; keys unique ASCII, values UTF-8 text."""
    if len(header) > MAX_METADATA_HEADER:
        raise TusError(400, f"Upload-Metadata is longer than {MAX_METADATA_HEADER} bytes. / Siêu dữ liệu quá dài.")
    result: dict[str, str] = {}
    for pair in header.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        if not key.isascii() or not key.isprintable() or " " in encoded.strip():
            raise TusError(400, "Upload-Metadata is malformed. / Siêu dữ liệu sai định dạng.")
        if key in result:
            raise TusError(400, f"Upload-Metadata repeats the key {key!r}. / Khóa bị lặp.")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise TusError(400, f"Upload-Metadata value of {key!r} is not base64. / Không phải base64.") from exc
        try:
            result[key] = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TusError(400, f"Upload-Metadata value of {key!r} is not UTF-8. / Giá trị không phải UTF-8.") from exc
    return result


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise TusError(400, f"Checksum algorithm {algorithm!r} is not supported; use sha256. / Không hỗ trợ.")
    try:
        return algorithm, base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TusError(400, "Upload-Checksum is not base64. / Mã kiểm tra sai định dạng.") from exc


def parse_non_negative(value: str | None, name: str) -> int:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 19:
        raise TusError(400, f"{name} must be a non-negative integer. / {name} phải là số nguyên không âm.")
    return int(value)


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


@dataclass
class _Received:
    """What one PATCH body added."""

    size: int
    sha256_state: Any | None  # hashlib object for the whole file so far, or None when it must be recomputed
    # The whole-file hash may still be hashing the body's last block when the PATCH answers: done when this is.
    sha256_pending: concurrent.futures.Future[object] | None


# Threads for the spool's file writes and hashes. Each lane below runs one block at a time, in order, so this pool
# only needs a few threads per upload in flight; a busy pool makes uploads wait, never reorders a lane.
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="loa-tus")


# A block is the list of body chunks as uvicorn delivered them (64-256 KiB each), not one joined buffer: joining
# (or copying into a reused buffer) on the event loop cost ~0.5 CPU-s per GiB there, the thread that bounds the
# upload; writing and hashing the chunks one by one costs the worker threads nothing measurable.
Block = list[bytes]


class _Lane:
    """One ordered stream of work on the blocks of a body (the file write, or one hash), run in `_POOL`.

    Each block goes to every lane; the lanes of one block run at the same time on different threads (file writes
    and hashlib both release the GIL), while the event loop already receives the next block. A lane takes a new
    block only when it has finished the previous one, which keeps the order and bounds memory to two blocks.
    """

    def __init__(self, work: Callable[[Block], object]) -> None:
        self._work = work
        self._running: concurrent.futures.Future[object] | None = None

    async def push(self, block: Block) -> None:
        await self.wait()
        self._running = _POOL.submit(self._work, block)

    async def wait(self) -> None:
        if self._running is not None:
            await asyncio.wrap_future(self._running)
            self._running = None

    def running(self) -> concurrent.futures.Future[object] | None:
        return self._running

    def settle(self) -> None:
        """Block (in a worker thread) until the last block is done, whatever its outcome; for the cleanup path."""
        if self._running is not None:
            concurrent.futures.wait([self._running])


def _hash_lane(digest: Any) -> _Lane:
    def update(block: Block) -> None:
        for chunk in block:
            digest.update(chunk)

    return _Lane(update)


class _SpoolWriter:
    """Appends a body to the spool file and hashes it, in worker threads, overlapping with the network."""

    def __init__(self, path: Path, offset: int, file_hash: Any | None, checksum_algorithm: str | None) -> None:
        self._start = offset
        self._file: BinaryIO = path.open("r+b")
        # Anything past the committed offset is an uncommitted tail from a crash: cut it off.
        self._file.truncate(offset)
        self._file.seek(offset)
        self.file_hash = file_hash
        self.request_hash = hashlib.new(checksum_algorithm) if checksum_algorithm else None
        self._file_hash_lane = _hash_lane(file_hash) if file_hash is not None else None
        self._lanes = [_Lane(self._file.writelines)]
        self._lanes += [_hash_lane(self.request_hash)] if self.request_hash is not None else []
        self._lanes += [self._file_hash_lane] if self._file_hash_lane is not None else []
        self.running_hash: concurrent.futures.Future[object] | None = None

    async def push(self, block: Block) -> None:
        """Hand a block over (not to be changed afterwards); returns as soon as the previous block is done."""
        for lane in self._lanes:
            await lane.push(block)

    async def flush(self) -> None:
        """Wait until every block is written and checksummed (raising the first failure).

        The whole-file hash alone may still be busy with the last block: it is only needed by the next PATCH or at
        the end, so the PATCH answers without waiting for it (3-4 ms per PATCH the client would otherwise wait).
        `running_hash` is then what to wait for before using it.
        """
        for lane in self._lanes:
            if lane is not self._file_hash_lane:
                await lane.wait()
        self.running_hash = self._file_hash_lane.running() if self._file_hash_lane is not None else None

    def commit(self) -> None:
        # No fsync per PATCH: it cost more than half the throughput (a 16 MiB chunk waited ~100 ms for the disk).
        # A crashed process loses nothing (the bytes are in the page cache); after a power cut the spool may be
        # shorter than the committed offset, and `_live` then lowers the offset to what is really on disk, so the
        # client resends the rest (tus clients keep the file until the upload is finished).
        self._file.close()

    def rollback(self) -> None:
        # A write may still be running (the request was cancelled while awaiting it): let it end before cutting.
        for lane in self._lanes:
            lane.settle()
        self._file.truncate(self._start)
        self._file.close()


def visible(upload: Upload, caller: Caller) -> bool:
    """An upload is its uploader's (and a district admin's): another token, even of the same ward, gets a 404."""
    return caller.is_district or (upload.owner == caller.id and caller.sees(upload.ward))


class TusUploads:
    """The tus handlers, independent of routing so they are easy to test and to mount."""

    def __init__(
        self,
        service: IngestService,
        store: UploadStore,
        # The upload's ward and metadata from its Upload-Metadata fields and its uploader.
        build_metadata: Callable[[dict[str, str], Caller], tuple[str, FootageMetadata]],
        *,
        max_size: int,
        expiry_s: float,
        clock: Callable[[], float] = time.time,
        shared: SharedParts | None = None,
    ) -> None:
        self.service = service
        # The shared spool (parts in object storage, offsets guarded in the shared database), or None: local files.
        self.shared = shared
        self.store = store
        self.build_metadata = build_metadata
        self.max_size = max_size
        self.expiry_s = expiry_s
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        # sha256 of each upload's committed bytes, while this process lives: (offset covered, hash object, the
        # hashing of the last block if it may still run).
        self._hashes: dict[str, tuple[int, Any, concurrent.futures.Future[object] | None]] = {}

    # -- helpers ---------------------------------------------------------------------------------------------

    def base_headers(self) -> dict[str, str]:
        return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}

    def options_headers(self) -> dict[str, str]:
        return {
            "Tus-Resumable": TUS_VERSION,
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(self.max_size),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        }

    def check_version(self, request: Request) -> None:
        if request.headers.get("tus-resumable") != TUS_VERSION:
            raise TusError(
                412,
                f"Tus-Resumable: {TUS_VERSION} is required. / Cần header Tus-Resumable: {TUS_VERSION}.",
                {"Tus-Version": TUS_VERSION},
            )

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self._locks.setdefault(upload_id, asyncio.Lock())

    async def _live(self, upload_id: str, caller: Caller, *, rejected_too: bool = False) -> Upload:
        """The upload, if it exists, is visible to this token, and has not expired (expiring it lazily).
        `rejected_too`: a refused upload too (a PATCH answers its refusal again)."""
        upload = self.store.get(upload_id)
        if upload is None or not visible(upload, caller):
            raise TusError(404, "No such upload. / Không tìm thấy lượt tải lên.")
        if upload.state in OPEN_STATES and upload.expires_at < self.clock():
            await self.expire(upload.id)
            upload = self.store.get(upload_id) or replace(upload, state="expired")
        if upload.state in GONE_STATES and not (rejected_too and upload.state == "rejected"):
            reason = upload.reason or "The upload is gone."
            raise TusError(410, f"{reason} / Lượt tải lên không còn ({upload.state}).")
        if upload.state in ("receiving", "received") and self.shared is None:
            spool = self.store.spool_path(upload.id)
            if not spool.exists():
                spool.touch()  # lost with its disk: start this upload's bytes again rather than fail
            on_disk = spool.stat().st_size
            if on_disk < upload.offset:
                log.warning(
                    "tus upload %s: spool holds %d of %d committed bytes; resuming from there",
                    upload.id,
                    on_disk,
                    upload.offset,
                )
                self.store.set_offset(upload.id, on_disk, upload.expires_at, "receiving")
                self._hashes.pop(upload.id, None)
                upload = replace(upload, offset=on_disk, state="receiving")
        return upload

    async def expire(self, upload_id: str) -> bool:
        """Expire the upload unless it ended or a request is finishing it meanwhile; True if it was expired."""
        reason = "The upload expired before it was finished."
        if not self.store.finish(upload_id, "expired", reason=reason, unclaimed_at=self.clock()):
            return False
        await self._forget(upload_id)
        return True

    async def _forget(self, upload_id: str) -> None:
        """An upload ended (expired, terminated, refused, accepted): drop what this process (and the shared spool)
        kept for it."""
        self._hashes.pop(upload_id, None)
        self._locks.pop(upload_id, None)
        if self.shared is not None:
            await self.shared.drop(upload_id)

    async def expire_due(self) -> int:
        """Drop every unfinished upload past its Upload-Expires, and the locks of uploads no request here holds;
        called periodically by the bootstrap."""
        expired = 0
        for upload_id in self.store.expired_ids(self.clock()):
            if self._lock(upload_id).locked():
                continue  # being written to right now, in this process: its PATCH renews the expiry
            expired += await self.expire(upload_id)
        # The locks of uploads no request here holds: with replicas, an upload finished elsewhere never ends here,
        # so its lock would stay for ever. A request that then finds none makes a new one; the row's conditional
        # updates keep it correct even beside one still woken from the old lock.
        self._locks = {upload_id: lock for upload_id, lock in self._locks.items() if lock.locked()}
        return expired

    # -- protocol --------------------------------------------------------------------------------------------

    async def create(self, request: Request, caller: Caller) -> Response:
        self.check_version(request)
        if request.headers.get("upload-defer-length") is not None:
            raise TusError(400, "Upload-Defer-Length is not supported; send Upload-Length. / Cần Upload-Length.")
        length = parse_non_negative(request.headers.get("upload-length"), "Upload-Length")
        if length > self.max_size:
            too_big = f"The file is larger than {self.max_size} bytes. / Tệp quá lớn."
            raise TusError(413, too_big, {"Tus-Max-Size": str(self.max_size)})
        if length == 0:
            raise TusError(400, "The file is empty. / Tệp rỗng.")
        raw_metadata = request.headers.get("upload-metadata", "")
        fields = parse_upload_metadata(raw_metadata)
        # Metadata is checked before a single byte is accepted: a typo costs nothing to fix.
        ward, metadata = self.build_metadata(fields, caller)
        now = self.clock()
        upload = Upload(
            id=new_id(),
            length=length,
            offset=0,
            raw_metadata=raw_metadata,
            metadata_json=metadata.model_dump_json(),
            owner=caller.id,
            created_at=now,
            expires_at=now + self.expiry_s,
            state="receiving",
            ward=ward,
        )
        self.store.create(upload)
        if self.shared is None:
            self._hashes[upload.id] = (0, hashlib.sha256(), None)
        log.info("tus upload %s created (%d bytes) by token %s", upload.id, length, caller.id)
        headers = {
            **self.base_headers(),
            "Location": f"/files/{upload.id}",
            "Upload-Expires": http_date(upload.expires_at),
        }
        has_body = request.headers.get("content-type", "").startswith(OFFSET_CONTENT_TYPE)
        if has_body:
            # creation-with-upload: the body is the first chunk, at offset 0.
            return await self._patch(upload, request, status_on_success=201, extra_headers=headers)
        await request.close()
        return Response(status_code=201, headers={**headers, "Upload-Offset": "0"})

    async def head(self, upload_id: str, caller: Caller) -> Response:
        upload = await self._live(upload_id, caller)
        lock = self._lock(upload.id)
        if lock.locked():
            # A PATCH is still writing (often one whose client already gave up): report the offset it commits,
            # not the one before it, or the resumed PATCH would conflict with it.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0), lock:
                    pass
            upload = await self._live(upload_id, caller)
        headers = {
            **self.base_headers(),
            "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length),
        }
        if upload.raw_metadata:
            headers["Upload-Metadata"] = upload.raw_metadata
        if upload.state in ("receiving", "received"):
            headers["Upload-Expires"] = http_date(upload.expires_at)
        if upload.footage_id:
            headers["Loa-Footage-Id"] = upload.footage_id
        return Response(status_code=200, headers=headers)

    async def patch(self, upload_id: str, request: Request, caller: Caller) -> Response:
        self.check_version(request)
        if not request.headers.get("content-type", "").startswith(OFFSET_CONTENT_TYPE):
            raise TusError(415, f"Content-Type must be {OFFSET_CONTENT_TYPE}. / Sai kiểu nội dung (Content-Type).")
        if request.headers.get("upload-offset") is None:
            raise TusError(400, "Upload-Offset is required. / Cần header Upload-Offset.")
        upload = await self._live(upload_id, caller, rejected_too=True)
        return await self._patch(upload, request, status_on_success=204, extra_headers={})

    async def _patch(
        self, upload: Upload, request: Request, *, status_on_success: int, extra_headers: dict[str, str]
    ) -> Response:
        # creation-with-upload has no Upload-Offset: its body starts at 0.
        offset = parse_non_negative(request.headers.get("upload-offset", "0"), "Upload-Offset")
        checksum = parse_checksum(request.headers.get("upload-checksum"))
        declared = request.headers.get("content-length")
        lock = self._lock(upload.id)
        try:
            # A client that lost its connection may be back before the server noticed: wait for the old PATCH.
            await asyncio.wait_for(lock.acquire(), timeout=15.0)
        except TimeoutError as exc:
            raise TusError(423, "The upload is busy with another request. / Đang bận, thử lại sau.") from exc
        try:
            upload = self.store.get(upload.id) or upload  # re-read: the previous PATCH may have moved it on
            if upload.state not in OPEN_STATES:
                return self._done_response(self._outcome(upload), status_on_success, extra_headers)
            if offset != upload.offset:
                raise TusError(
                    409,
                    f"Upload-Offset {offset} does not match the server's offset {upload.offset}; send HEAD and resume."
                    " / Vị trí không khớp.",
                )
            if declared is not None and declared.isdigit() and offset + int(declared) > upload.length:
                raise TusError(413, "The body runs past Upload-Length. / Dữ liệu vượt quá độ dài đã khai báo.")
            if self.shared is None:
                received = await self._receive(upload, request, checksum)
                new_offset = upload.offset + received.size
                now = self.clock()
                state: UploadState = "received" if new_offset == upload.length else "receiving"
                self.store.set_offset(upload.id, new_offset, now + self.expiry_s, state)
                if received.sha256_state is not None:
                    self._hashes[upload.id] = (new_offset, received.sha256_state, received.sha256_pending)
            else:
                upload = await self._receive_part(upload, self.shared, request, checksum)
                new_offset, state, now = upload.offset, upload.state, self.clock()
            upload = replace(upload, offset=new_offset, expires_at=now + self.expiry_s, state=state)
            if state == "received":
                upload = await self._finish_once(upload)
                return self._done_response(upload, status_on_success, extra_headers)
            return Response(
                status_code=status_on_success,
                headers={
                    **self.base_headers(),
                    **extra_headers,
                    "Upload-Offset": str(new_offset),
                    "Upload-Expires": http_date(upload.expires_at),
                },
            )
        finally:
            lock.release()

    async def _receive(self, upload: Upload, request: Request, checksum: tuple[str, bytes] | None) -> _Received:
        """Stream the body into the spool at the committed offset; return how much was committed."""
        known = await self._file_hash(upload.id, upload.offset)
        file_hash = known.copy() if known is not None else None
        writer = await asyncio.to_thread(
            _SpoolWriter, self.store.spool_path(upload.id), upload.offset, file_hash, checksum[0] if checksum else None
        )
        size = await self._stream(upload, writer, request, checksum)
        return _Received(size=size, sha256_state=writer.file_hash, sha256_pending=writer.running_hash)

    async def _receive_part(
        self, upload: Upload, shared: SharedParts, request: Request, checksum: tuple[str, bytes] | None
    ) -> Upload:
        """The shared spool: the body becomes a part in object storage, committed to the upload's row only if no
        other replica moved the upload on meanwhile (else the part is deleted and the request answers 409)."""
        body = shared.scratch_file("patch")
        try:
            writer = await asyncio.to_thread(_SpoolWriter, body, 0, None, checksum[0] if checksum else None)
            size = await self._stream(upload, writer, request, checksum)
        except BaseException:
            body.unlink(missing_ok=True)
            raise
        part = await shared.store(upload, body, size)
        offset = upload.offset + size
        expires_at = self.clock() + self.expiry_s
        state: UploadState = "received" if offset == upload.length else "receiving"
        if not self.store.commit_part(upload, part, expires_at, state):
            await shared.discard(part)
            raise TusError(
                409,
                "Another request moved this upload on while this one was received; send HEAD and resume."
                " / Lượt tải lên đã được ghi tiếp bởi yêu cầu khác; hãy hỏi lại vị trí.",
            )
        parts = (*upload.parts, part) if part is not None else upload.parts
        return replace(upload, offset=offset, parts=parts, expires_at=expires_at, state=state)

    async def _stream(
        self, upload: Upload, writer: _SpoolWriter, request: Request, checksum: tuple[str, bytes] | None
    ) -> int:
        """Hand the body to `writer` block by block; checked against its checksum; how many bytes it held."""
        remaining = upload.length - upload.offset
        size = 0
        # Two blocks at most: one collecting chunks here while the worker threads write and hash the other.
        block: Block = []
        filled = 0
        disconnected = False
        try:
            try:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > remaining:
                        raise TusError(413, "The body runs past Upload-Length. / Dữ liệu vượt quá độ dài đã khai báo.")
                    block.append(chunk)
                    filled += len(chunk)
                    if filled >= WRITE_BLOCK:
                        # Returns once the threads are done with the previous block, then they take this one.
                        await writer.push(block)
                        block = []
                        filled = 0
            except ClientDisconnect:
                # Keep what arrived: the client resumes from the offset HEAD reports.
                disconnected = True
            if block:
                await writer.push(block)
            await writer.flush()
            if checksum is not None:
                assert writer.request_hash is not None
                if disconnected or not hmac.compare_digest(writer.request_hash.digest(), checksum[1]):
                    raise TusError(460, "Checksum mismatch: the chunk was damaged; send it again. / Sai mã kiểm tra.")
            await asyncio.to_thread(writer.commit)
        except BaseException:
            await asyncio.to_thread(writer.rollback)
            raise
        if disconnected:
            log.info("tus upload %s: client went away at offset %d", upload.id, upload.offset + size)
        return size

    async def _file_hash(self, upload_id: str, offset: int) -> Any | None:
        """The whole-file hash object covering exactly `offset` bytes, once its last block is hashed; else None."""
        known = self._hashes.get(upload_id)
        if known is None or known[0] != offset:
            return None
        _, digest, pending = known
        if pending is not None:
            try:
                # Shielded: if this request is cancelled, the block must still be hashed (cancelling a queued work
                # item would leave a hash that silently misses it).
                await asyncio.shield(asyncio.wrap_future(pending))
            except Exception:  # not CancelledError (a BaseException): a cancelled request stays cancelled
                log.exception("tus upload %s: hashing failed; the hash is recomputed from the spool", upload_id)
                self._hashes.pop(upload_id, None)
                return None
        return digest

    def _outcome(self, upload: Upload) -> Upload:
        """The upload as it ended: accepted (returned), or the refusal to answer again."""
        if upload.state == "accepted":
            return upload
        if upload.state == "rejected":
            # The same answer as the request that refused it gave (see _finish).
            headers = {"Loa-Footage-Id": upload.footage_id} if upload.footage_id else {}
            raise TusError(422, upload.reason or "The file was refused. / Tệp bị từ chối.", headers)
        raise TusError(410, f"{upload.reason or 'The upload is gone.'} / Lượt tải lên không còn ({upload.state}).")

    async def _finish_once(self, upload: Upload) -> Upload:
        """Finish the received upload, if this request claims it; else wait for the request that did, and answer
        as it did. However many requests (on however many replicas) reach this, the upload is assembled, checked
        and announced once, and each of them gets the one outcome."""
        deadline = time.monotonic() + FINISH_WAIT_S
        waiting = False
        while True:
            claim = new_id()
            now = self.clock()
            if self.store.claim_finish(upload.id, claim, now, now + leases.LEASE_S):
                return await self._finish_claimed(upload, claim)
            current = self.store.get(upload.id)
            if current is None or current.state not in OPEN_STATES:
                return self._outcome(current or replace(upload, state="terminated"))
            if current.state == "receiving":  # the local spool was found short (see _live): bytes are missing
                raise TusError(409, "Bytes are missing; send HEAD and resume. / Thiếu dữ liệu, hãy hỏi lại vị trí.")
            if not waiting:
                log.info("tus upload %s: another request is finishing it; waiting for its outcome", upload.id)
                waiting = True
            if time.monotonic() >= deadline:
                raise TusError(
                    423,
                    "The upload is complete and still being checked; send an empty PATCH at the final offset again."
                    " / Tệp đã nhận đủ và đang được kiểm tra; hãy thử lại sau.",
                    {"Retry-After": "5"},
                )
            await asyncio.sleep(FINISH_POLL_S)

    async def _finish_claimed(self, upload: Upload, claim: str) -> Upload:
        """Finish under `claim`, renewed while the finish runs, and given up when it ends: by then the outcome is
        recorded (which clears the claim), or the finish failed in a way worth retrying and the next request claims."""
        async with leases.held(
            lambda until: self.store.renew_claim(upload.id, claim, until),
            lambda: self.store.release_claim(upload.id, claim),
            self.clock,
            f"tus upload {upload.id}",
        ):
            return await self._finish(upload)

    async def _finish(self, upload: Upload) -> Upload:
        """All bytes are in: validate, store and announce, or refuse and drop the bytes. Only under a claim."""
        assembled: Path | None = None
        try:
            if self.shared is None:
                path = self.store.spool_path(upload.id)
                known = await self._file_hash(upload.id, upload.length)
                self._hashes.pop(upload.id, None)
                sha256 = known.hexdigest() if known is not None else await asyncio.to_thread(sha256_file, path)
            else:
                path, sha256 = await self.shared.assemble(upload)
                assembled = path
            metadata = FootageMetadata.read_json(upload.metadata_json)
            accepted = await self.service.accept(path, sha256, upload.length, metadata, upload.ward)
        except AlreadyUploaded as exc:
            self.store.finish(upload.id, "rejected", reason=str(exc), footage_id=exc.footage_id)
            await self._forget(upload.id)
            # 422 like any refused file, not 409: tus clients (tus-js-client, so Uppy) take a 409 for an offset
            # conflict and retry the upload from the start, which would only be refused again.
            raise TusError(422, str(exc), {"Loa-Footage-Id": exc.footage_id}) from exc
        except RejectedUpload as exc:
            self.store.finish(upload.id, "rejected", reason=str(exc))
            await self._forget(upload.id)
            raise
        except AnnouncementBusy as exc:
            # Another upload of the same file is storing and announcing it: this one's answer is its outcome, later.
            raise TusError(423, str(exc), {"Retry-After": "5"}) from exc
        except Exception as exc:
            # Storage or Kafka failed: the bytes stay, and an empty PATCH at the final offset tries again.
            log.exception("tus upload %s: accepting failed; the client may retry", upload.id)
            raise TusError(
                503,
                "The upload is complete but could not be stored or announced yet; send an empty PATCH at the final "
                "offset to try again. / Chưa lưu được, hãy thử lại.",
                {"Retry-After": "5"},
            ) from exc
        finally:
            if assembled is not None:  # the shared spool's copy (gone if local storage took it by rename)
                assembled.unlink(missing_ok=True)
        if not self.store.finish(upload.id, "accepted", footage_id=accepted.footage_id, duplicate=accepted.duplicate):
            # This claim had lapsed and another request finished the upload first: its outcome is the upload's.
            ended = self.store.get(upload.id)
            assert ended is not None
            return self._outcome(ended)
        await self._forget(upload.id)
        return replace(upload, state="accepted", footage_id=accepted.footage_id, duplicate=accepted.duplicate)

    def _done_response(self, upload: Upload, status: int, extra_headers: dict[str, str]) -> Response:
        assert upload.footage_id is not None
        return Response(
            status_code=status,
            headers={
                **self.base_headers(),
                **extra_headers,
                "Upload-Offset": str(upload.length),
                "Loa-Footage-Id": upload.footage_id,
                "Loa-Duplicate": "true" if upload.duplicate else "false",
            },
        )

    async def terminate(self, upload_id: str, request: Request, caller: Caller) -> Response:
        self.check_version(request)
        upload = await self._live(upload_id, caller)
        if upload.state == "accepted":
            raise TusError(409, "The upload is finished and accepted; it cannot be terminated. / Đã hoàn tất.")
        async with self._lock(upload.id):
            reason = "The upload was terminated by the client."
            ended = self.store.finish(upload.id, "terminated", reason=reason, unclaimed_at=self.clock())
        if not ended:  # it ended meanwhile, or a request (on any replica) is finishing it
            current = self.store.get(upload.id)
            if current is not None and current.state in GONE_STATES:
                raise TusError(410, "The upload is gone. / Lượt tải lên không còn.")
            raise TusError(
                409, "The upload is complete and being accepted; it cannot be terminated. / Đã nhận đủ, không thể hủy."
            )
        await self._forget(upload.id)
        return Response(status_code=204, headers=self.base_headers())

    def status(self, upload: Upload) -> dict[str, object]:
        return {
            "upload_id": upload.id,
            "state": upload.state,
            "offset": upload.offset,
            "length": upload.length,
            "footage_id": upload.footage_id,
            "duplicate": upload.duplicate,
            "reason": upload.reason,
            "ward": upload.ward,
            "metadata": FootageMetadata.read_json(upload.metadata_json).model_dump(mode="json"),
            "created_at": upload.created_at,
            "expires_at": upload.expires_at,
        }


def error_response(exc: TusError) -> JSONResponse:
    return JSONResponse(
        {"detail": str(exc)}, status_code=exc.status, headers={"Tus-Resumable": TUS_VERSION, **exc.headers}
    )
