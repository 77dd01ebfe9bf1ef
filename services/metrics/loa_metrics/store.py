"""The one SQLite file behind the metrics service: its schema, its migrations and the lock around its connection.

The write model (`projector`), the read views (`views`) and the engagement store (`engagement_store`) share it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS footage (
    footage_id    TEXT PRIMARY KEY,
    title         TEXT,
    series        TEXT,
    channels      TEXT,          -- JSON list
    source        TEXT,
    uploaded_at   TEXT,
    transcoded_at TEXT,
    renditions    TEXT,          -- JSON list of {profile, key, width, height, duration_s}
    published_counted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS posts (
    footage_id   TEXT NOT NULL,
    channel      TEXT NOT NULL,
    profile      TEXT NOT NULL,
    platform     TEXT NOT NULL,
    post_id      TEXT,
    url          TEXT,
    published_at TEXT,
    PRIMARY KEY (footage_id, channel, profile)
);
CREATE TABLE IF NOT EXISTS failures (
    event_id   TEXT PRIMARY KEY,  -- a redelivered failure is recorded once
    footage_id TEXT,
    stage      TEXT NOT NULL,
    channel    TEXT,
    reason     TEXT NOT NULL,
    at         TEXT NOT NULL
);
-- The poller updates posts by platform id; a failure is looked up by footage.
CREATE INDEX IF NOT EXISTS posts_by_platform_id ON posts (platform, post_id);
CREATE INDEX IF NOT EXISTS failures_by_footage ON failures (footage_id);
-- Views of each post at the end of each UTC day it was polled (the last poll of the day wins): what a report
-- needs to tell the views gained within a period from the lifetime total.
CREATE TABLE IF NOT EXISTS post_views_daily (
    platform TEXT NOT NULL,
    post_id  TEXT NOT NULL,
    day      TEXT NOT NULL,  -- YYYY-MM-DD (UTC)
    views    INTEGER NOT NULL,
    PRIMARY KEY (platform, post_id, day)
);
-- Followers per channel, from the platform's account endpoint (latest poll only).
CREATE TABLE IF NOT EXISTS channel_stats (
    channel   TEXT PRIMARY KEY,
    platform  TEXT NOT NULL,
    followers INTEGER NOT NULL,
    polled_at TEXT NOT NULL
);
"""

# Columns added after the first release; an older database gets them on open (SQLite has no ADD IF MISSING).
_ADDED_COLUMNS = {
    "footage": {"source_bytes": "INTEGER"},
    "posts": {
        "views": "INTEGER",
        "likes": "INTEGER",
        "comments": "INTEGER",
        "shares": "INTEGER",
        "stats_at": "TEXT",  # when the platform last answered for this post
        # When the publisher announced the post (the event's time, in the clock its failures use); rows from
        # before this column fall back to published_at.
        "announced_at": "TEXT",
    },
}


def ts(moment: datetime) -> str:
    """Stored times are UTC ISO strings, so text order is time order and the first 10 characters are the UTC day."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())


def day_range(column: str, date_from: date | None, date_to: date | None, where: list[str], params: list[Any]) -> None:
    """Add an inclusive filter on the UTC day of an ISO timestamp column (its first 10 characters)."""
    if date_from is not None:
        where.append(f"substr({column}, 1, 10) >= ?")
        params.append(date_from.isoformat())
    if date_to is not None:
        where.append(f"substr({column}, 1, 10) <= ?")
        params.append(date_to.isoformat())


class Database:
    """One connection, serialised by one lock; `version` counts the writes, so readers can cache between them."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # FastAPI's test client and the Prometheus collector may call in from another thread than the loop;
        # one lock serialises every use of the one connection.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # A read model: with WAL, NORMAL loses nothing when the process dies, only the last commits on a power
        # cut, and replaying the topics (a new consumer group) rebuilds it. FULL fsyncs every event, which
        # capped catching up at ~100-150 events/s on the test machine (bench/metrics_scrape.py).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        for table, columns in _ADDED_COLUMNS.items():
            present = {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns.items():
                if name not in present:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        self._version = 0

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        """A write (it moves `version` on)."""
        with self._lock:
            self._version += 1
            return self._db.execute(sql, tuple(params))

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, tuple(params)).fetchall()]
