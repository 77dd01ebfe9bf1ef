"""The shared tus spool (LOA_TUS_SPOOL=shared): every unfinished upload readable by every ingest replica.

Each PATCH's body is received into a scratch file of its own (the same overlapped write and checksum lanes as the
local spool), then stored as one object, a part, under `tus/<upload_id>/` (contracts/layout.py). The upload's row
(loa_ingest/uploads.py) lists its committed parts and is moved on by a conditional update on its offset, so of two
replicas receiving the same range only one commits; the other deletes its part and answers 409. A replica killed
mid-PATCH loses only that PATCH's bytes: the client asks any replica for the offset and resumes there.

When the last byte is in, the parts are read back in order into one local file, hashing them in the same pass (the
sha256 is computed once, over the whole file, on the replica that finishes: a hash state cannot cross replicas).
The file must be local anyway: ffprobe and the decode check read it before anything is stored. It then takes the
local spool's path to raw/<id>/source (S3: boto's parallel multipart upload; a server-side UploadPartCopy of the
parts would save the upload but not the download the checks need, and S3 refuses copied parts under 5 MiB, which
tus chunks often are). raw/ only ever gets the whole, checked file; the parts are deleted when the upload ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from loa_core.contracts import layout, new_id
from loa_core.storage import Storage
from loa_ingest.settings import IngestSettings
from loa_ingest.uploads import Upload

log = logging.getLogger(__name__)
READ_BLOCK = 4 * 1024 * 1024

Part = tuple[str, int]  # storage key, size


class PartsMissing(RuntimeError):
    """A committed part is gone or short in storage: the upload cannot be finished from what is stored."""


class SharedParts:
    """`storage`: the bucket every replica reaches; `scratch`: this replica's disk for one PATCH or one assembly."""

    def __init__(self, storage: Storage, scratch: Path) -> None:
        scratch.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self.scratch = scratch

    def scratch_file(self, suffix: str) -> Path:
        path = self.scratch / f"{new_id()}.{suffix}"
        path.touch()
        return path

    async def store(self, upload: Upload, body: Path, size: int) -> Part | None:
        """Store one PATCH's body (`size` bytes in `body`, removed here) as the part at the upload's offset."""
        try:
            if size == 0:
                return None
            key = layout.tus_part_key(upload.id, upload.offset, new_id())
            await asyncio.to_thread(self.storage.put_file, key, body)
            return key, size
        finally:
            body.unlink(missing_ok=True)

    async def discard(self, part: Part | None) -> None:
        if part is not None:
            await asyncio.to_thread(self.storage.delete, part[0])

    async def assemble(self, upload: Upload) -> tuple[Path, str]:
        """The whole upload in one scratch file, and its sha256."""
        path = self.scratch_file("whole")
        try:
            sha256 = await asyncio.to_thread(self._concatenate, upload.parts, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, sha256

    def _concatenate(self, parts: tuple[Part, ...], path: Path) -> str:
        digest = hashlib.sha256()
        with path.open("wb") as out:
            for key, size in parts:
                copied = 0
                with self.storage.open_read(key) as part:
                    while block := part.read(READ_BLOCK):
                        digest.update(block)
                        out.write(block)
                        copied += len(block)
                if copied != size:
                    raise PartsMissing(f"part {key} holds {copied} bytes, {size} were committed")
        return digest.hexdigest()

    async def drop(self, upload_id: str) -> None:
        """Delete every part of the upload: the committed ones and any a killed replica stored but never committed."""

        def drop_all() -> None:
            for key in self.storage.list(layout.tus_prefix(upload_id)):
                self.storage.delete(key)

        try:
            await asyncio.to_thread(drop_all)
        except Exception:
            # The upload is over either way: its parts are never read again, only left behind.
            log.exception("tus upload %s: its parts could not be deleted", upload_id)


def shared_parts(settings: IngestSettings, storage: Storage) -> SharedParts | None:
    """The shared spool in the service's own storage when LOA_TUS_SPOOL=shared; None: the local spool."""
    if settings.tus_spool != "shared":
        return None
    return SharedParts(storage, settings.data_dir / "ingest-spool" / "tus-scratch")
