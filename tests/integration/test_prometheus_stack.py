"""Proof with real parts: Debian's Prometheus scrapes a running stack (four service processes, the real broker)
after an upload went all the way through, and every query of every dashboard panel returns data.

The upload targets three channels: `local`, a YouTube channel and a TikTok channel. The publisher uploads to the
strict upload emulators (tests/support/emulators), and the metrics service polls the figures of exactly the
videos those emulators hold from the statistics emulators (tests/support/stats_emulators.py).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from loa_core.channels import Channel, dump_channels
from loa_dev.kafka import KafkaBroker, free_port
from loa_dev.processes import stop_process, wait_healthy
from loa_dev.stack import Stack
from tests.support.emulators.tiktok import TikTokEmulator
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.media import make_clip
from tests.support.polling import wait_until
from tests.support.stats_emulators import Figures, TikTokStatsEmulator, YouTubeStatsEmulator

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
# Grafana's variables, as Grafana would expand them for "All" over a short range.
SUBSTITUTIONS = {"$__rate_interval": "10m", "$__range": "30m", "$channel": ".*", "$series": ".*"}
SERIES = "Sự kiện phường"
YOUTUBE_FIGURES = Figures(views=1200, likes=80, comments=12)
TIKTOK_FIGURES = Figures(views=56000, likes=4100, comments=230, shares=310)


@dataclass
class MetricsPollingStack(Stack):
    """The stack, with extra settings for the metrics service only (channels, statistics endpoints)."""

    metrics_env: dict[str, str] = field(default_factory=dict)

    def service_env(self, service: str) -> dict[str, str]:
        env = super().service_env(service)
        if service == "metrics":
            env.update(self.metrics_env)
        return env


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


def _finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(r["value"][1])) for r in result)


@dataclass
class Platforms:
    youtube: YouTubeEmulator
    tiktok: TikTokEmulator
    youtube_stats: YouTubeStatsEmulator
    tiktok_stats: TikTokStatsEmulator


@pytest.fixture
def platforms(tmp_path: Path) -> Iterator[Platforms]:
    with (
        YouTubeEmulator(tmp_path / "yt-upload") as youtube,
        TikTokEmulator(tmp_path / "tt-upload") as tiktok,
        YouTubeStatsEmulator(tmp_path / "yt-stats") as youtube_stats,
        TikTokStatsEmulator(tmp_path / "tt-stats") as tiktok_stats,
    ):
        assert isinstance(youtube, YouTubeEmulator) and isinstance(tiktok, TikTokEmulator)
        assert isinstance(youtube_stats, YouTubeStatsEmulator) and isinstance(tiktok_stats, TikTokStatsEmulator)
        tiktok.public_ids = True  # an audited app posting publicly: the post gets its public id
        # Statistics exist for exactly the videos the platforms received.
        youtube_stats.figures_for = lambda vid: YOUTUBE_FIGURES if vid in youtube.videos else None
        tiktok_stats.figures_for = lambda vid: TIKTOK_FIGURES if vid in tiktok.videos else None
        youtube_stats.subscribers = 3400
        tiktok_stats.followers = 15800
        yield Platforms(youtube, tiktok, youtube_stats, tiktok_stats)


@pytest.fixture
def stack(kafka_broker: KafkaBroker, tmp_path: Path, platforms: Platforms) -> Iterator[Stack]:
    channels = tmp_path / "channels.json"
    channels.write_text(
        dump_channels(
            [
                Channel(name="local", platform="local", profiles=("tiktok", "youtube")),
                Channel(
                    name="ward-yt",
                    platform="youtube",
                    profiles=("youtube",),
                    options={
                        "base_url": platforms.youtube.base_url,
                        "token_url": f"{platforms.youtube.base_url}/token",
                    },
                ),
                Channel(
                    name="ward-tt",
                    platform="tiktok",
                    profiles=("tiktok",),
                    options={"base_url": platforms.tiktok.base_url},
                ),
            ]
        )
    )
    credentials = tmp_path / "stats-credentials.json"
    credentials.write_text(
        json.dumps({"ward-yt": {"access_token": "yt-token"}, "ward-tt": {"access_token": "tt-token"}})
    )
    credentials.chmod(0o600)
    stack = MetricsPollingStack(
        root=tmp_path / "stack",
        token=f"prom-{uuid.uuid4().hex}",
        kafka_bootstrap=kafka_broker.bootstrap,
        topic_prefix=f"prom{uuid.uuid4().hex[:8]}.",
        extra_env={
            "LOA_CHANNELS_FILE": str(channels),
            # The publisher's OAuth clients for the two platform channels (emulators' test values).
            "LOA_SECRET_WARD_YT_CLIENT_ID": platforms.youtube.client_id,
            "LOA_SECRET_WARD_YT_CLIENT_SECRET": platforms.youtube.client_secret,
            "LOA_SECRET_WARD_YT_REFRESH_TOKEN": platforms.youtube.refresh_token,
            "LOA_SECRET_WARD_TT_CLIENT_KEY": platforms.tiktok.client_key,
            "LOA_SECRET_WARD_TT_CLIENT_SECRET": platforms.tiktok.client_secret,
            "LOA_SECRET_WARD_TT_REFRESH_TOKEN": platforms.tiktok.refresh_token,
            "LOA_YOUTUBE_CHUNK_BYTES": str(256 * 1024),
            "LOA_STATUS_POLL_S": "0.2",
        },
        metrics_env={
            "LOA_STATS_CREDENTIALS_FILE": str(credentials),
            "LOA_YOUTUBE_API_BASE": platforms.youtube_stats.base_url,
            "LOA_TIKTOK_API_BASE": platforms.tiktok_stats.base_url,
            "LOA_STATS_ROUND_S": "1",
            "LOA_LAG_INTERVAL_S": "1",
        },
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def prometheus(stack: Stack, tmp_path: Path) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: scripts/setup.sh --test installs Debian's prometheus package"
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus-local.yml").read_text())
    # The committed local configuration, pointed at this stack's ports and scraping every second.
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS_DIR / f) for f in config["rule_files"]]
    # Jobs of services this stack does not run (the livestream archiver) are left out.
    config["scrape_configs"] = [job for job in config["scrape_configs"] if job["job_name"] in stack.ports]
    assert {job["job_name"] for job in config["scrape_configs"]} == {"ingest", "transcode", "publisher", "metrics"}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [stack.url(job["job_name"]).removeprefix("http://")]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Prometheus(f"http://127.0.0.1:{port}", process)

    try:
        wait_healthy(
            process,
            f"{server.url}/-/ready",
            name="Prometheus",
            log_tail=lambda: (tmp_path / "prometheus.log").read_text()[-3000:],
            timeout_s=60,
            interval_s=0.5,
        )
        yield server
    finally:
        stop_process(process)
        log.close()


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _dashboard_queries() -> list[tuple[str, str, str]]:
    queries = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in SUBSTITUTIONS.items():
                    expr = expr.replace(variable, value)
                assert "$" not in expr, f"unexpanded variable in {path.name} / {panel['title']}: {expr}"
                queries.append((path.name, panel["title"], expr))
    return queries


def test_every_dashboard_query_returns_data_from_a_live_stack(
    stack: Stack, prometheus: Prometheus, platforms: Platforms, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {stack.token}"}
    # Every service is scraped before anything happens, so counters are seen going up (rates need two samples).
    wait_until(
        lambda: len([r for r in prometheus.query("up == 1")]) == 4,
        120,
        "all four targets up",
        0.5,
        lambda: httpx.get(f"{prometheus.url}/api/v1/targets").text[:3000],
    )

    # The metrics service says ready once its consumer has partitions.
    wait_until(
        lambda: httpx.get(f"{stack.url('metrics')}/readyz", timeout=5).status_code == 200,
        120,
        "the metrics service to be ready",
        0.5,
        lambda: stack.log_tail("metrics"),
    )

    # An upload goes all the way through: ingest → transcode → publisher (local, YouTube, TikTok) → metrics.
    clip = make_clip(tmp_path / "clip.mp4", width=640, height=360, duration_s=2.0)
    with clip.open("rb") as body:
        response = httpx.post(
            f"{stack.url('ingest')}/footage",
            headers=headers,
            data={"title": "Họp dân tháng 11", "series": SERIES, "channels": ["local", "ward-yt", "ward-tt"]},
            files={"file": ("clip.mp4", body, "video/mp4")},
            timeout=120,
        )
    assert response.status_code in (200, 201), response.text
    footage_id = response.json()["footage_id"]

    def published() -> bool:
        view = httpx.get(f"{stack.url('metrics')}/footage/{footage_id}", headers=headers, timeout=10)
        return view.status_code == 200 and view.json()["status"] == "published"

    wait_until(
        published,
        300,
        "the upload to be published",
        0.5,
        lambda: stack.log_tail("transcode") + stack.log_tail("publisher"),
    )

    posts = httpx.get(f"{stack.url('metrics')}/footage/{footage_id}", headers=headers, timeout=10).json()
    posts = posts["stages"]["published"]["posts"]
    assert {(p["channel"], p["profile"]) for p in posts} == {
        ("local", "tiktok"),
        ("local", "youtube"),
        ("ward-yt", "youtube"),
        ("ward-tt", "tiktok"),
    }
    assert len(platforms.youtube.videos) == 1 and len(platforms.tiktok.videos) == 1

    def polled() -> bool:
        items = httpx.get(f"{stack.url('metrics')}/posts", headers=headers, timeout=10).json()["items"]
        views = {p["channel"]: p["views"] for p in items if p["platform"] != "local"}
        return views == {"ward-yt": YOUTUBE_FIGURES.views, "ward-tt": TIKTOK_FIGURES.views}

    wait_until(polled, 60, "the engagement figures to be polled", 0.5, lambda: stack.log_tail("metrics"))
    wait_until(
        lambda: _finite(prometheus.query(f'loa_engagement_views{{channel="ward-tt"}} == {TIKTOK_FIGURES.views}')),
        60,
        "Prometheus to scrape the figures",
        0.5,
    )

    # A citizen's comment under the YouTube video, answered by the ward on YouTube itself: metrics collects both (the
    # answer in the comment's thread), so the inbox's panels have their open items and time to first reply.
    video_id = next(iter(platforms.youtube.videos))
    written = datetime.now(UTC).replace(microsecond=0)
    thread = platforms.youtube_stats.comments.comment(video_id, "Đường trước chợ bị ngập nước", _rfc3339(written))
    own = platforms.youtube_stats.channel_id
    answer = _rfc3339(written + timedelta(seconds=90))
    platforms.youtube_stats.comments.comment(
        video_id, "Phường đã ghi nhận", answer, author_channel=own, reply_to=thread
    )

    def answered() -> bool:
        items = httpx.get(f"{stack.url('metrics')}/inbox", headers=headers, timeout=10).json()["items"]
        return [i["first_reply_at"] is not None for i in items] == [True]

    wait_until(answered, 90, "the comment and its answer in the inbox", 0.5, lambda: stack.log_tail("metrics"))

    # Every query of every panel returns at least one finite sample.
    missing = []
    for board, title, expr in _dashboard_queries():
        try:
            wait_until(lambda expr=expr: _finite(prometheus.query(expr)), 30, f"{board} / {title}", 0.5)
        except AssertionError:
            missing.append(f"{board} / {title}: {expr} -> {prometheus.query(expr)}")
    assert not missing, "\n".join(missing)

    # Grafana's variables find their values too.
    for label in ("channel", "series"):
        values = httpx.get(
            f"{prometheus.url}/api/v1/label/{label}/values", params={"match[]": "loa_engagement_views"}, timeout=10
        ).json()["data"]
        assert values, label
    assert (
        SERIES
        in httpx.get(
            f"{prometheus.url}/api/v1/label/series/values", params={"match[]": "loa_engagement_views"}, timeout=10
        ).json()["data"]
    )

    # The rules load and evaluate without errors against real series.
    groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    # Every rule in the committed files is loaded (none refused or dropped by Prometheus).
    declared = [
        rule
        for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    assert sorted(r["name"] for r in rules) == sorted(r.get("alert") or r["record"] for r in declared)
    assert all(rule["health"] == "ok" for rule in rules), [r for r in rules if r["health"] != "ok"]
    assert _finite(prometheus.query("loa:stage_latency_seconds:p95_1h"))
    # Nothing is wrong in this run, so no alert fires.
    firing = [a for a in httpx.get(f"{prometheus.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]]
    assert [a["labels"]["alertname"] for a in firing if a["state"] == "firing"] == []
