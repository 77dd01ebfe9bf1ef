"""The provisioned Grafana dashboards: generated from deploy/grafana/build_dashboards.py, well formed."""

from __future__ import annotations

import importlib.util
import json
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
