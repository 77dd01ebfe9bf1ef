"""The engagement store: the platforms' figures for each published post and each channel, and their sums.

The poller (`engagement.Poller`) writes here; reports and the Prometheus collector read the sums.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, update

from loa_core.db import upsert
from loa_metrics.status import PUBLISH
from loa_metrics.store import Database, channel_stats, followers_daily, post_views_daily, posts, ts

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
    """Totals of one (channel, series) over a set of posts (a channel is of one ward: `ward`)."""

    ward: str
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
                "WHERE platform = :platform AND post_id IS NOT NULL AND (state IS NULL OR state != 'unpublished') "
                "ORDER BY published_at",
                {"platform": platform},
            )
        ]

    def record_post_stats(self, platform: str, stats: Mapping[str, PostStats], at: datetime) -> int:
        """Store the latest figures per platform post id; returns how many posts were updated."""

        def record(connection: Connection) -> int:
            updated = 0
            for post_id, s in stats.items():
                count = connection.execute(
                    update(posts)
                    .where(posts.c.platform == platform, posts.c.post_id == post_id)
                    .values(views=s.views, likes=s.likes, comments=s.comments, shares=s.shares, stats_at=ts(at))
                ).rowcount
                updated += count
                if count:
                    day = {"platform": platform, "post_id": post_id, "day": ts(at)[:10], "views": s.views}
                    upsert(connection, post_views_daily, day, update=["views"])
            return updated

        return self._db.write(record)

    def mark_polled(self, platform: str, post_ids: Iterable[str], at: datetime) -> None:
        """A post the platform did not return (private, under review, deleted) still waits its turn again."""
        statement = (
            update(posts)
            .where(posts.c.platform == platform, posts.c.post_id.in_(list(post_ids)))
            .values(stats_at=ts(at))
        )
        self._db.write(lambda c: c.execute(statement))

    def record_followers(self, channel: str, ward: str, platform: str, followers: int, at: datetime) -> None:
        """The channel's latest figure, and the day's point of its series (the day's last figure wins)."""
        row = {"channel": channel, "platform": platform, "followers": followers, "polled_at": ts(at)}
        day = {"channel": channel, "day": ts(at)[:10], "ward": ward, "platform": platform, "followers": followers}

        def record(connection: Connection) -> None:
            upsert(connection, channel_stats, row, update=["platform", "followers", "polled_at"])
            upsert(connection, followers_daily, day, update=["ward", "platform", "followers"])

        self._db.write(record)

    def followers_series(self, start: date, end: date, *, ward: str | None) -> list[dict[str, Any]]:
        """Each channel's daily followers within the days [start, end) of one ward (None: every ward), and its
        last point before `start` (dated on it), so a month's gain is its last point minus its first."""
        in_ward = "" if ward is None else "AND ward = :ward"
        params = {"start": start.isoformat(), "end": end.isoformat(), "ward": ward}
        within = self._db.rows(
            "SELECT channel, ward, platform, day, followers FROM followers_daily "  # noqa: S608
            f"WHERE day >= :start AND day < :end {in_ward} ORDER BY channel, day",
            params,
        )
        before = self._db.rows(
            "SELECT d.channel, d.ward, d.platform, d.day, d.followers FROM followers_daily d "  # noqa: S608
            "WHERE d.day = (SELECT MAX(e.day) FROM followers_daily e WHERE e.channel = d.channel AND e.day < :start) "
            f"{'' if ward is None else 'AND d.ward = :ward'} ORDER BY d.channel",
            params,
        )
        series = [{**r, "day": start.isoformat()} for r in before] + within
        return sorted(series, key=lambda r: (r["channel"], r["day"]))

    def followers(self) -> list[dict[str, Any]]:
        return self._db.rows("SELECT channel, platform, followers, polled_at FROM channel_stats ORDER BY channel")

    def engagement(
        self, *, ward: str | None, published_from: str | None = None, published_before: str | None = None
    ) -> list[EngagementRow]:
        """Totals per (channel, series) of the posts of one ward (None: every ward) published in [from, before) (ISO
        timestamps or dates)."""
        where: list[str] = ["1=1"]
        params: dict[str, Any] = {}
        if ward is not None:
            where.append("p.ward = :ward")
            params["ward"] = ward
        if published_from is not None:
            where.append("p.published_at >= :published_from")
            params["published_from"] = published_from
        if published_before is not None:
            where.append("p.published_at < :published_before")
            params["published_before"] = published_before
        rows = self._db.rows(
            f"SELECT p.ward, p.channel, p.platform, COALESCE(f.series, '{NO_SERIES}') AS series, COUNT(*) AS posts, "  # noqa: S608
            "COALESCE(SUM(p.views), 0) AS views, COALESCE(SUM(p.likes), 0) AS likes, "
            "COALESCE(SUM(p.comments), 0) AS comments, COALESCE(SUM(p.shares), 0) AS shares "
            f"FROM posts p JOIN footage f USING (footage_id) WHERE {' AND '.join(where)} "
            "GROUP BY p.ward, p.channel, p.platform, series ORDER BY p.ward, p.channel, series",
            params,
        )
        return [EngagementRow(**r) for r in rows]

    def views_gained(self, start: date, end: date, *, ward: str | None) -> dict[tuple[str, str, str, str], int]:
        """Views gained within the days [start, end) by every post of one ward (None: every ward) published before
        `end`, per (ward, channel, platform, series): views at the end of the period's last polled day minus views
        before it.

        Before the period: the last daily figure before `start`; 0 for a post published within the period; for an
        older post first polled within the period, its first figure there (so nothing earlier is counted in).
        """
        daily = "SELECT d.views FROM post_views_daily d WHERE d.platform = p.platform AND d.post_id = p.post_id AND "
        in_ward = "" if ward is None else "AND p.ward = :ward"
        rows = self._db.rows(
            f"""
            SELECT p.ward, p.channel, p.platform, COALESCE(f.series, :none) AS series,
              substr(p.published_at, 1, 10) >= :start AS published_within,
              ({daily} d.day < :end ORDER BY d.day DESC LIMIT 1) AS at_end,
              ({daily} d.day < :start ORDER BY d.day DESC LIMIT 1) AS before_start,
              ({daily} d.day >= :start ORDER BY d.day ASC LIMIT 1) AS first_within
            FROM posts p JOIN footage f USING (footage_id)
            WHERE substr(p.published_at, 1, 10) < :end {in_ward}
            """,  # noqa: S608 — our own fragments
            {"none": NO_SERIES, "start": start.isoformat(), "end": end.isoformat(), "ward": ward},
        )
        gained: dict[tuple[str, str, str, str], int] = {}
        for r in rows:
            before = r["before_start"]
            if before is None:
                before = 0 if r["published_within"] else (r["first_within"] or 0)
            key = (r["ward"], r["channel"], r["platform"], r["series"])
            gained[key] = gained.get(key, 0) + max(0, (r["at_end"] or 0) - before)
        return gained

    def top_posts(self, n: int) -> list[dict[str, Any]]:
        return self._db.rows(
            "SELECT p.ward, p.channel, p.platform, COALESCE(f.series, :none) AS series, f.title, p.views "
            "FROM posts p JOIN footage f USING (footage_id) WHERE p.views IS NOT NULL "
            "ORDER BY p.views DESC, p.published_at DESC LIMIT :n",
            {"none": NO_SERIES, "n": n},
        )

    def top_posts_published(self, start: str, end: str, *, ward: str | None, n: int) -> list[dict[str, Any]]:
        """The `n` most viewed posts published in [start, end) (ISO timestamps) of one ward (None: every ward)."""
        in_ward = "" if ward is None else "AND p.ward = :ward"
        return self._db.rows(
            "SELECT p.ward, p.channel, p.platform, f.title, p.url, p.published_at, COALESCE(p.views, 0) AS views "  # noqa: S608
            "FROM posts p JOIN footage f USING (footage_id) "
            f"WHERE p.published_at >= :start AND p.published_at < :end {in_ward} "
            "ORDER BY COALESCE(p.views, 0) DESC, p.published_at DESC LIMIT :n",
            {"start": start, "end": end, "ward": ward, "n": n},
        )

    def feedback_counts(self, start: str, end: str, *, ward: str | None) -> list[dict[str, Any]] | None:
        """Citizens' comments and messages written in [start, end) per (ward, channel, platform), and how many of
        them were answered on the platform (`answered` None while the inbox's table is not there); None while no
        feedback is collected at all (no feedback_items table)."""
        if not self._db.has_table("feedback_items"):
            return None
        in_ward = "" if ward is None else "AND i.ward = :ward"
        inbox = self._db.has_table("inbox_state")
        answered = "SUM(CASE WHEN s.first_reply_at IS NOT NULL THEN 1 ELSE 0 END)" if inbox else "NULL"
        join = "LEFT JOIN inbox_state s ON s.item_id = i.item_id" if inbox else ""
        return self._db.rows(
            f"SELECT i.ward, i.channel, i.platform, COUNT(*) AS received, {answered} AS answered "  # noqa: S608
            f"FROM feedback_items i {join} "
            f"WHERE i.by_channel = 0 AND i.written_at >= :start AND i.written_at < :end {in_ward} "
            "GROUP BY i.ward, i.channel, i.platform ORDER BY i.ward, i.channel",
            {"start": start, "end": end, "ward": ward},
        )

    def ward_totals(
        self, start: str, end: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """For the district's report of [start, end) (ISO timestamps): footage uploaded per ward; posts published
        per (ward, platform) with their engagement as last polled; posts failed per (ward, platform)."""
        period = {"start": start, "end": end}
        uploaded = self._db.rows(
            "SELECT ward, COUNT(*) AS footage FROM footage WHERE uploaded_at >= :start AND uploaded_at < :end "
            "GROUP BY ward",
            period,
        )
        published = self._db.rows(
            "SELECT ward, platform, COUNT(*) AS published, COALESCE(SUM(views), 0) AS views, "
            "COALESCE(SUM(likes), 0) AS likes, COALESCE(SUM(comments), 0) AS comments, "
            "COALESCE(SUM(shares), 0) AS shares FROM posts WHERE published_at >= :start AND published_at < :end "
            "GROUP BY ward, platform",
            period,
        )
        # A post is failed once however many times it failed (a retry that fails again is the same post).
        failed = self._db.rows(
            "SELECT f.ward, COALESCE(x.platform, 'unknown') AS platform, "
            "COUNT(DISTINCT x.footage_id || '/' || x.channel) AS failed "
            "FROM failures x JOIN footage f USING (footage_id) "
            "WHERE x.stage = :publish AND x.at >= :start AND x.at < :end GROUP BY f.ward, x.platform",
            {**period, "publish": PUBLISH},
        )
        return uploaded, published, failed
