"""Report periods and figures (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from loa_metrics.engagement_store import EngagementRow
from loa_metrics.reports import CSV_COLUMNS, month_period, report_rows, to_csv, week_period


def test_month_period() -> None:
    p = month_period("2026-11")
    assert (p.start, p.end) == (date(2026, 11, 1), date(2026, 12, 1))
    assert month_period("2026-12").end == date(2027, 1, 1)
    assert month_period(None, today=date(2026, 2, 14)).label == "2026-02"
    assert p.bounds() == ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")
    for bad in ("2026-13", "2026-1", "11-2026", "2026-11-01"):
        with pytest.raises(ValueError):
            month_period(bad)


def test_week_period_is_iso() -> None:
    p = week_period("2026-W47")
    assert (p.start, p.end) == (date(2026, 11, 16), date(2026, 11, 23))
    assert week_period(None, today=date(2027, 1, 1)).label == "2026-W53"  # 1 Jan 2027 is in 2026's week 53
    for bad in ("2026-W54", "2026-W00", "2026-47", "2025-W53"):
        with pytest.raises(ValueError):
            week_period(bad)


def test_rows_and_csv() -> None:
    rows = report_rows(
        month_period("2026-11"),
        [
            EngagementRow("default", "tt", "tiktok", "Hội thi", posts=4, views=1000, likes=60, comments=20, shares=20),
            EngagementRow("default", "yt", "youtube", "none", posts=1, views=0, likes=0, comments=0, shares=0),
        ],
    )
    assert rows[0]["avg_views_per_post"] == 250.0
    assert rows[0]["engagement_rate"] == 0.1
    assert rows[1]["engagement_rate"] == 0.0, "no views: a rate of 0, not a division by zero"
    text = to_csv(rows)
    lines = text.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert lines[1] == "2026-11,default,tt,tiktok,Hội thi,4,1000,60,20,20,250.0,0.1,0"


def test_views_gained_by_older_posts_get_their_own_row() -> None:
    rows = report_rows(
        month_period("2026-11"),
        [EngagementRow("default", "tt", "tiktok", "Hội thi", posts=1, views=10, likes=1, comments=0, shares=0)],
        {
            ("default", "tt", "tiktok", "Hội thi"): 7,
            ("default", "yt", "youtube", "Họp dân"): 300,
            ("default", "yt", "youtube", "none"): 0,
        },
    )
    assert [(r["channel"], r["series"], r["posts"], r["views_in_period"]) for r in rows] == [
        ("tt", "Hội thi", 1, 7),
        ("yt", "Họp dân", 0, 300),
    ]
