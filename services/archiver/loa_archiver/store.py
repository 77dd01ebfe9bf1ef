"""The archiver's durable state (SQLite in data_dir): stream keys, pull requests, archives and their segments.

Every stored segment is recorded here in the same step that makes it count, so a recorder killed with SIGKILL
and restarted knows exactly which segments the archive has and goes on numbering after the last one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from loa_core.contracts import new_id

ArchiveState = Literal["recording", "finalizing", "announced", "empty", "failed"]
PullState = Literal["scheduled", "running", "done", "cancelled", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_keys (
    key_id TEXT PRIMARY KEY, channel TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    archive_channels TEXT NOT NULL, highlight_channels TEXT NOT NULL, restream_urls TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS archives (
    archive_id TEXT PRIMARY KEY, source TEXT NOT NULL, owner_id TEXT NOT NULL, channel TEXT NOT NULL,
    title TEXT NOT NULL, archive_channels TEXT NOT NULL, highlight_channels TEXT NOT NULL,
    footage_id TEXT NOT NULL, state TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS segments (
    archive_id TEXT NOT NULL, n INTEGER NOT NULL, key TEXT NOT NULL, duration_s REAL NOT NULL,
    source_seq INTEGER, PRIMARY KEY (archive_id, n)
);
CREATE TABLE IF NOT EXISTS marks (
    archive_id TEXT NOT NULL, idx INTEGER NOT NULL, start_s REAL NOT NULL, end_s REAL NOT NULL, title TEXT,
    footage_id TEXT NOT NULL, PRIMARY KEY (archive_id, idx)
);
-- What an archive's finalize announces, written in one transaction once the archive is assembled and stored;
-- sent_at is set as soon as the broker has acknowledged the event. A finalize redone (after a failure, a stop
-- or a crash) sends only what has no sent_at, so each footage is announced once.
CREATE TABLE IF NOT EXISTS announcements (
    archive_id TEXT NOT NULL, idx INTEGER NOT NULL, footage_id TEXT NOT NULL, event TEXT NOT NULL, sent_at TEXT,
    PRIMARY KEY (archive_id, idx)
);
-- pulls.last_seq is not used: a pull resumes after MAX(segments.source_seq) of its archive, which is written in
-- the same statement as the segment itself.
CREATE TABLE IF NOT EXISTS pulls (
    pull_id TEXT PRIMARY KEY, url TEXT NOT NULL, channel TEXT NOT NULL, title TEXT NOT NULL,
    archive_channels TEXT NOT NULL, highlight_channels TEXT NOT NULL, start_at TEXT NOT NULL, end_at TEXT,
    state TEXT NOT NULL, archive_id TEXT, last_seq INTEGER, error TEXT
);
"""


