"""The durable record of every (footage, channel, cut) post: what makes a redelivered event harmless.

SQLite is the embedded default. A post moves PENDING → POSTED; a row that is POSTED is never posted again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path


class PostState(StrEnum):
    PENDING = "PENDING"
    POSTED = "POSTED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class LedgerEntry:
    footage_id: str
    channel: str
    profile: str
    state: PostState
    post_id: str | None
    url: str | None
    published_at: datetime | None
    error: str | None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    footage_id   TEXT NOT NULL,
    channel      TEXT NOT NULL,
    profile      TEXT NOT NULL,
    state        TEXT NOT NULL,
    post_id      TEXT,
    url          TEXT,
    published_at TEXT,
    error        TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (footage_id, channel, profile)
)
"""


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit: every state change is durable the moment the call returns.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def get(self, footage_id: str, channel: str, profile: str) -> LedgerEntry | None:
        row = self._db.execute(
            "SELECT footage_id, channel, profile, state, post_id, url, published_at, error FROM posts "
            "WHERE footage_id=? AND channel=? AND profile=?",
            (footage_id, channel, profile),
        ).fetchone()
        if row is None:
            return None
        return LedgerEntry(
            row[0],
            row[1],
            row[2],
            PostState(row[3]),
            row[4],
            row[5],
            datetime.fromisoformat(row[6]) if row[6] else None,
            row[7],
        )

    def _upsert(self, footage_id: str, channel: str, profile: str, **fields: str | None) -> None:
        now = datetime.now(UTC).isoformat()
        columns = ["footage_id", "channel", "profile", "updated_at", *fields]
        values = [footage_id, channel, profile, now, *fields.values()]
        updates = ", ".join(f"{c}=excluded.{c}" for c in ["updated_at", *fields])
        self._db.execute(
            f"INSERT INTO posts ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "  # noqa: S608 — column names are ours
            f"ON CONFLICT (footage_id, channel, profile) DO UPDATE SET {updates}",
            values,
        )

    def mark_pending(self, footage_id: str, channel: str, profile: str) -> None:
        self._upsert(footage_id, channel, profile, state=PostState.PENDING.value, error=None)

    def mark_posted(
        self, footage_id: str, channel: str, profile: str, *, post_id: str, url: str, published_at: datetime
    ) -> None:
        self._upsert(
            footage_id,
            channel,
            profile,
            state=PostState.POSTED.value,
            post_id=post_id,
            url=url,
            published_at=published_at.isoformat(),
            error=None,
        )

    def mark_failed(self, footage_id: str, channel: str, profile: str, error: str) -> None:
        self._upsert(footage_id, channel, profile, state=PostState.FAILED.value, error=error)
