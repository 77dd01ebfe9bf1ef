"""Project every pipeline event into a queryable status per footage and per post (SQLite).

Topics are consumed independently, so events of one footage can arrive in any order: every method
creates the footage row first and only fills what is still empty, which also makes redelivery harmless.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from loa_core.channels import Channel
from loa_core.contracts import DeadLetter, FootageUploaded, PostFailed, PostPublished, RenditionsReady

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
    },
}

# The statuses GET /footage?status= accepts, in pipeline order.
STATUSES = ("unknown", "uploaded", "transcoded", "publishing", "published", "failed")
# Statuses of footage still on its way through the pipeline.
WAITING = ("uploaded", "transcoded", "publishing")
NO_SERIES = "none"


def footage_status(
    row: Mapping[str, Any],
    posts: list[dict[str, Any]],
    failures: list[dict[str, Any]],
    expected_posts: set[tuple[str, str]],
) -> str:
    """One word for where a footage is (pure): failed, published, publishing, transcoded, uploaded."""
    if failures:
        return "failed"
    published = {(p["channel"], p["profile"]) for p in posts}
    if row.get("transcoded_at") and expected_posts and expected_posts <= published:
        return "published"
    if published:
        return "publishing"
    if row.get("transcoded_at"):
        return "transcoded"
    return "uploaded" if row.get("uploaded_at") else "unknown"


def expected_posts_for(
    channel_names: list[str], renditions: list[dict[str, Any]], channels: Mapping[str, Channel]
) -> set[tuple[str, str]]:
    produced = {r["profile"] for r in renditions}
    return {(name, p) for name in channel_names if name in channels for p in channels[name].profiles if p in produced}


def _ts(moment: datetime) -> str:
    """Stored times are UTC ISO strings, so text order is time order and the first 10 characters are the UTC day."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())


@dataclass(frozen=True)
class PostRef:
    """A published post the engagement poller asks the platform about."""

    footage_id: str
    channel: str
    profile: str
    platform: str
    post_id: str
    published_at: str
    stats_at: str | None


@dataclass(frozen=True)
class PostStats:
    views: int
    likes: int
    comments: int
    shares: int | None  # YouTube has no public share count


@dataclass(frozen=True)
class EngagementRow:
    """Totals of one (channel, series) over a set of posts."""

    channel: str
    platform: str
    series: str
    posts: int
    views: int
    likes: int
    comments: int
    shares: int


def _day_range(column: str, date_from: date | None, date_to: date | None, where: list[str], params: list[Any]) -> None:
    """Add an inclusive filter on the UTC day of an ISO timestamp column (its first 10 characters)."""
    if date_from is not None:
        where.append(f"substr({column}, 1, 10) >= ?")
        params.append(date_from.isoformat())
    if date_to is not None:
        where.append(f"substr({column}, 1, 10) <= ?")
        params.append(date_to.isoformat())


