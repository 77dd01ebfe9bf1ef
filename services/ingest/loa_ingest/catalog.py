"""Which content hashes Loa already has: the same file twice is the same footage, never a second run."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class Catalog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS footage (sha256 TEXT PRIMARY KEY, footage_id TEXT NOT NULL, created_at TEXT "
            "NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )

    def find(self, sha256: str) -> str | None:
        row = self._db.execute("SELECT footage_id FROM footage WHERE sha256=?", (sha256,)).fetchone()
        return None if row is None else str(row[0])

    def add(self, sha256: str, footage_id: str) -> None:
        self._db.execute("INSERT INTO footage (sha256, footage_id) VALUES (?, ?)", (sha256, footage_id))
