"""promtool (Debian's prometheus package): both scrape configurations, the rules and their unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
CONFIGS = ("prometheus.yml", "prometheus-local.yml")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: scripts/setup.sh --test installs Debian's prometheus package"
    return subprocess.run([binary, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("config", CONFIGS)
def test_check_config(config: str) -> None:
    result = promtool("check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout + result.stderr


def test_check_rules() -> None:
    rules = sorted(str(p.relative_to(PROMETHEUS_DIR)) for p in (PROMETHEUS_DIR / "rules").glob("*.yml"))
    assert rules == ["rules/loa-alerts.yml", "rules/loa-recording.yml"]
    result = promtool("check", "rules", *rules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests() -> None:
    result = promtool("test", "rules", "tests/loa-alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_fires() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((PROMETHEUS_DIR / "rules" / "loa-alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    assert alerts == {
        "LoaPipelineStalled",
        "LoaDeadLettersGrowing",
        "LoaConsumerLagHigh",
        "LoaConsumerLagNotMeasured",
        "LoaConsumerStopped",
        "LoaPostsFailed",
        "LoaTranscodeFailureRatioHigh",
        "LoaPublisherAuthFailures",
        "LoaStorageAlmostFull",
        "LoaInboxOverdue",
    }
    tests: list[dict[str, Any]] = yaml.safe_load((PROMETHEUS_DIR / "tests" / "loa-alerts.test.yml").read_text())[
        "tests"
    ]
    fired = {case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case["exp_alerts"]}
    assert fired == alerts


def test_compose_and_local_configs_have_the_same_loa_jobs_and_rules() -> None:
    def jobs(name: str, only_there: set[str]) -> tuple[set[str], list[str]]:
        config = yaml.safe_load((PROMETHEUS_DIR / name).read_text())
        return {j["job_name"] for j in config["scrape_configs"]} - only_there, config["rule_files"]

    # MinIO runs only in compose.
    assert jobs("prometheus.yml", {"minio"}) == jobs("prometheus-local.yml", set())
