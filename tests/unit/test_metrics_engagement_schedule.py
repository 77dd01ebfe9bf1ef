"""The polling schedule and the quota budget (pure, with a fake clock)."""

from __future__ import annotations

from datetime import timedelta

from loa_metrics.engagement import Budget, batches, is_due, poll_interval
from loa_metrics.engagement_store import PostRef
from tests.support.metrics_events import T0


def post(published_days_ago: float, polled_minutes_ago: float | None) -> PostRef:
    published_at = T0 - timedelta(days=published_days_ago)
    stats_at = None if polled_minutes_ago is None else T0 - timedelta(minutes=polled_minutes_ago)
    return PostRef(
        "f" * 32, "yt", "youtube", "youtube", "x", published_at.isoformat(), stats_at and stats_at.isoformat()
    )


def test_interval_grows_with_age() -> None:
    assert poll_interval(timedelta(hours=3)) == timedelta(hours=1)
    assert poll_interval(timedelta(days=10)) == timedelta(hours=6)
    assert poll_interval(timedelta(days=100)) == timedelta(days=1)


def test_due() -> None:
    assert is_due(post(0, None), T0), "never polled"
    assert not is_due(post(0.1, 30), T0)
    assert is_due(post(0.1, 61), T0)
    assert not is_due(post(10, 61), T0), "a 10-day-old post waits 6 h"
    assert is_due(post(10, 6 * 60 + 1), T0)


def test_batches() -> None:
    assert [len(b) for b in batches([str(i) for i in range(121)], 50)] == [50, 50, 21]
    assert batches([], 20) == []


def test_budget_sliding_window_and_block() -> None:
    now = [0.0]
    budget = Budget(2, 60, clock=lambda: now[0])
    assert budget.try_spend() and budget.try_spend()
    assert not budget.try_spend()
    now[0] = 59.9
    assert not budget.try_spend()
    now[0] = 60.0
    assert budget.try_spend(), "the first unit left the window"
    budget.block_for(100)
    now[0] = 500.0
    assert budget.try_spend()
    budget.block_for(100)
    now[0] = 599.0
    assert not budget.try_spend(), "blocked by the platform whatever our count says"
