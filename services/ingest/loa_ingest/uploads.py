"""The state of every resumable (tus) upload: a row in ingest's database plus a spool file holding the bytes received
so far (loa_ingest/state.py: SQLite, or PostgreSQL shared by replicas; the spool file stays in `spool_dir`), or, with
the shared spool (LOA_TUS_SPOOL=shared, loa_ingest/tus_parts.py), the parts in object storage the row lists.

Every change that replicas could race on is a conditional update of the row (the offset a part extends, the claim on
finishing an upload, the end of an upload), never a lock in one process: of two replicas, one wins and the other
learns it from the row.

The row's `offset` is the truth; the spool file may hold a longer, uncommitted tail after a crash and is cut back
to the row's offset before the next write. Hashes are kept in memory while the process lives and recomputed from
the spool file when it does not (a restart), so the sha256 of a 2 GB upload never needs the upload in memory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Engine,
    Float,
    Integer,
    MetaData,
    Row,
    Table,
    Text,
    insert,
    or_,
    select,
    update,
)

from loa_core import db
from loa_core.contracts import DEFAULT_WARD

UploadState = Literal["receiving", "received", "accepted", "rejected", "terminated", "expired"]
# States in which the bytes are gone and the upload answers 404/410.
GONE_STATES = frozenset({"rejected", "terminated", "expired"})
# States of an upload still open: receiving bytes, or all received and not yet accepted or rejected.
OPEN_STATES = ("receiving", "received")


@dataclass(frozen=True)
class Upload:
    id: str
    length: int
    offset: int
    # The Upload-Metadata header exactly as sent, echoed on HEAD (tus clients compare it).
    raw_metadata: str
    # The validated FootageMetadata as JSON: validated at creation, so no byte is received for bad metadata.
    metadata_json: str
    owner: str
    created_at: float
    expires_at: float
    state: UploadState
    footage_id: str | None = None
    duplicate: bool = False
    reason: str | None = None
    ward: str = DEFAULT_WARD  # the ward the footage will belong to (loa_ingest.metadata.upload_ward)
    # The shared spool's committed parts in order: (storage key, size); they cover exactly `offset` bytes.
    parts: tuple[tuple[str, int], ...] = field(default=())


# The newest revision of the table (loa_ingest/migrations/versions); times are seconds since the epoch.
metadata = MetaData()
uploads = Table(
    "uploads",
    metadata,
    Column("id", Text, primary_key=True),
    Column("length", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("raw_metadata", Text, nullable=False),
    Column("metadata_json", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("state", Text, nullable=False),
    Column("footage_id", Text),
    Column("duplicate", Integer, nullable=False),
    Column("reason", Text),
    Column("ward", Text, nullable=False),
    Column("parts", Text, nullable=False),  # JSON [[key, size], ...]
    # The claim of the one request finishing a received upload (assembling, checking, storing, announcing it), and
    # when that claim lapses unless renewed; both None when no one is finishing it.
    Column("finisher", Text),
    Column("finishing_until", Float),
)


def _unclaimed(now: float) -> ColumnElement[bool]:
    """No request is finishing the upload at `now`: none claimed it, or its claim lapsed (its replica died)."""
    return or_(uploads.c.finishing_until.is_(None), uploads.c.finishing_until < now)


def _upload(row: Row[Any]) -> Upload:
    return Upload(
        id=row.id,
        length=row.length,
        offset=row.offset,
        raw_metadata=row.raw_metadata,
        metadata_json=row.metadata_json,
        owner=row.owner,
        created_at=row.created_at,
        expires_at=row.expires_at,
        state=row.state,
        footage_id=row.footage_id,
        duplicate=bool(row.duplicate),
        reason=row.reason,
        ward=row.ward,
        parts=tuple((str(key), int(size)) for key, size in json.loads(row.parts)),
    )


class UploadStore:
    """`engine`: ingest's database (loa_ingest/state.py); `spool_dir`: where this process keeps the bytes, None when
    they are parts in object storage (the shared spool)."""

    def __init__(self, engine: Engine, spool_dir: Path | None) -> None:
        if spool_dir is not None:
            spool_dir.mkdir(parents=True, exist_ok=True)
        self.spool_dir = spool_dir
        self._engine = engine

    def spool_path(self, upload_id: str) -> Path:
        assert self.spool_dir is not None, "the shared spool keeps no local file"
        return self.spool_dir / f"{upload_id}.bin"

    def create(self, upload: Upload) -> None:
        if self.spool_dir is not None:
            self.spool_path(upload.id).touch()
        values = {**vars(upload), "duplicate": int(upload.duplicate), "parts": json.dumps(upload.parts)}
        db.transaction(self._engine, lambda c: c.execute(insert(uploads).values(values)))

    def get(self, upload_id: str) -> Upload | None:
        query = select(uploads).where(uploads.c.id == upload_id)
        row = db.transaction(self._engine, lambda c: c.execute(query).first())
        return None if row is None else _upload(row)

    def set_offset(self, upload_id: str, offset: int, expires_at: float, state: UploadState) -> None:
        statement = (
            update(uploads).where(uploads.c.id == upload_id).values(offset=offset, expires_at=expires_at, state=state)
        )
        db.transaction(self._engine, lambda c: c.execute(statement))

    def commit_part(self, upload: Upload, part: tuple[str, int] | None, expires_at: float, state: UploadState) -> bool:
        """Move the upload on from `upload.offset` by `part` (None: no bytes, only the expiry and state), if no one
        else moved it meanwhile: a conditional update, so of two replicas writing the same range only one commits.
        False: the offset changed or the upload ended (the caller's part is not the upload's)."""
        parts = (*upload.parts, part) if part is not None else upload.parts
        offset = upload.offset + (part[1] if part is not None else 0)
        statement = (
            update(uploads)
            .where(
                uploads.c.id == upload.id,
                uploads.c.offset == upload.offset,
                uploads.c.state.in_(OPEN_STATES),
            )
            .values(offset=offset, parts=json.dumps(parts), expires_at=expires_at, state=state)
        )
        return db.transaction(self._engine, lambda c: c.execute(statement).rowcount) == 1

    def claim_finish(self, upload_id: str, claim: str, now: float, until: float) -> bool:
        """Claim the finishing of a received upload until `until`, unless another request holds a live claim on it."""
        statement = (
            update(uploads)
            .where(uploads.c.id == upload_id, uploads.c.state == "received", _unclaimed(now))
            .values(finisher=claim, finishing_until=until)
        )
        return db.transaction(self._engine, lambda c: c.execute(statement).rowcount) == 1

    def renew_claim(self, upload_id: str, claim: str, until: float) -> bool:
        """Keep the claim while its work goes on; False if it was taken over meanwhile (it had lapsed)."""
        statement = (
            update(uploads).where(uploads.c.id == upload_id, uploads.c.finisher == claim).values(finishing_until=until)
        )
        return db.transaction(self._engine, lambda c: c.execute(statement).rowcount) == 1

    def release_claim(self, upload_id: str, claim: str) -> None:
        """Give the claim up without an outcome (the finish failed in a way worth retrying): the next request claims."""
        statement = (
            update(uploads)
            .where(uploads.c.id == upload_id, uploads.c.finisher == claim)
            .values(finisher=None, finishing_until=None)
        )
        db.transaction(self._engine, lambda c: c.execute(statement))

    def finish(
        self,
        upload_id: str,
        state: UploadState,
        *,
        footage_id: str | None = None,
        duplicate: bool = False,
        reason: str | None = None,
        unclaimed_at: float | None = None,
    ) -> bool:
        """Record the end of an open upload and drop its bytes (accepted ones are in storage by now). False, and
        nothing changed, if it had ended already, or (`unclaimed_at`: for an end that is not the finish's own, an
        expiry or a termination) if a request is finishing it at that time."""
        condition = [uploads.c.id == upload_id, uploads.c.state.in_(OPEN_STATES)]
        if unclaimed_at is not None:
            condition.append(_unclaimed(unclaimed_at))
        statement = (
            update(uploads)
            .where(*condition)
            .values(
                state=state,
                footage_id=footage_id,
                duplicate=int(duplicate),
                reason=reason,
                finisher=None,
                finishing_until=None,
            )
        )
        ended = db.transaction(self._engine, lambda c: c.execute(statement).rowcount) == 1
        if ended and self.spool_dir is not None:
            self.spool_path(upload_id).unlink(missing_ok=True)
        return ended

    def expired_ids(self, now: float | None = None) -> list[str]:
        """Open uploads past their expiry that no request is finishing."""
        now = time.time() if now is None else now
        query = select(uploads.c.id).where(
            uploads.c.state.in_(OPEN_STATES), uploads.c.expires_at < now, _unclaimed(now)
        )
        return [str(i) for i in db.transaction(self._engine, lambda c: c.execute(query).scalars().all())]