# Column lists in one place; each query below appends its WHERE/ORDER BY.
_KEY_SELECT = (
    "SELECT key_id, channel, title, archive_channels, highlight_channels, restream_urls, created_at, revoked_at "
    "FROM stream_keys"
)
_ARCHIVE_SELECT = (
    "SELECT archive_id, source, owner_id, channel, title, archive_channels, highlight_channels, footage_id, state, "
    "started_at, ended_at, error FROM archives"
)
_PULL_SELECT = (
    "SELECT pull_id, url, channel, title, archive_channels, highlight_channels, start_at, end_at, state, archive_id, "
    "last_seq, error FROM pulls"
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class StreamKey:
    key_id: str
    channel: str
    title: str
    archive_channels: tuple[str, ...]
    highlight_channels: tuple[str, ...]
    restream_urls: tuple[str, ...]
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class Archive:
    archive_id: str
    source: Literal["rtmp", "hls"]
    owner_id: str  # the stream key id (rtmp) or the pull id (hls)
    channel: str
    title: str
    archive_channels: tuple[str, ...]
    highlight_channels: tuple[str, ...]
    footage_id: str
    state: ArchiveState
    started_at: str
    ended_at: str | None
    error: str | None


@dataclass(frozen=True)
class Segment:
    n: int
    key: str
    duration_s: float
    source_seq: int | None


@dataclass(frozen=True)
class Mark:
    idx: int
    start_s: float
    end_s: float
    title: str | None
    footage_id: str


@dataclass(frozen=True)
class Announcement:
    idx: int
    footage_id: str
    event: bytes  # the footage.uploaded event as it goes on the wire
    sent: bool


@dataclass(frozen=True)
class Pull:
    pull_id: str
    url: str
    channel: str
    title: str
    archive_channels: tuple[str, ...]
    highlight_channels: tuple[str, ...]
    start_at: str
    end_at: str | None
    state: PullState
    archive_id: str | None
    last_seq: int | None
    error: str | None


def _tuple(raw: str) -> tuple[str, ...]:
    return tuple(json.loads(raw))


class ArchiveStore:
    """One SQLite file; every method is a short transaction (safe from the event loop and worker threads)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a segment recorded as stored must survive a power cut, not only a process kill.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _all(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    def _exec(self, sql: str, args: tuple[object, ...] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # --- stream keys
    def add_stream_key(
        self,
        channel: str,
        key_hash: str,
        title: str,
        archive_channels: tuple[str, ...],
        highlight_channels: tuple[str, ...],
        restream_urls: tuple[str, ...],
    ) -> StreamKey:
        key_id = new_id()
        self._exec(
            "INSERT INTO stream_keys VALUES (?,?,?,?,?,?,?,?,NULL)",
            (
                key_id,
                channel,
                key_hash,
                title,
                json.dumps(archive_channels),
                json.dumps(highlight_channels),
                json.dumps(restream_urls),
                _now(),
            ),
        )
        found = self.stream_key(key_id)
        assert found is not None
        return found

    @staticmethod
    def _key(row: tuple[Any, ...]) -> StreamKey:
        return StreamKey(
            key_id=str(row[0]),
            channel=str(row[1]),
            title=str(row[2]),
            archive_channels=_tuple(str(row[3])),
            highlight_channels=_tuple(str(row[4])),
            restream_urls=_tuple(str(row[5])),
            created_at=str(row[6]),
            revoked_at=None if row[7] is None else str(row[7]),
        )

    def stream_key(self, key_id: str) -> StreamKey | None:
        rows = self._all(_KEY_SELECT + " WHERE key_id=?", (key_id,))
        return self._key(rows[0]) if rows else None

    def active_key_by_hash(self, key_hash: str) -> StreamKey | None:
        rows = self._all(_KEY_SELECT + " WHERE key_hash=? AND revoked_at IS NULL", (key_hash,))
        return self._key(rows[0]) if rows else None

    def stream_keys(self) -> list[StreamKey]:
        return [self._key(r) for r in self._all(_KEY_SELECT + " ORDER BY created_at")]

    def revoke_stream_key(self, key_id: str) -> bool:
        return (
            self._exec("UPDATE stream_keys SET revoked_at=? WHERE key_id=? AND revoked_at IS NULL", (_now(), key_id))
            > 0
        )

    # --- archives

    @staticmethod
    def _archive(row: tuple[Any, ...]) -> Archive:
        return Archive(
            archive_id=str(row[0]),
            source=row[1],
            owner_id=str(row[2]),
            channel=str(row[3]),
            title=str(row[4]),
            archive_channels=_tuple(str(row[5])),
            highlight_channels=_tuple(str(row[6])),
            footage_id=str(row[7]),
            state=row[8],
            started_at=str(row[9]),
            ended_at=None if row[10] is None else str(row[10]),
            error=None if row[11] is None else str(row[11]),
        )

    def create_archive(
        self,
        source: Literal["rtmp", "hls"],
        owner_id: str,
        channel: str,
        title: str,
        archive_channels: tuple[str, ...],
        highlight_channels: tuple[str, ...],
    ) -> Archive:
        archive_id = new_id()
        # The footage id is fixed now, so a finalize redone after a crash announces the same footage again,
        # which the pipeline treats as a redelivery, never as a second footage.
        self._exec(
            "INSERT INTO archives VALUES (?,?,?,?,?,?,?,?,'recording',?,NULL,NULL)",
            (
                archive_id,
                source,
                owner_id,
                channel,
                title,
                json.dumps(archive_channels),
                json.dumps(highlight_channels),
                new_id(),
                _now(),
            ),
        )
        found = self.archive(archive_id)
        assert found is not None
        return found

    def archive(self, archive_id: str) -> Archive | None:
        rows = self._all(_ARCHIVE_SELECT + " WHERE archive_id=?", (archive_id,))
        return self._archive(rows[0]) if rows else None

    def archives(self, state: ArchiveState | None = None) -> list[Archive]:
        if state is None:
            rows = self._all(_ARCHIVE_SELECT + " ORDER BY started_at")
        else:
            rows = self._all(_ARCHIVE_SELECT + " WHERE state=? ORDER BY started_at", (state,))
        return [self._archive(r) for r in rows]

    def recording_archive_for(self, owner_id: str) -> Archive | None:
        rows = self._all(_ARCHIVE_SELECT + " WHERE owner_id=? AND state='recording'", (owner_id,))
        return self._archive(rows[0]) if rows else None

    def set_archive_state(self, archive_id: str, state: ArchiveState, error: str | None = None) -> None:
        ended = _now() if state != "recording" else None
        self._exec(
            "UPDATE archives SET state=?, error=?, ended_at=COALESCE(ended_at, ?) WHERE archive_id=?",
            (state, error, ended, archive_id),
        )

    # --- segments
    def add_segment(self, archive_id: str, n: int, key: str, duration_s: float, source_seq: int | None = None) -> None:
        self._exec("INSERT OR REPLACE INTO segments VALUES (?,?,?,?,?)", (archive_id, n, key, duration_s, source_seq))

    def segments(self, archive_id: str) -> list[Segment]:
        rows = self._all(
            "SELECT n, key, duration_s, source_seq FROM segments WHERE archive_id=? ORDER BY n", (archive_id,)
        )
        return [Segment(int(r[0]), str(r[1]), float(r[2]), None if r[3] is None else int(r[3])) for r in rows]

    def next_segment_number(self, archive_id: str) -> int:
        rows = self._all("SELECT MAX(n) FROM segments WHERE archive_id=?", (archive_id,))
        last = rows[0][0]
        return 1 if last is None else int(last) + 1

    def last_source_seq(self, archive_id: str) -> int | None:
        rows = self._all("SELECT MAX(source_seq) FROM segments WHERE archive_id=?", (archive_id,))
        value = rows[0][0]
        return None if value is None else int(value)

    # --- highlight marks
    def add_mark(self, archive_id: str, start_s: float, end_s: float, title: str | None) -> Mark:
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(MAX(idx), 0) FROM marks WHERE archive_id=?", (archive_id,)
            ).fetchone()
            idx = int(row[0]) + 1
            footage_id = new_id()
            self._db.execute(
                "INSERT INTO marks VALUES (?,?,?,?,?,?)", (archive_id, idx, start_s, end_s, title, footage_id)
            )
        return Mark(idx, start_s, end_s, title, footage_id)

    def marks(self, archive_id: str) -> list[Mark]:
        rows = self._all(
            "SELECT idx, start_s, end_s, title, footage_id FROM marks WHERE archive_id=? ORDER BY idx", (archive_id,)
        )
        return [Mark(int(r[0]), float(r[1]), float(r[2]), None if r[3] is None else str(r[3]), str(r[4])) for r in rows]

    # --- announcements (the finalize's outbox)
    def plan_announcements(self, archive_id: str, events: list[tuple[str, bytes]]) -> None:
        """Record the (footage id, event) pairs to announce, all or none; an archive is planned only once."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM announcements WHERE archive_id=?", (archive_id,)).fetchone():
                    raise ValueError(f"archive {archive_id}: announcements are already planned")
                self._db.executemany(
                    "INSERT INTO announcements VALUES (?,?,?,?,NULL)",
                    [(archive_id, i, footage_id, event.decode()) for i, (footage_id, event) in enumerate(events)],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def announcements(self, archive_id: str) -> list[Announcement]:
        rows = self._all(
            "SELECT idx, footage_id, event, sent_at FROM announcements WHERE archive_id=? ORDER BY idx", (archive_id,)
        )
        return [Announcement(int(r[0]), str(r[1]), str(r[2]).encode(), r[3] is not None) for r in rows]

    def mark_announced(self, archive_id: str, idx: int) -> None:
        self._exec("UPDATE announcements SET sent_at=? WHERE archive_id=? AND idx=?", (_now(), archive_id, idx))

    # --- pulls

    @staticmethod
    def _pull(row: tuple[Any, ...]) -> Pull:
        return Pull(
            pull_id=str(row[0]),
            url=str(row[1]),
            channel=str(row[2]),
            title=str(row[3]),
            archive_channels=_tuple(str(row[4])),
            highlight_channels=_tuple(str(row[5])),
            start_at=str(row[6]),
            end_at=None if row[7] is None else str(row[7]),
            state=row[8],
            archive_id=None if row[9] is None else str(row[9]),
            last_seq=None if row[10] is None else int(row[10]),
            error=None if row[11] is None else str(row[11]),
        )

    def add_pull(
        self,
        url: str,
        channel: str,
        title: str,
        archive_channels: tuple[str, ...],
        highlight_channels: tuple[str, ...],
        start_at: datetime,
        end_at: datetime | None,
    ) -> Pull:
        pull_id = new_id()
        self._exec(
            "INSERT INTO pulls VALUES (?,?,?,?,?,?,?,?,'scheduled',NULL,NULL,NULL)",
            (
                pull_id,
                url,
                channel,
                title,
                json.dumps(archive_channels),
                json.dumps(highlight_channels),
                start_at.astimezone(UTC).isoformat(),
                None if end_at is None else end_at.astimezone(UTC).isoformat(),
            ),
        )
        found = self.pull(pull_id)
        assert found is not None
        return found

    def pull(self, pull_id: str) -> Pull | None:
        rows = self._all(_PULL_SELECT + " WHERE pull_id=?", (pull_id,))
        return self._pull(rows[0]) if rows else None

    def pulls(self, state: PullState | None = None) -> list[Pull]:
        if state is None:
            return [self._pull(r) for r in self._all(_PULL_SELECT + " ORDER BY start_at")]
        rows = self._all(_PULL_SELECT + " WHERE state=? ORDER BY start_at", (state,))
        return [self._pull(r) for r in rows]

    def set_pull_state(
        self, pull_id: str, state: PullState, archive_id: str | None = None, error: str | None = None
    ) -> None:
        self._exec(
            "UPDATE pulls SET state=?, archive_id=COALESCE(?, archive_id), error=? WHERE pull_id=?",
            (state, archive_id, error, pull_id),
        )
