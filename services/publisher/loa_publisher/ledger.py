"""The durable record of every (footage, channel, cut) post: what makes a redelivered event or a crash harmless.

A post moves PENDING → UPLOADING (the platform's resumable session is stored here before the first byte is sent)
→ POSTED (with the platform's id). SCHEDULED holds a post until `due_at` (a publish time, or a platform quota
that resets tomorrow); FAILED waits for a person (`loa retry`). A POSTED row is never posted again.

SQLite is the embedded default; PostgreSQL (`postgresql://…`) when replicas share one ledger. Both speak the same
SQL here: `INSERT … ON CONFLICT … DO UPDATE` and conditional `UPDATE … WHERE state = ?` claims.

The same database keeps rotated OAuth refresh tokens (Zalo's change on every refresh and must survive restarts).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from loa_core.contracts import utc_now
from loa_core.streaming import RetryableError


class PostState(StrEnum):
    PENDING = "PENDING"
    UPLOADING = "UPLOADING"
    SCHEDULED = "SCHEDULED"
    POSTED = "POSTED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class PostKey:
    footage_id: str
    channel: str
    profile: str


@dataclass(frozen=True)
class LedgerEntry:
    key: PostKey
    state: PostState
    post_id: str | None
    url: str | None
    published_at: datetime | None
    error: str | None
    session: dict[str, Any] | None
    due_at: datetime | None
    # The renditions.ready event (JSON) that asked for this post: what a held or retried post is re-driven from.
    request: str | None
    # When the current run of transient failures began (None when the last attempt did not fail that way).
    failing_since: datetime | None = None
    # Last write or heartbeat: how another worker tells a live upload from an abandoned one.
    updated_at: datetime | None = None

    @property
    def footage_id(self) -> str:
        return self.key.footage_id

    @property
    def channel(self) -> str:
        return self.key.channel

    @property
    def profile(self) -> str:
        return self.key.profile


_COLUMNS = {
    "footage_id": "TEXT NOT NULL",
    "channel": "TEXT NOT NULL",
    "profile": "TEXT NOT NULL",
    "state": "TEXT NOT NULL",
    "post_id": "TEXT",
    "url": "TEXT",
    "published_at": "TEXT",
    "error": "TEXT",
    "updated_at": "TEXT NOT NULL",
    # Added by the resumable-upload ledger; ALTERed into ledgers created by the first version.
    "session": "TEXT",
    "due_at": "TEXT",
    "request": "TEXT",
    # Added with the give-up time for transient failures.
    "failing_since": "TEXT",
}
_SELECT = (
    "footage_id, channel, profile, state, post_id, url, published_at, error, session, due_at, request, failing_since, "
    "updated_at"
)


def _schema() -> list[str]:
    cols = ",\n    ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())
    return [
        f"CREATE TABLE IF NOT EXISTS posts (\n    {cols},\n    PRIMARY KEY (footage_id, channel, profile)\n)",
        "CREATE TABLE IF NOT EXISTS refresh_tokens "
        "(channel TEXT PRIMARY KEY, token TEXT NOT NULL, updated_at TEXT NOT NULL)",
    ]


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class _Db(Protocol):
    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    def execute_count(self, sql: str, params: tuple[Any, ...] = ()) -> int: ...

    def columns(self) -> set[str]: ...

    def close(self) -> None: ...


class _Sqlite:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit: every state change is durable the moment the call returns.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        # The ledger also keeps refresh tokens: readable by this user only.
        path.chmod(0o600)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def execute_count(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self._db.execute(sql, params).rowcount

    def columns(self) -> set[str]:
        return {row[1] for row in self._db.execute("PRAGMA table_info(posts)")}

    def close(self) -> None:
        self._db.close()


class _Postgres:
    def __init__(self, url: str) -> None:
        import psycopg  # only needed when a PostgreSQL ledger is configured

        self._psycopg = psycopg
        self._url = url
        self._db = psycopg.connect(url, autocommit=True)

    @staticmethod
    def _sql(sql: str) -> str:
        # Our SQL uses sqlite's `?` placeholders and never a literal '?' or '%'.
        return sql.replace("?", "%s")

    def _run(self, sql: str, params: tuple[Any, ...]) -> tuple[list[tuple[Any, ...]], int]:
        """Execute once; a dropped connection (server restart, failover) is reopened and the statement re-run
        once. Every statement is a single autocommitted one, so re-running one that failed is safe. A server
        still away is a RetryableError: the post waits, it does not fail."""
        for attempt in (1, 2):
            try:
                if self._db.closed:
                    self._db = self._psycopg.connect(self._url, autocommit=True)
                with self._db.cursor() as cur:
                    cur.execute(self._sql(sql), params)
                    return (list(cur.fetchall()) if cur.description else []), cur.rowcount
            except self._psycopg.OperationalError as exc:
                with contextlib.suppress(Exception):
                    self._db.close()
                if attempt == 2:
                    raise RetryableError(f"ledger database unavailable: {exc}") from exc
        raise AssertionError("unreachable")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._run(sql, params)[0]

    def execute_count(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self._run(sql, params)[1]

    def columns(self) -> set[str]:
        rows = self.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'posts'")
        return {r[0] for r in rows}

    def close(self) -> None:
        self._db.close()


class Ledger:
    """`Ledger(path)` for SQLite, `Ledger.open("postgresql://…")` for PostgreSQL."""

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = utc_now, _db: _Db | None = None) -> None:
        self._clock = clock
        self._db: _Db = _db if _db is not None else _Sqlite(path)
        # Shared by several workers (PostgreSQL): an in-flight row may belong to another, live worker.
        self.shared = isinstance(self._db, _Postgres)
        for statement in _schema():
            self._db.execute(statement)
        missing = [c for c in _COLUMNS if c not in self._db.columns()]
        for column in missing:
            self._db.execute(f"ALTER TABLE posts ADD COLUMN {column} {_COLUMNS[column]}")
        # After the upgrade: a first-version ledger has no due_at until the ALTER above.
        self._db.execute("CREATE INDEX IF NOT EXISTS posts_due ON posts (state, due_at)")

    @classmethod
    def open(cls, url: str, *, clock: Callable[[], datetime] = utc_now) -> Ledger:
        """`postgresql://…`, `sqlite:///path` or a plain path."""
        if url.startswith(("postgresql://", "postgres://")):
            return cls(Path(), clock=clock, _db=_Postgres(url))
        return cls(Path(url.removeprefix("sqlite://")), clock=clock)

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat()

    def close(self) -> None:
        self._db.close()

    # --- reading

    def _entry(self, row: tuple[Any, ...]) -> LedgerEntry:
        return LedgerEntry(
            key=PostKey(row[0], row[1], row[2]),
            state=PostState(row[3]),
            post_id=row[4],
            url=row[5],
            published_at=_ts(row[6]),
            error=row[7],
            session=json.loads(row[8]) if row[8] else None,
            due_at=_ts(row[9]),
            request=row[10],
            failing_since=_ts(row[11]),
            updated_at=_ts(row[12]),
        )

    def get(self, footage_id: str, channel: str, profile: str) -> LedgerEntry | None:
        rows = self._db.execute(
            f"SELECT {_SELECT} FROM posts WHERE footage_id=? AND channel=? AND profile=?",  # noqa: S608 — ours
            (footage_id, channel, profile),
        )
        return self._entry(rows[0]) if rows else None

    def entries(self, footage_id: str) -> list[LedgerEntry]:
        rows = self._db.execute(
            f"SELECT {_SELECT} FROM posts WHERE footage_id=? ORDER BY channel, profile",  # noqa: S608 — ours
            (footage_id,),
        )
        return [self._entry(r) for r in rows]

    def due(self, now: datetime) -> list[LedgerEntry]:
        """Held posts whose time has come, oldest first."""
        rows = self._db.execute(
            f"SELECT {_SELECT} FROM posts WHERE state=? AND due_at <= ? ORDER BY due_at",  # noqa: S608 — ours
            (PostState.SCHEDULED.value, now.astimezone(UTC).isoformat()),
        )
        return [self._entry(r) for r in rows]

    def next_due(self) -> datetime | None:
        rows = self._db.execute("SELECT MIN(due_at) FROM posts WHERE state=?", (PostState.SCHEDULED.value,))
        return _ts(rows[0][0]) if rows else None

    # --- writing

    def _upsert(self, key: PostKey, **fields: str | None) -> None:
        columns = ["footage_id", "channel", "profile", "updated_at", *fields]
        values = [key.footage_id, key.channel, key.profile, self._now(), *fields.values()]
        updates = ", ".join(f"{c}=excluded.{c}" for c in ["updated_at", *fields])
        self._db.execute(
            f"INSERT INTO posts ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "  # noqa: S608 — ours
            f"ON CONFLICT (footage_id, channel, profile) DO UPDATE SET {updates}",
            tuple(values),
        )

    def mark_pending(self, key: PostKey, request: str) -> None:
        """About to post; keeps any stored upload session so a retry resumes it."""
        self._upsert(key, state=PostState.PENDING.value, error=None, due_at=None, request=request)

    def save_session(self, key: PostKey, session: dict[str, Any]) -> None:
        """The platform's resumable session, durable before any byte of it is sent."""
        self._upsert(key, state=PostState.UPLOADING.value, session=json.dumps(session, sort_keys=True))

    def clear_session(self, key: PostKey) -> None:
        self._db.execute(
            "UPDATE posts SET session=NULL, updated_at=? WHERE footage_id=? AND channel=? AND profile=?",
            (self._now(), key.footage_id, key.channel, key.profile),
        )

    def mark_posted(self, key: PostKey, *, post_id: str, url: str, published_at: datetime) -> None:
        self._upsert(
            key,
            state=PostState.POSTED.value,
            post_id=post_id,
            url=url,
            published_at=published_at.isoformat(),
            error=None,
            due_at=None,
            failing_since=None,
        )

    def mark_failed(self, key: PostKey, error: str, *, keep_session: bool = False) -> None:
        """A post a person must re-drive. After a permanent error the session is dropped (a re-driven post starts
        a fresh upload rather than a dead one); after transient failures it is kept, so `loa retry` resumes it."""
        if keep_session:
            self._upsert(key, state=PostState.FAILED.value, error=error)
        else:
            self._upsert(key, state=PostState.FAILED.value, error=error, session=None)

    def schedule(self, key: PostKey, due_at: datetime, *, request: str, reason: str | None = None) -> None:
        """Hold the post until `due_at` (keeps the stored session: a quota wait resumes the same upload)."""
        self._upsert(
            key,
            state=PostState.SCHEDULED.value,
            due_at=due_at.astimezone(UTC).isoformat(),
            request=request,
            error=reason,
        )

    def hold_failing(
        self, key: PostKey, due_at: datetime, *, request: str, reason: str, failing_since: datetime
    ) -> None:
        """Hold a post whose platform stayed down, remembering when its run of failures began."""
        self._upsert(
            key,
            state=PostState.SCHEDULED.value,
            due_at=due_at.astimezone(UTC).isoformat(),
            request=request,
            error=reason,
            failing_since=failing_since.astimezone(UTC).isoformat(),
        )

    def claim_due(self, key: PostKey) -> bool:
        """Take a held post for posting; False when another worker (or an earlier claim) already took it."""
        count = self._db.execute_count(
            "UPDATE posts SET state=?, updated_at=? WHERE footage_id=? AND channel=? AND profile=? AND state=?",
            (
                PostState.PENDING.value,
                self._now(),
                key.footage_id,
                key.channel,
                key.profile,
                PostState.SCHEDULED.value,
            ),
        )
        return count == 1

    def updated_at(self, key: PostKey) -> datetime | None:
        rows = self._db.execute(
            "SELECT updated_at FROM posts WHERE footage_id=? AND channel=? AND profile=?",
            (key.footage_id, key.channel, key.profile),
        )
        return _ts(rows[0][0]) if rows else None

    def touch(self, key: PostKey) -> None:
        """Heartbeat of a post being uploaded: its row stays fresh, so no one takes it for abandoned."""
        self._db.execute(
            "UPDATE posts SET updated_at=? WHERE footage_id=? AND channel=? AND profile=?",
            (self._now(), key.footage_id, key.channel, key.profile),
        )

    def reclaim_abandoned(self, older_than: timedelta) -> list[PostKey]:
        """In-flight posts (PENDING/UPLOADING) whose heartbeat stopped `older_than` ago: their worker died.

        They become due now, keeping their upload session, so the scheduler resumes them. This is
        what rescues a held post that crashed mid-upload: its renditions.ready was committed long ago and will
        not come back.
        Each row is taken with a conditional UPDATE on the updated_at it was seen with, so one worker wins.
        """
        now = self._clock().astimezone(UTC)
        threshold = (now - older_than).isoformat()
        rows = self._db.execute(
            "SELECT footage_id, channel, profile, updated_at FROM posts "
            "WHERE state IN (?, ?) AND updated_at <= ? AND request IS NOT NULL",
            (PostState.PENDING.value, PostState.UPLOADING.value, threshold),
        )
        reclaimed: list[PostKey] = []
        for footage_id, channel, profile, seen in rows:
            count = self._db.execute_count(
                "UPDATE posts SET state=?, due_at=?, updated_at=? "
                "WHERE footage_id=? AND channel=? AND profile=? AND state IN (?, ?) AND updated_at=?",
                (
                    PostState.SCHEDULED.value,
                    now.isoformat(),
                    now.isoformat(),
                    footage_id,
                    channel,
                    profile,
                    PostState.PENDING.value,
                    PostState.UPLOADING.value,
                    seen,
                ),
            )
            if count == 1:
                reclaimed.append(PostKey(footage_id, channel, profile))
        return reclaimed

    def retry_failed(self, footage_id: str) -> list[PostKey]:
        """`loa retry`: every FAILED post of the footage becomes due now, with a new give-up window."""
        failed = [e.key for e in self.entries(footage_id) if e.state is PostState.FAILED]
        for key in failed:
            self._db.execute(
                "UPDATE posts SET state=?, due_at=?, error=NULL, failing_since=NULL, updated_at=? "
                "WHERE footage_id=? AND channel=? AND profile=? AND state=?",
                (
                    PostState.SCHEDULED.value,
                    self._now(),
                    self._now(),
                    key.footage_id,
                    key.channel,
                    key.profile,
                    PostState.FAILED.value,
                ),
            )
        return failed

    # --- rotating refresh tokens

    def refresh_token(self, channel: str) -> str | None:
        rows = self._db.execute("SELECT token FROM refresh_tokens WHERE channel=?", (channel,))
        return str(rows[0][0]) if rows else None

    def store_refresh_token(self, channel: str, token: str) -> None:
        self._db.execute(
            "INSERT INTO refresh_tokens (channel, token, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (channel) DO UPDATE SET token=excluded.token, updated_at=excluded.updated_at",
            (channel, token, self._now()),
        )
