"""Accept one upload: validate it, store it, announce it. Nothing is announced for a refused file."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loa_core.contracts import FOOTAGE_UPLOADED, FootageMetadata, FootageUploaded, SourceMedia, layout, new_id
from loa_core.kafka import EventProducer
from loa_core.media import MediaError, probe, run_ffmpeg
from loa_core.provenance import ProvenanceError
from loa_core.storage import LocalStorage, Storage, validate_key
from loa_ingest import leases, metrics
from loa_ingest.catalog import Catalog
from loa_ingest.duplicates import already_uploaded, changed_details
from loa_ingest.settings import IngestSettings
from loa_ingest.validation import RejectedUpload, media_problems, trim_problems

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
# How long an upload waits for another request storing and announcing the same file before it gives up (and its
# client retries), and how often it looks at the footage's row meanwhile.
ANNOUNCE_WAIT_S = 30.0
ANNOUNCE_POLL_S = 0.2


class AnnouncementBusy(Exception):
    """Another request is still storing and announcing this file: worth retrying shortly."""


@dataclass(frozen=True)
class Accepted:
    footage_id: str
    duplicate: bool


class IngestService:
    def __init__(
        self,
        settings: IngestSettings,
        storage: Storage,
        producer: EventProducer,
        catalog: Catalog,
        sign_source: Callable[[Path, FootageUploaded], bytes] | None = None,
    ) -> None:
        self.settings = settings
        # The raw footage's C2PA manifest, kept beside it (loa_ingest/provenance_keys.py); None: not signed.
        self.sign_source = sign_source
        self.storage = storage
        self.producer = producer
        self.catalog = catalog
        self.clock: Callable[[], float] = time.time  # for the claims on announcements (seconds since the epoch)
        self.spool_dir = settings.data_dir / "ingest-spool"
        self.spool_dir.mkdir(parents=True, exist_ok=True)

    async def accept(self, path: Path, sha256: str, size: int, metadata: FootageMetadata, ward: str) -> Accepted:
        """Accept the file at `path` (whose sha256 and size the caller measured while receiving it) as footage of
        `ward` (the same file in two wards is two footage: neither ward learns of the other's).

        Raises RejectedUpload for a file Loa cannot use and AlreadyUploaded for a file that already is footage
        with other details; anything else (storage, Kafka) is worth retrying, and a retry keeps the footage id.
        """
        entry = self.catalog.find(sha256, ward)
        if entry is None:
            try:
                accepted = await self._accept_new(path, sha256, size, metadata, ward)
            except RejectedUpload:
                metrics.UPLOADS.labels("rejected").inc()
                raise
            if accepted is not None:
                metrics.UPLOADS.labels("accepted").inc()
                metrics.BYTES_STORED.inc(size)
                return accepted
            entry = self.catalog.find(
                sha256, ward
            )  # another upload of the same file was recorded while this was checked
            assert entry is not None
        first_answer = False
        if not entry.announced:
            # Recorded but not known to be sent: another request is storing and announcing it (then its outcome is
            # this one's), or it crashed or its send failed (then this one finishes it as recorded, with these bytes
            # if the stored copy was given back). The first successful answer for this footage is not a duplicate.
            assert entry.event is not None
            first_answer = await self._finish_recorded(entry.event, path)
        existing = entry.event.metadata if entry.event is not None else None
        changed = changed_details(existing, metadata)
        if changed:
            metrics.UPLOADS.labels("conflict").inc()
            raise already_uploaded(entry.footage_id, existing, changed)
        metrics.UPLOADS.labels("accepted" if first_answer else "duplicate").inc()
        return Accepted(entry.footage_id, duplicate=not first_answer)

    async def announce_pending(self) -> int:
        """Send every recorded announcement not known to be sent (at start, and periodically); how many were sent.

        One that a request is storing and announcing right now is left to it; one whose source was given back after
        a failed send waits for its upload to be retried.
        """
        sent = 0
        for event in self.catalog.pending():
            claim, now = new_id(), self.clock()
            if not self.catalog.claim(event, claim, now, now + leases.LEASE_S):
                continue
            try:
                if await asyncio.to_thread(self.storage.exists, event.media.key):
                    await self._announce(event)
                    sent += 1
            finally:
                self.catalog.release(event, claim)
        return sent

    async def _finish_recorded(self, event: FootageUploaded, path: Path) -> bool:
        """Store and announce a recorded footage not known to be sent, if this request claims it (True); else wait
        until the request that did has announced it (False: this upload is a duplicate of that one), or has given
        up (then claim it). However many uploads of the file reach this, on however many replicas, one at a time
        stores and announces it."""
        deadline = time.monotonic() + ANNOUNCE_WAIT_S
        waiting = False
        while True:
            claim, now = new_id(), self.clock()
            if self.catalog.claim(event, claim, now, now + leases.LEASE_S):
                async with self._holding(event, claim):
                    await self._finish_announcement(event, path, claim)
                return True
            current = self.catalog.find(event.media.sha256, event.ward)
            if current is not None and current.announced:
                return False
            if not waiting:
                log.info("footage %s: another request is announcing it; waiting for its outcome", event.footage_id)
                waiting = True
            if time.monotonic() >= deadline:
                raise AnnouncementBusy(
                    "The same file is being stored by another upload; send it again shortly."
                    " / Tệp này đang được lưu bởi một lượt tải lên khác; hãy gửi lại sau ít phút."
                )
            await asyncio.sleep(ANNOUNCE_POLL_S)

    def _holding(self, event: FootageUploaded, claim: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the claim on announcing `event` while the body runs."""
        return leases.held(
            lambda until: self.catalog.renew(event, claim, until),
            lambda: self.catalog.release(event, claim),
            self.clock,
            f"footage {event.footage_id}",
        )

    async def _accept_new(
        self, path: Path, sha256: str, size: int, metadata: FootageMetadata, ward: str
    ) -> Accepted | None:
        """Check, record, store and announce a file Loa has not seen; None if another upload recorded it first."""
        if size == 0:
            raise RejectedUpload("The file is empty. / Tệp rỗng.")
        try:
            found = await probe(path)
        except MediaError as exc:
            raise RejectedUpload("The file is not a video ffmpeg can read. / Tệp không phải video đọc được.") from exc
        problems = media_problems(found, self.settings) + trim_problems(metadata, found.duration_s)
        subtitles = metadata.subtitles_key
        if subtitles is not None and not await asyncio.to_thread(self.storage.exists, subtitles):
            problems.append(f"No subtitles stored at {subtitles}: send the SRT file first. / Chưa có tệp phụ đề này.")
        if problems:
            raise RejectedUpload(" ".join(problems))
        await _check_decodable(path)
        video = found.video
        assert video is not None and video.width and video.height
        footage_id = new_id()
        event = FootageUploaded(
            footage_id=footage_id,
            ward=ward,
            metadata=metadata,
            media=SourceMedia(
                key=layout.source_key(footage_id),
                size_bytes=size,
                sha256=sha256,
                duration_s=found.duration_s,
                width=video.width,
                height=video.height,
                has_audio=found.has_audio,
            ),
        )
        # The footage id is decided once per file, here: recorded before anything is stored or sent, so whatever
        # happens next (a crash, a failed send, a retry) can only finish this footage, never start a second one.
        claim = new_id()
        if not self.catalog.reserve(event, claim, self.clock() + leases.LEASE_S):
            return None
        async with self._holding(event, claim):
            await self._keep_source_manifest(event, path, found.format_name)
            await self._finish_announcement(event, path, claim)
        log.info("accepted footage %s (%d bytes, %.1f s)", footage_id, size, found.duration_s)
        return Accepted(footage_id, duplicate=False)

    async def _keep_source_manifest(self, event: FootageUploaded, path: Path, format_name: str) -> None:
        """Sign the raw footage as received (a sidecar manifest at raw/<id>/source.c2pa). Evidence, not a gate: a
        container C2PA cannot bind (an MKV, a transport stream) or a failure is logged and the upload goes on."""
        if self.sign_source is None:
            return
        if "mp4" not in format_name.split(","):
            log.info("footage %s: no C2PA manifest for a %s source (C2PA binds MP4/MOV)", event.footage_id, format_name)
            return
        try:
            manifest = await asyncio.to_thread(self.sign_source, path, event)
            key = layout.source_manifest_key(event.footage_id)
            await asyncio.to_thread(self.storage.put_stream, key, [manifest])
        except (ProvenanceError, OSError) as exc:
            log.warning("footage %s: its source was not signed: %s", event.footage_id, exc)

    async def _finish_announcement(self, event: FootageUploaded, path: Path, claim: str) -> None:
        """Store the source (unless it already is) and announce it, under `claim`; on a failed send, give back the
        bytes this request stored, if the claim is still its own (else another request may have announced them)."""
        key = event.media.key
        stored = moved = False
        if not await asyncio.to_thread(self.storage.exists, key):
            moved = await asyncio.to_thread(self._store, key, path)
            stored = True
        try:
            await self.producer.send(FOOTAGE_UPLOADED, event)
        except Exception:
            # Not announced: give the bytes back to the spool, so a retry of the upload has them (and keeps this
            # footage id), and leave no stray object. Should the send have reached Kafka after all, the retry sends
            # the same event again: same footage id, same event id. A source this request did not store, or whose
            # claim it lost (its lease lapsed), is left where it is: the next claim announces it.
            if stored and self.catalog.renew(event, claim, self.clock() + leases.LEASE_S):
                if moved:
                    await asyncio.to_thread(self._local_target(key).replace, path)
                else:
                    await asyncio.to_thread(self.storage.delete, key)
            raise
        self.catalog.mark_announced(event)

    async def _announce(self, event: FootageUploaded) -> None:
        await self.producer.send(FOOTAGE_UPLOADED, event)
        self.catalog.mark_announced(event)

    def _local_target(self, key: str) -> Path:
        assert isinstance(self.storage, LocalStorage)
        return self.storage.root / validate_key(key)

    def _store(self, key: str, path: Path) -> bool:
        """Hand the validated spool file to storage; True if it was moved rather than copied.

        On local storage on the same filesystem the spool file is renamed into place: atomic like the storage's
        own writes, and a 2 GB upload is not copied a second time. Otherwise (S3, or another filesystem) it is
        copied with put_file, the storage's own upload of a local file. On S3 that is boto's multipart upload_file:
        several 8 MiB parts in flight, each read from the file while it is sent rather than held in memory, so it is
        both faster than put_stream's one part at a time (~2x on MinIO) and lighter (ingest's peak RSS 138 -> 125
        MiB for a 1 GiB upload; put_stream keeps each part in memory, with copies of it).
        """
        if isinstance(self.storage, LocalStorage):
            target = self._local_target(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                path.replace(target)
                return True
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        self.storage.put_file(key, path)
        return False


async def _check_decodable(path: Path) -> None:
    """Decode the first and the last second of video: a truncated or damaged file fails here, not in transcode.

    ffprobe reads only headers, so an MP4 cut short after its moov atom still probes fine; decoding both ends
    catches it at the cost of two seconds of decoding, whatever the file's length.
    """
    common = ["-v", "error", "-xerror", "-i", f"file:{path}", "-map", "0:v:0", "-f", "null", "-"]
    for position in (["-t", "1"], ["-sseof", "-1"]):
        try:
            await run_ffmpeg([*position, *common])
        except MediaError as exc:
            raise RejectedUpload(
                "The file is not a video that decodes: it is truncated or damaged. / Video bị hỏng hoặc không đầy đủ."
            ) from exc


class SpooledUpload:
    """Writes an incoming body to a spool file in bounded memory, hashing as it goes."""

    def __init__(self, spool_dir: Path, max_bytes: int) -> None:
        self.path = spool_dir / f"{new_id()}.part"
        self._file = self.path.open("wb")
        self._hash = hashlib.sha256()
        self._max = max_bytes
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._max:
            raise RejectedUpload(f"The file is larger than {self._max} bytes. / Tệp quá lớn.")
        self._hash.update(chunk)
        self._file.write(chunk)

    def close(self) -> str:
        self._file.close()
        return self._hash.hexdigest()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
