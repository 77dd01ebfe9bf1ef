"""The state of every resumable (tus) upload: a SQLite row plus a spool file holding the bytes received so far.

The row's `offset` is the truth; the spool file may hold a longer, uncommitted tail after a crash and is cut back
to the row's offset before the next write. Hashes are kept in memory while the process lives and recomputed from
the spool file when it does not (a restart), so the sha256 of a 2 GB upload never needs the upload in memory.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

UploadState = Literal["receiving", "received", "accepted", "rejected", "terminated", "expired"]
# States in which the bytes are gone and the upload answers 404/410.
GONE_STATES = frozenset({"rejected", "terminated", "expired"})


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


_COLUMNS = (
    "id, length, offset, raw_metadata, metadata_json, owner, created_at, expires_at, state, footage_id, duplicate, "
    "reason"
)


def _upload(row: tuple[Any, ...]) -> Upload:
    return Upload(
        id=row[0],
        length=row[1],
        offset=row[2],
        raw_metadata=row[3],
        metadata_json=row[4],
        owner=row[5],
        created_at=row[6],
        expires_at=row[7],
        state=row[8],
        footage_id=row[9],
        duplicate=bool(row[10]),
        reason=row[11],
    )


class UploadStore:
    def __init__(self, db_path: Path, spool_dir: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        spool_dir.mkdir(parents=True, exist_ok=True)
        self.spool_dir = spool_dir
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: no fsync per commit (one per PATCH halved throughput with 16 MiB chunks). A power cut can lose
        # the last offsets; the spool is then longer than the row says and its tail is cut off before the next write,
        # so the client resends those bytes. Nothing is lost that the client does not still have.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, length INTEGER NOT NULL, offset INTEGER NOT NULL,"
            " raw_metadata TEXT NOT NULL, metadata_json TEXT NOT NULL, owner TEXT NOT NULL, created_at REAL NOT NULL,"
            " expires_at REAL NOT NULL, state TEXT NOT NULL, footage_id TEXT, duplicate INTEGER NOT NULL DEFAULT 0,"
            " reason TEXT)"
        )

    def spool_path(self, upload_id: str) -> Path:
        return self.spool_dir / f"{upload_id}.bin"

    def create(self, upload: Upload) -> None:
        self.spool_path(upload.id).touch()
        with self._lock:
            self._db.execute(
                f"INSERT INTO uploads ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",  # noqa: S608 (constant columns)
                (
                    upload.id,
                    upload.length,
                    upload.offset,
                    upload.raw_metadata,
                    upload.metadata_json,
                    upload.owner,
                    upload.created_at,
                    upload.expires_at,
                    upload.state,
                    upload.footage_id,
                    int(upload.duplicate),
                    upload.reason,
                ),
            )

    def get(self, upload_id: str) -> Upload | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM uploads WHERE id=?",  # noqa: S608 (constant columns)
                (upload_id,),
            ).fetchone()
        if row is None:
            return None
        return _upload(row)

    def set_offset(self, upload_id: str, offset: int, expires_at: float, state: UploadState) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE uploads SET offset=?, expires_at=?, state=? WHERE id=?", (offset, expires_at, state, upload_id)
            )

    def finish(
        self,
        upload_id: str,
        state: UploadState,
        *,
        footage_id: str | None = None,
        duplicate: bool = False,
        reason: str | None = None,
    ) -> None:
        """Record the end of an upload and drop its bytes (accepted ones are in storage by now)."""
        with self._lock:
            self._db.execute(
                "UPDATE uploads SET state=?, footage_id=?, duplicate=?, reason=? WHERE id=?",
                (state, footage_id, int(duplicate), reason, upload_id),
            )
        self.spool_path(upload_id).unlink(missing_ok=True)

    def expired_ids(self, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM uploads WHERE state IN ('receiving', 'received') AND expires_at < ?", (now,)
            ).fetchall()
        return [str(r[0]) for r in rows]
