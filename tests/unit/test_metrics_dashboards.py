"""The provisioned Grafana dashboards: generated from deploy/grafana/build_dashboards.py, well formed."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_dashboards", GRAFANA / "build_dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _boards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def test_committed_json_is_what_the_builder_makes() -> None:
    rendered = _builder().render()
    assert sorted(rendered) == ["loa-channels.json", "loa-pipeline.json"]
    for name, text in rendered.items():
        assert (GRAFANA / "dashboards" / name).read_text() == text, f"run deploy/grafana/build_dashboards.py ({name})"


def test_panels_are_well_formed_and_use_the_provisioned_datasource() -> None:
    [datasource] = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    for name, board in _boards().items():
        panels = board["panels"]
        assert len({p["id"] for p in panels}) == len(panels), name
        for panel in panels:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == datasource["uid"], (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["expr"].strip() and target["datasource"]["uid"] == datasource["uid"]
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24


def test_pipeline_and_channels_cover_what_ops_and_leadership_asked_for() -> None:
    boards = _boards()
    pipeline = " ".join(p["title"] for p in boards["loa-pipeline.json"]["panels"])
    for wanted in (
        "Uploads",
        "Stage latency p50 / p95",
        "Throughput",
        "Dead letters",
        "Consumer lag",
        "Active workers",
    ):
        assert wanted in pipeline
    channels = " ".join(p["title"] for p in boards["loa-channels.json"]["panels"])
    for metric in ("Views", "Likes", "Comments"):
        assert f"{metric} per channel" in channels and f"{metric} per series" in channels
    assert "Top posts" in channels and "Followers" in channels
    for wanted in ("open and overdue per ward", "comments received per channel", "median time to first reply"):
        assert f"Inbox: {wanted}" in channels


# Gauges the metrics service reads from its database at scrape time (loa_metrics.metrics.ProjectionCollector and
# InboxCollector): every replica exports the same value, so a sum over them counts it once per replica.
DATABASE_GAUGES = (
    "loa_footage",
    "loa_footage_oldest_waiting_age_seconds",
    "loa_engagement_posts",
    "loa_engagement_views",
    "loa_engagement_likes",
    "loa_engagement_comments",
    "loa_engagement_shares",
    "loa_channel_followers",
    "loa_top_post_views",
    "loa_storage_bytes",
    "loa_inbox_open",
    "loa_inbox_overdue",
    "loa_inbox_first_reply_median_seconds",
)
ONE_PER_SERIES = "max without (instance, pod) ("


def _unsafe_uses(expr: str) -> list[str]:
    """Each use of a database gauge in `expr` that is neither taken once per series first nor under a bare max/min."""
    if expr.lstrip().startswith(("max(", "max by", "min(", "min by")):
        return []
    names = "|".join(sorted(DATABASE_GAUGES, key=len, reverse=True))
    return [
        found.group(1)
        for found in re.finditer(rf"(?<![\w:])({names})(?![\w:])", expr)
        if not expr[: found.start()].endswith(ONE_PER_SERIES)
    ]


def test_the_gauges_every_metrics_replica_exports_are_counted_once() -> None:
    assert _unsafe_uses("sum by (ward) (loa_inbox_overdue)") == ["loa_inbox_overdue"]
    assert _unsafe_uses("sum by (ward) (max without (instance, pod) (loa_inbox_overdue))") == []
    assert _unsafe_uses("sum(increase(loa_footage_uploaded_total[1h]))") == []  # a counter
    exprs = [t["expr"] for board in _boards().values() for p in board["panels"] for t in p.get("targets", [])]
    for path in sorted((GRAFANA.parent / "prometheus" / "rules").glob("*.yml")):
        exprs += [r["expr"] for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
    used = {name for expr in exprs for name in DATABASE_GAUGES if re.search(rf"(?<![\w:]){name}(?![\w:])", expr)}
    assert {"loa_footage", "loa_inbox_overdue", "loa_engagement_views", "loa_top_post_views"} <= used
    assert [(e, u) for e in exprs if (u := _unsafe_uses(e))] == []
