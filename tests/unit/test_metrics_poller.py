"""The poller's series reach the service's /metrics through the file the poller writes after every round, and the
channel pages' quota use with them; nothing else of the poller's process does (its own HTTP or registry series)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, write_to_textfile

from loa_metrics.engagement import Budget
from loa_metrics.metrics import PollerSeries
from loa_metrics.poller import PolledBudget


def written(path: Path) -> Path:
    """What a poller's process writes: its series, and others of its registry."""
    registry = CollectorRegistry()
    polls = Counter("loa_feedback_polls_total", "calls", ["platform", "outcome"], registry=registry)
    polls.labels("youtube", "ok").inc(7)
    used = Gauge("loa_quota_window_units", "used", ["platform"], registry=registry)
    used.labels("youtube").set(42)
    used.labels("facebook").set(3)
    Counter("loa_channel_records_unreadable_total", "not the poller's to relay", registry=registry).inc()
    write_to_textfile(str(path), registry)
    return path


def test_the_pollers_series_are_served_from_its_file_and_only_those(tmp_path: Path) -> None:
    series = PollerSeries(written(tmp_path / "poller.prom"))
    families = {family.name: family for family in series.collect()}
    assert set(families) == {"loa_feedback_polls", "loa_quota_window_units"}
    samples = [(s.name, s.labels, s.value) for s in families["loa_feedback_polls"].samples if s.name.endswith("_total")]
    assert samples == [("loa_feedback_polls_total", {"platform": "youtube", "outcome": "ok"}, 7.0)]
    assert series.value("loa_quota_window_units", platform="facebook") == 3


def test_before_the_first_round_there_is_nothing_and_no_quota_used(tmp_path: Path) -> None:
    series = PollerSeries(tmp_path / "poller.prom")
    assert list(series.collect()) == []
    shown = PolledBudget(Budget(2000, 86400), "youtube", series)
    assert (shown.used(), shown.limit, shown.window_s) == (0, 2000, 86400)
    written(tmp_path / "poller.prom")
    assert shown.used() == 42
