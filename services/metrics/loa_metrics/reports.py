"""Weekly and monthly figures per channel and series, as the ward reports them upward (pure functions).

A period's row per (channel, platform, series) counts the posts *published* in that period, with their latest
lifetime figures (views, likes, comments, shares as last polled); engagement rate = (likes + comments + shares)
/ views. `views_in_period` is different: the views gained within the period by every post of that channel and
series, old ones included, from the daily figures the poller keeps.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from loa_metrics.engagement_store import EngagementRow, EngagementStore

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_WEEK = re.compile(r"^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])$")

CSV_COLUMNS = (
    "period",
    "channel",
    "platform",
    "series",
    "posts",
    "views",
    "likes",
    "comments",
    "shares",
    "avg_views_per_post",
    "engagement_rate",
    "views_in_period",
)


@dataclass(frozen=True)
class Period:
    label: str  # "2026-11" or "2026-W47"
    start: date  # inclusive
    end: date  # exclusive

    def bounds(self) -> tuple[str, str]:
        """ISO timestamps (UTC) comparable with the stored published_at strings."""
        as_utc = [datetime(d.year, d.month, d.day, tzinfo=UTC).isoformat() for d in (self.start, self.end)]
        return as_utc[0], as_utc[1]


def month_period(value: str | None, today: date | None = None) -> Period:
    if value is None:
        today = today or datetime.now(UTC).date()
        value = f"{today.year:04d}-{today.month:02d}"
    match = _MONTH.match(value)
    if not match:
        raise ValueError(f"month must look like 2026-11, got {value!r}. / Tháng phải có dạng 2026-11.")
    year, month = int(match[1]), int(match[2])
    start = date(year, month, 1)
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return Period(value, start, end)


def week_period(value: str | None, today: date | None = None) -> Period:
    if value is None:
        iso = (today or datetime.now(UTC).date()).isocalendar()
        value = f"{iso.year:04d}-W{iso.week:02d}"
    match = _WEEK.match(value)
    if not match:
        raise ValueError(f"week must look like 2026-W47 (ISO week), got {value!r}. / Tuần phải có dạng 2026-W47.")
    try:
        start = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:  # week 53 of a year that has 52
        raise ValueError(f"{value} is not an ISO week. / Năm này không có tuần đó.") from exc
    return Period(value, start, start + timedelta(days=7))


def report_rows(
    period: Period, rows: list[EngagementRow], gained: Mapping[tuple[str, str, str], int] | None = None
) -> list[dict[str, Any]]:
    gained = dict(gained or {})
    # A (channel, series) whose older posts gained views but which published nothing new still gets a row.
    known = {(r.channel, r.platform, r.series) for r in rows}
    rows = rows + [
        EngagementRow(c, p, s, 0, 0, 0, 0, 0) for (c, p, s), n in gained.items() if n and (c, p, s) not in known
    ]
    rows.sort(key=lambda r: (r.channel, r.series, r.platform))
    out = []
    for r in rows:
        interactions = r.likes + r.comments + r.shares
        out.append(
            {
                "period": period.label,
                "channel": r.channel,
                "platform": r.platform,
                "series": r.series,
                "posts": r.posts,
                "views": r.views,
                "likes": r.likes,
                "comments": r.comments,
                "shares": r.shares,
                "avg_views_per_post": round(r.views / r.posts, 2) if r.posts else 0.0,
                "engagement_rate": round(interactions / r.views, 4) if r.views else 0.0,
                "views_in_period": gained.get((r.channel, r.platform, r.series), 0),
            }
        )
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in CSV_COLUMNS})
    return buffer.getvalue()


def report(period: Period, store: EngagementStore) -> dict[str, Any]:
    """The report of one period: its rows (see `report_rows`) and every channel's followers as last polled."""
    start, end = period.bounds()
    rows = report_rows(
        period,
        store.engagement(published_from=start, published_before=end),
        store.views_gained(period.start, period.end),
    )
    return {
        "period": period.label,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),  # exclusive
        "rows": rows,
        "followers": store.followers(),
    }
