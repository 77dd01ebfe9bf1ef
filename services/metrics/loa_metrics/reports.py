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
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")

CSV_COLUMNS = (
    "period",
    "ward",
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
DISTRICT_COLUMNS = (
    "period",
    "ward",
    "platform",
    "footage",
    "published",
    "failed",
    "views",
    "likes",
    "comments",
    "shares",
)
# The row of a ward's totals over every platform, in the district's CSV.
ALL_PLATFORMS = "all"


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


def quarter_period(value: str | None, today: date | None = None) -> Period:
    if value is None:
        today = today or datetime.now(UTC).date()
        value = f"{today.year:04d}-Q{(today.month - 1) // 3 + 1}"
    match = _QUARTER.match(value)
    if not match:
        raise ValueError(f"quarter must look like 2026-Q4, got {value!r}. / Quý phải có dạng 2026-Q4.")
    year, quarter = int(match[1]), int(match[2])
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return Period(value, start, end)


def parse_period(value: str) -> Period:
    """A month (2026-11), an ISO week (2026-W47) or a quarter (2026-Q4)."""
    if "W" in value:
        return week_period(value)
    if "Q" in value:
        return quarter_period(value)
    return month_period(value)


def period_kind(period: Period) -> str:
    return "week" if "W" in period.label else "quarter" if "Q" in period.label else "month"


def previous_month(today: date) -> Period:
    """The month before `today`'s: what the report of the 1st covers."""
    first = today.replace(day=1)
    last = first - timedelta(days=1)
    return month_period(f"{last.year:04d}-{last.month:02d}")


def report_rows(
    period: Period, rows: list[EngagementRow], gained: Mapping[tuple[str, str, str, str], int] | None = None
) -> list[dict[str, Any]]:
    gained = dict(gained or {})
    # A (channel, series) whose older posts gained views but which published nothing new still gets a row.
    known = {(r.ward, r.channel, r.platform, r.series) for r in rows}
    rows = rows + [EngagementRow(*key, 0, 0, 0, 0, 0) for key, n in gained.items() if n and key not in known]
    rows.sort(key=lambda r: (r.ward, r.channel, r.series, r.platform))
    out = []
    for r in rows:
        interactions = r.likes + r.comments + r.shares
        out.append(
            {
                "period": period.label,
                "ward": r.ward,
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
                "views_in_period": gained.get((r.ward, r.channel, r.platform, r.series), 0),
            }
        )
    return out


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...] = CSV_COLUMNS) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in columns})
    return buffer.getvalue()


_SUMS = ("published", "failed", "views", "likes", "comments", "shares")


def district_wards(
    uploaded: list[dict[str, Any]], published: list[dict[str, Any]], failed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every ward's totals (footage; posts published and failed, views, likes, comments, shares) with the same per
    platform, from `EngagementStore.ward_totals`; a ward with nothing in the period has no entry."""
    wards: dict[str, dict[str, Any]] = {}

    def ward(name: str) -> dict[str, Any]:
        return wards.setdefault(name, {"ward": name, "footage": 0, **dict.fromkeys(_SUMS, 0), "platforms": {}})

    def platform(name: str, platform_name: str) -> dict[str, Any]:
        return ward(name)["platforms"].setdefault(platform_name, dict.fromkeys(_SUMS, 0))

    for row in uploaded:
        ward(row["ward"])["footage"] += int(row["footage"])
    for row in [*published, *failed]:
        totals, per_platform = ward(row["ward"]), platform(row["ward"], row["platform"])
        for key in _SUMS:
            if key in row:
                totals[key] += int(row[key])
                per_platform[key] += int(row[key])
    return [wards[name] for name in sorted(wards)]


def district_csv_rows(period: Period, wards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per ward (platform `all`) followed by one per platform it posted to."""
    rows = []
    for entry in wards:
        base = {"period": period.label, "ward": entry["ward"], "footage": entry["footage"]}
        rows.append({**base, "platform": ALL_PLATFORMS, **{k: entry[k] for k in _SUMS}})
        for name, sums in sorted(entry["platforms"].items()):
            rows.append({**base, "platform": name, **sums})
    return rows


def district_report(period: Period, store: EngagementStore) -> dict[str, Any]:
    """The district's roll-up of one period: each ward's totals (`district_wards`)."""
    start, end = period.bounds()
    return {
        "period": period.label,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),  # exclusive
        "wards": district_wards(*store.ward_totals(start, end)),
    }


def report(
    period: Period, store: EngagementStore, ward: str | None, channel_wards: Mapping[str, str]
) -> dict[str, Any]:
    """The report of one period for one ward (None: every ward): its rows (see `report_rows`) and the followers of
    every channel of the ward (`channel_wards`: each channel's ward) as last polled."""
    start, end = period.bounds()
    rows = report_rows(
        period,
        store.engagement(ward=ward, published_from=start, published_before=end),
        store.views_gained(period.start, period.end, ward=ward),
    )
    return {
        "period": period.label,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),  # exclusive
        "ward": ward,
        "rows": rows,
        "followers": [f for f in store.followers() if ward is None or channel_wards.get(f["channel"]) == ward],
    }