class Projection:
    def __init__(self, path: Path, channels: Mapping[str, Channel]) -> None:
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
        self._channels = channels
        self._generation = 0
        self._summary: tuple[int, dict[str, int], str | None] | None = None

    @property
    def channels(self) -> Mapping[str, Channel]:
        return self._channels

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        """A write that may change a footage's status (the status summary is cached until the next one)."""
        with self._lock:
            self._generation += 1
            return self._db.execute(sql, tuple(params))

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(sql, tuple(params)).fetchall()]

    def _ensure_row(self, footage_id: str) -> None:
        # Topics are consumed independently, so a post may arrive before its upload: create the row first.
        self._execute("INSERT OR IGNORE INTO footage (footage_id) VALUES (?)", (footage_id,))

    # --- events in -------------------------------------------------------------------------------------

    def footage_uploaded(self, event: FootageUploaded) -> bool:
        self._ensure_row(event.footage_id)
        cur = self._execute(
            "UPDATE footage SET title=?, series=?, channels=?, source=?, uploaded_at=?, source_bytes=? "
            "WHERE footage_id=? AND uploaded_at IS NULL",
            (
                event.metadata.title,
                event.metadata.series,
                json.dumps(list(event.metadata.channels)),
                event.source,
                _ts(event.occurred_at),
                event.media.size_bytes,
                event.footage_id,
            ),
        )
        return cur.rowcount > 0

    def renditions_ready(self, event: RenditionsReady) -> bool:
        self._ensure_row(event.footage_id)
        renditions = [
            r.model_dump(include={"profile", "key", "width", "height", "duration_s", "size_bytes"})
            for r in event.renditions
        ]
        cur = self._execute(
            "UPDATE footage SET transcoded_at=?, renditions=?, title=COALESCE(title, ?), "
            "series=COALESCE(series, ?), channels=COALESCE(channels, ?) "
            "WHERE footage_id=? AND transcoded_at IS NULL",
            (
                _ts(event.occurred_at),
                json.dumps(renditions),
                event.metadata.title,
                event.metadata.series,
                json.dumps(list(event.metadata.channels)),
                event.footage_id,
            ),
        )
        return cur.rowcount > 0

    def post_published(self, event: PostPublished) -> bool:
        self._ensure_row(event.footage_id)
        cur = self._execute(
            "INSERT OR IGNORE INTO posts (footage_id, channel, profile, platform, post_id, url, published_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event.footage_id,
                event.channel,
                event.profile,
                event.platform,
                event.post_id,
                event.url,
                _ts(event.published_at),
            ),
        )
        return cur.rowcount > 0

    def failure(self, event: PostFailed | DeadLetter) -> bool:
        footage_id: str | None
        channel: str | None
        if isinstance(event, PostFailed):
            footage_id, stage, channel = event.footage_id, "publish", event.channel
        else:
            footage_id, stage, channel = event.footage_id, event.origin_service, None
        if footage_id:
            self._ensure_row(footage_id)
        cur = self._execute(
            "INSERT OR IGNORE INTO failures VALUES (?, ?, ?, ?, ?, ?)",
            (event.event_id, footage_id, stage, channel, event.reason, _ts(event.occurred_at)),
        )
        return cur.rowcount > 0

    def mark_published_once(self, footage_id: str) -> bool:
        """True the first time a footage is seen fully published, so the counter counts it once."""
        view = self.footage(footage_id)
        if view is None or view["status"] != "published":
            return False
        cur = self._execute(
            "UPDATE footage SET published_counted=1 WHERE footage_id=? AND published_counted=0", (footage_id,)
        )
        return cur.rowcount > 0

    # --- views out -------------------------------------------------------------------------------------

    def footage(self, footage_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM footage WHERE footage_id=?", (footage_id,))
        return self._view(rows[0]) if rows else None

    def _plan(self, row: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]], set[tuple[str, str]]]:
        """A footage row's channels, renditions and the (channel, cut) posts they call for."""
        channel_names = json.loads(row["channels"]) if row["channels"] else []
        renditions = json.loads(row["renditions"]) if row["renditions"] else []
        return channel_names, renditions, expected_posts_for(channel_names, renditions, self._channels)

    def _view(self, data: dict[str, Any]) -> dict[str, Any]:
        footage_id = data["footage_id"]
        posts = self._rows(
            "SELECT channel, profile, platform, post_id, url, published_at, views, likes, comments, shares, stats_at "
            "FROM posts WHERE footage_id=? ORDER BY channel, profile",
            (footage_id,),
        )
        failures = self._rows(
            "SELECT stage, channel, reason, at FROM failures WHERE footage_id=? ORDER BY at", (footage_id,)
        )
        channel_names, renditions, expected = self._plan(data)
        return {
            "footage_id": footage_id,
            "title": data["title"],
            "series": data["series"],
            "source": data["source"],
            "channels": channel_names,
            "status": footage_status(data, posts, failures, expected),
            "stages": {
                "uploaded": {"at": data["uploaded_at"]},
                "transcoded": {"at": data["transcoded_at"], "renditions": renditions},
                "published": {"posts": posts, "expected": len(expected)},
            },
            "errors": failures,
        }

    def list_footage(
        self,
        *,
        status: str | None = None,
        series: str | None = None,
        channel: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Newest first. Dates are inclusive and compare the upload day (UTC)."""
        where: list[str] = ["1=1"]
        params: list[Any] = []
        if series is not None:
            where.append("series = ?")
            params.append(series)
        if channel is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(footage.channels) WHERE value = ?)")
            params.append(channel)
        _day_range("uploaded_at", date_from, date_to, where, params)
        rows = self._rows(
            f"SELECT * FROM footage WHERE {' AND '.join(where)} ORDER BY uploaded_at DESC, footage_id",  # noqa: S608
            params,
        )
        # The status is derived, not stored: computed for all matching rows in bulk (three queries), then only
        # the requested page is expanded into full views.
        statuses = self._statuses(rows)
        matching = [r for r in rows if status is None or statuses[r["footage_id"]] == status]
        return [self._view(r) for r in matching[offset : offset + limit]]

    def _statuses(self, rows: list[dict[str, Any]]) -> dict[str, str]:
        posts: dict[str, list[dict[str, Any]]] = {}
        for p in self._rows("SELECT footage_id, channel, profile FROM posts"):
            posts.setdefault(p["footage_id"], []).append(p)
        failed = {r["footage_id"] for r in self._rows("SELECT DISTINCT footage_id FROM failures")}
        out = {}
        for row in rows:
            fid = row["footage_id"]
            _, _, expected = self._plan(row)
            out[fid] = footage_status(row, posts.get(fid, []), [{}] if fid in failed else [], expected)
        return out

    def status_summary(self) -> tuple[dict[str, int], str | None]:
        """How many footage are in each status, and the upload time of the oldest one still waiting.

        Every scrape asks; between two events the answer is the same, so it is computed once per change.
        """
        with self._lock:
            generation = self._generation
            if self._summary is not None and self._summary[0] == generation:
                return dict(self._summary[1]), self._summary[2]
        rows = self._rows("SELECT * FROM footage")
        counts = dict.fromkeys(STATUSES, 0)
        oldest: str | None = None
        statuses = self._statuses(rows)
        for row in rows:
            status = statuses[row["footage_id"]]
            counts[status] += 1
            at = row["uploaded_at"]
            if status in WAITING and at and (oldest is None or at < oldest):
                oldest = at
        with self._lock:
            self._summary = (generation, counts, oldest)
        return dict(counts), oldest

    def list_posts(
        self,
        *,
        series: str | None = None,
        channel: str | None = None,
        platform: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Newest first, with the latest engagement figures. Dates compare the publication day (UTC)."""
        where: list[str] = ["1=1"]
        params: list[Any] = []
        for column, value in (("f.series", series), ("p.channel", channel), ("p.platform", platform)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        _day_range("p.published_at", date_from, date_to, where, params)
        params += [limit, offset]
        return self._rows(
            "SELECT p.footage_id, f.title, f.series, p.channel, p.platform, p.profile, p.post_id, p.url, "  # noqa: S608
            "p.published_at, p.views, p.likes, p.comments, p.shares, p.stats_at "
            "FROM posts p JOIN footage f USING (footage_id) "
            f"WHERE {' AND '.join(where)} ORDER BY p.published_at DESC, p.footage_id, p.channel, p.profile "
            "LIMIT ? OFFSET ?",
            params,
        )

    # --- engagement ------------------------------------------------------------------------------------

    def published_posts(self, platform: str) -> list[PostRef]:
        return [
            PostRef(**r)
            for r in self._rows(
                "SELECT footage_id, channel, profile, platform, post_id, published_at, stats_at FROM posts "
                "WHERE platform=? AND post_id IS NOT NULL ORDER BY published_at",
                (platform,),
            )
        ]

    def record_post_stats(self, platform: str, stats: Mapping[str, PostStats], at: datetime) -> int:
        """Store the latest figures per platform post id; returns how many posts were updated."""
        updated = 0
        with self._lock:
            for post_id, s in stats.items():
                cur = self._db.execute(
                    "UPDATE posts SET views=?, likes=?, comments=?, shares=?, stats_at=? "
                    "WHERE platform=? AND post_id=?",
                    (s.views, s.likes, s.comments, s.shares, _ts(at), platform, post_id),
                )
                updated += cur.rowcount
                if cur.rowcount:
                    self._db.execute(
                        "INSERT INTO post_views_daily VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (platform, post_id, day) DO UPDATE SET views = excluded.views",
                        (platform, post_id, _ts(at)[:10], s.views),
                    )
        return updated

    def mark_polled(self, platform: str, post_ids: Iterable[str], at: datetime) -> None:
        """A post the platform did not return (private, under review, deleted) still waits its turn again."""
        with self._lock:
            for post_id in post_ids:
                self._db.execute(
                    "UPDATE posts SET stats_at=? WHERE platform=? AND post_id=?", (_ts(at), platform, post_id)
                )

    def record_followers(self, channel: str, platform: str, followers: int, at: datetime) -> None:
        self._execute(
            "INSERT INTO channel_stats VALUES (?, ?, ?, ?) ON CONFLICT(channel) DO UPDATE SET "
            "platform=excluded.platform, followers=excluded.followers, polled_at=excluded.polled_at",
            (channel, platform, followers, _ts(at)),
        )

    def followers(self) -> list[dict[str, Any]]:
        return self._rows("SELECT channel, platform, followers, polled_at FROM channel_stats ORDER BY channel")

    def engagement(
        self, *, published_from: str | None = None, published_before: str | None = None
    ) -> list[EngagementRow]:
        """Totals per (channel, series) of the posts published in [from, before) (ISO timestamps or dates)."""
        where: list[str] = ["1=1"]
        params: list[Any] = []
        if published_from is not None:
            where.append("p.published_at >= ?")
            params.append(published_from)
        if published_before is not None:
            where.append("p.published_at < ?")
            params.append(published_before)
        rows = self._rows(
            f"SELECT p.channel, p.platform, COALESCE(f.series, '{NO_SERIES}') AS series, COUNT(*) AS posts, "  # noqa: S608
            "COALESCE(SUM(p.views), 0) AS views, COALESCE(SUM(p.likes), 0) AS likes, "
            "COALESCE(SUM(p.comments), 0) AS comments, COALESCE(SUM(p.shares), 0) AS shares "
            f"FROM posts p JOIN footage f USING (footage_id) WHERE {' AND '.join(where)} "
            "GROUP BY p.channel, p.platform, series ORDER BY p.channel, series",
            params,
        )
        return [EngagementRow(**r) for r in rows]

    def views_gained(self, start: date, end: date) -> dict[tuple[str, str, str], int]:
        """Views gained within the days [start, end) by every post published before `end`, per
        (channel, platform, series): views at the end of the period's last polled day minus views before it.

        Before the period: the last daily figure before `start`; 0 for a post published within the period; for an
        older post first polled within the period, its first figure there (so nothing earlier is counted in).
        """
        rows = self._rows(
            """
            SELECT p.channel, p.platform, COALESCE(f.series, ?) AS series,
              SUM(MAX(0,
                COALESCE((SELECT d.views FROM post_views_daily d WHERE d.platform = p.platform
                          AND d.post_id = p.post_id AND d.day < ? ORDER BY d.day DESC LIMIT 1), 0)
                - COALESCE(
                    (SELECT d.views FROM post_views_daily d WHERE d.platform = p.platform
                     AND d.post_id = p.post_id AND d.day < ? ORDER BY d.day DESC LIMIT 1),
                    CASE WHEN substr(p.published_at, 1, 10) >= ? THEN 0 ELSE
                      (SELECT d.views FROM post_views_daily d WHERE d.platform = p.platform
                       AND d.post_id = p.post_id AND d.day >= ? ORDER BY d.day ASC LIMIT 1) END,
                    0)
              )) AS gained
            FROM posts p JOIN footage f USING (footage_id)
            WHERE substr(p.published_at, 1, 10) < ?
            GROUP BY p.channel, p.platform, series
            """,
            (NO_SERIES, end.isoformat(), start.isoformat(), start.isoformat(), start.isoformat(), end.isoformat()),
        )
        return {(r["channel"], r["platform"], r["series"]): int(r["gained"] or 0) for r in rows}

    def top_posts(self, n: int) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT p.channel, p.platform, COALESCE(f.series, ?) AS series, f.title, p.views "
            "FROM posts p JOIN footage f USING (footage_id) WHERE p.views IS NOT NULL "
            "ORDER BY p.views DESC, p.published_at DESC LIMIT ?",
            (NO_SERIES, n),
        )

    def stored_bytes(self) -> dict[str, int]:
        """Bytes the pipeline put in storage, by kind: raw uploads and transcoded renditions."""
        raw = self._rows("SELECT COALESCE(SUM(source_bytes), 0) AS n FROM footage")[0]["n"]
        renditions = self._rows(
            "SELECT COALESCE(SUM(json_extract(r.value, '$.size_bytes')), 0) AS n "
            "FROM footage, json_each(footage.renditions) AS r WHERE footage.renditions IS NOT NULL"
        )[0]["n"]
        return {"raw": int(raw), "rendition": int(renditions)}

    def stage_times(self, footage_id: str) -> dict[str, str | None]:
        """When each stage of one footage completed (the last post's time for `published`)."""
        rows = self._rows(
            "SELECT uploaded_at, transcoded_at, "
            "(SELECT MAX(published_at) FROM posts WHERE footage_id=?) AS published_at "
            "FROM footage WHERE footage_id=?",
            (footage_id, footage_id),
        )
        return rows[0] if rows else {"uploaded_at": None, "transcoded_at": None, "published_at": None}
