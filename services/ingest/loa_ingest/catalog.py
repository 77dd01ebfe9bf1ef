"""Which content hashes Loa already has: the same file twice is the same footage, never a second run.

The catalog is also ingest's outbox for announcements. A footage's id and its whole `footage.uploaded` event are
recorded here (pending) before the event is sent, and marked announced after. A crash between the send and the
mark leaves a pending row, which is sent again as recorded (same footage id, same event id) at the next start or
by the next upload of the same file: consumers may see the event twice, but never a second footage for the file.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from loa_core.contracts import FootageUploaded


@dataclass(frozen=True)
class Entry:
    footage_id: str
    # The event as recorded before it was sent; None only for rows written before events were recorded.
    event: FootageUploaded | None
    announced: bool


class Catalog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS footage (sha256 TEXT PRIMARY KEY, footage_id TEXT NOT NULL, created_at TEXT "
            "NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(footage)")}
        if "event" not in columns:
            # Rows from before the outbox were written after their send: announced, event not kept.
            self._db.execute("ALTER TABLE footage ADD COLUMN event TEXT")
            self._db.execute("ALTER TABLE footage ADD COLUMN announced INTEGER NOT NULL DEFAULT 1")

    def find(self, sha256: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT footage_id, event, announced FROM footage WHERE sha256=?", (sha256,)
            ).fetchone()
        if row is None:
            return None
        event = None if row[1] is None else FootageUploaded.from_bytes(row[1].encode())
        return Entry(footage_id=str(row[0]), event=event, announced=bool(row[2]))

    def reserve(self, event: FootageUploaded) -> bool:
        """Record the footage (pending) before its event is sent; False if the file already has a footage."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO footage (sha256, footage_id, event, announced) VALUES (?, ?, ?, 0) "
                "ON CONFLICT (sha256) DO NOTHING",
                (event.media.sha256, event.footage_id, event.to_bytes().decode()),
            )
        return cursor.rowcount == 1

    def mark_announced(self, sha256: str) -> None:
        with self._lock:
            self._db.execute("UPDATE footage SET announced=1 WHERE sha256=?", (sha256,))

    def pending(self) -> list[FootageUploaded]:
        """Recorded but not known to be sent: a crash or a failed send came in between."""
        with self._lock:
            rows = self._db.execute("SELECT event FROM footage WHERE announced=0 ORDER BY created_at").fetchall()
        return [FootageUploaded.from_bytes(row[0].encode()) for row in rows]
