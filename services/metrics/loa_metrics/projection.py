"""Project every pipeline event into a queryable status per footage and per post (SQLite)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
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
"""


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


class Projection:
    def __init__(self, path: Path, channels: Mapping[str, Channel]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._channels = channels

    def _ensure_row(self, footage_id: str) -> None:
        # Topics are consumed independently, so a post may arrive before its upload: create the row first.
        self._db.execute("INSERT OR IGNORE INTO footage (footage_id) VALUES (?)", (footage_id,))

    def footage_uploaded(self, event: FootageUploaded) -> bool:
        self._ensure_row(event.footage_id)
        cur = self._db.execute(
            "UPDATE footage SET title=?, series=?, channels=?, source=?, uploaded_at=? "
            "WHERE footage_id=? AND uploaded_at IS NULL",
            (
                event.metadata.title,
                event.metadata.series,
                json.dumps(list(event.metadata.channels)),
                event.source,
                event.occurred_at.isoformat(),
                event.footage_id,
            ),
        )
        return cur.rowcount > 0

    def renditions_ready(self, event: RenditionsReady) -> bool:
        self._ensure_row(event.footage_id)
        renditions = [
            r.model_dump(include={"profile", "key", "width", "height", "duration_s"}) for r in event.renditions
        ]
        cur = self._db.execute(
            "UPDATE footage SET transcoded_at=?, renditions=?, title=COALESCE(title, ?), "
            "channels=COALESCE(channels, ?) WHERE footage_id=? AND transcoded_at IS NULL",
            (
                event.occurred_at.isoformat(),
                json.dumps(renditions),
                event.metadata.title,
                json.dumps(list(event.metadata.channels)),
                event.footage_id,
            ),
        )
        return cur.rowcount > 0

    def post_published(self, event: PostPublished) -> bool:
        self._ensure_row(event.footage_id)
        cur = self._db.execute(
            "INSERT OR IGNORE INTO posts VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event.footage_id,
                event.channel,
                event.profile,
                event.platform,
                event.post_id,
                event.url,
                event.published_at.isoformat(),
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
        cur = self._db.execute(
            "INSERT OR IGNORE INTO failures VALUES (?, ?, ?, ?, ?, ?)",
            (event.event_id, footage_id, stage, channel, event.reason, event.occurred_at.isoformat()),
        )
        return cur.rowcount > 0

    def mark_published_once(self, footage_id: str) -> bool:
        """True the first time a footage is seen fully published, so the counter counts it once."""
        view = self.footage(footage_id)
        if view is None or view["status"] != "published":
            return False
        cur = self._db.execute(
            "UPDATE footage SET published_counted=1 WHERE footage_id=? AND published_counted=0", (footage_id,)
        )
        return cur.rowcount > 0

    def footage(self, footage_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM footage WHERE footage_id=?", (footage_id,)).fetchone()
        if row is None:
            return None
        data = dict(row)
        posts = [
            dict(p)
            for p in self._db.execute(
                "SELECT channel, profile, platform, post_id, url, published_at FROM posts WHERE footage_id=? "
                "ORDER BY channel, profile",
                (footage_id,),
            )
        ]
        failures = [
            dict(f)
            for f in self._db.execute(
                "SELECT stage, channel, reason, at FROM failures WHERE footage_id=? ORDER BY at", (footage_id,)
            )
        ]
        channel_names = json.loads(data["channels"]) if data["channels"] else []
        renditions = json.loads(data["renditions"]) if data["renditions"] else []
        expected = expected_posts_for(channel_names, renditions, self._channels)
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
