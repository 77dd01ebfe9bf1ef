"""The engagement store: the platforms' figures for each published post and each channel, and their sums.

The poller (`engagement.Poller`) writes here; reports and the Prometheus collector read the sums.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from loa_metrics.store import Database, ts

NO_SERIES = "none"


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


class EngagementStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def published_posts(self, platform: str) -> list[PostRef]:
        return [
            PostRef(**r)
            for r in self._db.rows(
                "SELECT footage_id, channel, profile, platform, post_id, published_at, stats_at FROM posts "
                "WHERE platform=? AND post_id IS NOT NULL ORDER BY published_at",
                (platform,),
            )
        ]

    def record_post_stats(self, platform: str, stats: Mapping[str, PostStats], at: datetime) -> int:
        """Store the latest figures per platform post id; returns how many posts were updated."""
        updated = 0
        for post_id, s in stats.items():
            cur = self._db.execute(
                "UPDATE posts SET views=?, likes=?, comments=?, shares=?, stats_at=? WHERE platform=? AND post_id=?",
                (s.views, s.likes, s.comments, s.shares, ts(at), platform, post_id),
            )
            updated += cur.rowcount
            if cur.rowcount:
                self._db.execute(
                    "INSERT INTO post_views_daily VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (platform, post_id, day) DO UPDATE SET views = excluded.views",
                    (platform, post_id, ts(at)[:10], s.views),
                )
        return updated

    def mark_polled(self, platform: str, post_ids: Iterable[str], at: datetime) -> None:
        """A post the platform did not return (private, under review, deleted) still waits its turn again."""
        for post_id in post_ids:
            self._db.execute("UPDATE posts SET stats_at=? WHERE platform=? AND post_id=?", (ts(at), platform, post_id))

    def record_followers(self, channel: str, platform: str, followers: int, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO channel_stats VALUES (?, ?, ?, ?) ON CONFLICT(channel) DO UPDATE SET "
            "platform=excluded.platform, followers=excluded.followers, polled_at=excluded.polled_at",
            (channel, platform, followers, ts(at)),
        )

    def followers(self) -> list[dict[str, Any]]:
        return self._db.rows("SELECT channel, platform, followers, polled_at FROM channel_stats ORDER BY channel")

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
        rows = self._db.rows(
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
        rows = self._db.rows(
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
        return self._db.rows(
            "SELECT p.channel, p.platform, COALESCE(f.series, ?) AS series, f.title, p.views "
            "FROM posts p JOIN footage f USING (footage_id) WHERE p.views IS NOT NULL "
            "ORDER BY p.views DESC, p.published_at DESC LIMIT ?",
            (NO_SERIES, n),
        )
