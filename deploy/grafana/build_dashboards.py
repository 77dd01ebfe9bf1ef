"""Build the provisioned Grafana dashboards (deploy/grafana/dashboards/*.json) from this one file.

    .cache/venv/bin/python deploy/grafana/build_dashboards.py

The JSON files are committed (Grafana's file provider reads them); tests/unit/test_metrics_dashboards.py
checks they match this script, and tests/integration/test_prometheus_stack.py runs every panel's query
against a real Prometheus scraping a running stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "loa-prometheus"}  # provisioning/datasources/prometheus.yml
RATE = "$__rate_interval"


def once(selector: str) -> str:
    """A gauge every metrics replica exports with the same value (read from the shared database at scrape time), one
    series per label set: aggregate this, never the raw gauge, or two replicas count everything twice. Counters are
    incremented once per event by the replica that consumed it, so they are summed as they are."""
    return f"max without (instance, pod) ({selector})"


class Board:
    def __init__(self, uid: str, title: str, description: str) -> None:
        self.uid, self.title, self.description = uid, title, description
        self.panels: list[dict[str, Any]] = []
        self.variables: list[dict[str, Any]] = []
        self._x = 0
        self._y = 0
        self._row_h = 0

    def variable(self, name: str, label: str, query: str) -> None:
        self.variables.append(
            {
                "name": name,
                "label": label,
                "type": "query",
                "datasource": DATASOURCE,
                "query": {"query": query, "refId": "var"},
                "definition": query,
                "refresh": 2,  # on time range change
                "includeAll": True,
                "multi": True,
                "allValue": ".*",
                "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
                "sort": 1,
            }
        )

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
                "panels": [],
            }
        )
        self._y += 1

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_h
            self._x, self._row_h = 0, 0

    def panel(
        self,
        kind: str,
        title: str,
        description: str,
        targets: list[tuple[str, str]],
        *,
        w: int = 8,
        h: int = 8,
        unit: str = "short",
        instant: bool = False,
        options: dict[str, Any] | None = None,
    ) -> None:
        if self._x + w > 24:
            self._newline()
        panel: dict[str, Any] = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DATASOURCE,
            "gridPos": {"h": h, "w": w, "x": self._x, "y": self._y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": options or {},
            "targets": [
                {
                    "datasource": DATASOURCE,
                    "refId": chr(ord("A") + i),
                    "expr": expr,
                    "legendFormat": legend,
                    "instant": instant,
                    "range": not instant,
                    **({"format": "table"} if kind == "table" else {}),
                }
                for i, (expr, legend) in enumerate(targets)
            ],
        }
        self.panels.append(panel)
        self._x += w
        self._row_h = max(self._row_h, h)

    def json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["loa"],
            "timezone": "browser",
            "schemaVersion": 39,
            "version": 1,
            "editable": False,
            "refresh": "30s",
            "time": {"from": "now-24h", "to": "now"},
            "templating": {"list": self.variables},
            "annotations": {"list": []},
            "panels": self.panels,
        }


def pipeline() -> Board:
    b = Board("loa-pipeline", "Loa · Pipeline", "Is footage flowing, where is it stuck, and why.")
    b.row("Flow")
    b.panel(
        "stat",
        "Footage by status",
        "Footage currently in each status (metrics service projection).",
        [(f"sum by (status) ({once('loa_footage')})", "{{status}}")],
        w=8,
        h=6,
        instant=True,
    )
    b.panel(
        "stat",
        "Uploads in range",
        "Footage accepted by ingest in the selected time range, by source.",
        [("sum by (source) (increase(loa_footage_uploaded_total[$__range]))", "{{source}}")],
        w=8,
        h=6,
        instant=True,
    )
    b.panel(
        "stat",
        "Oldest waiting footage",
        "Age of the oldest footage not yet published (LoaPipelineStalled fires past 2 h with no progress).",
        [("max(loa_footage_oldest_waiting_age_seconds)", "oldest")],
        w=8,
        h=6,
        unit="s",
        instant=True,
    )
    b.panel(
        "timeseries",
        "Uploads",
        "Footage accepted per hour, by source (upload, livestream).",
        [(f"sum by (source) (rate(loa_footage_uploaded_total[{RATE}])) * 3600", "{{source}}")],
        unit="short",
    )
    b.panel(
        "timeseries",
        "Throughput",
        "Footage transcoded and posts published per hour; footage seconds transcoded per hour.",
        [
            (f"sum(rate(loa_footage_transcoded_total[{RATE}])) * 3600", "footage transcoded / h"),
            (f"sum by (channel) (rate(loa_posts_published_total[{RATE}])) * 3600", "posts / h {{channel}}"),
            (f"sum(rate(loa_transcode_media_seconds_total[{RATE}])) * 3600", "footage seconds transcoded / h"),
        ],
    )
    b.panel(
        "timeseries",
        "Stage latency p50 / p95",
        "Time per stage from the events' own timestamps: transcode (upload → all cuts), publish (cuts → last "
        "post), end_to_end.",
        [
            (
                f"histogram_quantile(0.5, sum by (le, stage) (rate(loa_stage_latency_seconds_bucket[{RATE}])))",
                "p50 {{stage}}",
            ),
            (
                f"histogram_quantile(0.95, sum by (le, stage) (rate(loa_stage_latency_seconds_bucket[{RATE}])))",
                "p95 {{stage}}",
            ),
        ],
        unit="s",
    )
    b.row("Failures")
    b.panel(
        "timeseries",
        "Dead letters",
        "Records that could not be processed, by the service that gave up (each needs a person).",
        [(f"sum by (origin_service) (increase(loa_dead_letters_total[{RATE}]))", "{{origin_service}}")],
    )
    b.panel(
        "timeseries",
        "Failed posts",
        "Posts that failed for good, by channel.",
        [(f"sum by (channel) (increase(loa_posts_failed_total[{RATE}]))", "{{channel}}")],
    )
    b.panel(
        "timeseries",
        "Transcode failure ratio",
        "Share of transcode attempts that failed (retried or dead-lettered).",
        [
            (
                f'sum(rate(loa_transcode_jobs_total{{outcome="error"}}[{RATE}])) '
                f"/ sum(rate(loa_transcode_jobs_total[{RATE}]))",
                "failed share",
            )
        ],
        unit="percentunit",
    )
    b.panel(
        "timeseries",
        "HTTP requests and errors",
        "Requests per second by service and status class.",
        [
            (
                f'sum by (job, status) (rate(loa_http_requests_total{{route!="/metrics"}}[{RATE}]))',
                "{{job}} {{status}}",
            )
        ],
        unit="reqps",
    )
    b.panel(
        "timeseries",
        "HTTP latency p95",
        "95th percentile request latency by service.",
        [
            (
                f"histogram_quantile(0.95, sum by (le, job) (rate(loa_http_request_duration_seconds_bucket[{RATE}])))",
                "{{job}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Publisher uploads",
        "Upload attempts per hour by platform and outcome (ok, quota, retry, failed).",
        [
            (
                f"sum by (platform, outcome) (rate(loa_publisher_uploads_total[{RATE}])) * 3600",
                "{{platform}} {{outcome}}",
            )
        ],
    )
    b.row("Kafka and workers")
    b.panel(
        "timeseries",
        "Consumer lag",
        "Records not yet consumed, per consumer group and topic (measured from the broker).",
        [("max by (group, topic) (loa_consumer_lag)", "{{group}} ← {{topic}}")],
    )
    b.panel(
        "timeseries",
        "Active workers",
        "Service processes up, and jobs running now.",
        [
            ('sum by (job) (up{job=~"ingest|transcode|publisher|metrics"})', "{{job}} up"),
            ("sum(loa_transcode_jobs_active)", "transcodes running"),
            ("sum(loa_publisher_uploads_active)", "uploads running"),
        ],
    )
    b.panel(
        "timeseries",
        "Events processed",
        "Events per second through the Faust agents (Faust's own Prometheus sensor).",
        [(f"sum by (job) (rate(faust_total_events_total[{RATE}]))", "{{job}}")],
        unit="ops",
    )
    b.panel(
        "timeseries",
        "Transcode duration p50 / p95",
        "Wall-clock time per transcode attempt (buckets up to 8 h).",
        [
            (f"histogram_quantile(0.5, sum by (le) (rate(loa_transcode_job_seconds_bucket[{RATE}])))", "p50"),
            (f"histogram_quantile(0.95, sum by (le) (rate(loa_transcode_job_seconds_bucket[{RATE}])))", "p95"),
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Storage",
        "Bytes the pipeline has put in storage, by kind (raw uploads, renditions).",
        [
            (f"sum by (kind) ({once('loa_storage_bytes')})", "{{kind}}"),
        ],
        unit="bytes",
    )
    b.panel(
        "stat",
        "Storage free",
        "Free share of the footage storage (local disk or MinIO); LoaStorageAlmostFull fires under 10 %.",
        [("min by (job) (loa:storage_free:ratio)", "{{job}}")],
        unit="percentunit",
        instant=True,
    )
    return b


def channels() -> Board:
    b = Board("loa-channels", "Loa · Channels", "Reach per channel and series: what the ward reports upward.")
    b.variable("channel", "Channel", "label_values(loa_engagement_views, channel)")
    b.variable("series", "Series", "label_values(loa_engagement_views, series)")
    sel = 'channel=~"$channel", series=~"$series"'
    followers = 'loa_channel_followers{channel=~"$channel"}'

    def engagement(metric: str) -> str:
        return once(f"loa_engagement_{metric}{{{sel}}}")

    b.row("Audience")
    b.panel(
        "stat",
        "Followers",
        "Followers per channel, as last polled from the platform.",
        [(f"sum by (channel) ({once(followers)})", "{{channel}}")],
        w=12,
        h=6,
        instant=True,
    )
    b.panel(
        "stat",
        "Posts",
        "Posts published per channel (all time).",
        [(f"sum by (channel) ({once(engagement('posts'))})", "{{channel}}")],
        w=12,
        h=6,
        instant=True,
    )
    b.row("Over time")
    for metric, title in (("views", "Views"), ("likes", "Likes"), ("comments", "Comments"), ("shares", "Shares")):
        b.panel(
            "timeseries",
            f"{title} per channel",
            f"Lifetime {metric} of every post, summed per channel, as last polled.",
            [(f"sum by (channel) ({once(engagement(metric))})", "{{channel}}")],
            w=12,
        )
        b.panel(
            "timeseries",
            f"{title} per series",
            f"Lifetime {metric} of every post, summed per event series, as last polled.",
            [(f"sum by (series) ({once(engagement(metric))})", "{{series}}")],
            w=12,
        )
    b.panel(
        "timeseries",
        "Followers over time",
        "Followers per channel.",
        [(f"sum by (channel) ({once(followers)})", "{{channel}}")],
        w=12,
    )
    b.panel(
        "timeseries",
        "Engagement rate",
        "(likes + comments + shares) / views, per channel.",
        [
            (
                f"sum by (channel) ({engagement('likes')} + {engagement('comments')} + {engagement('shares')}) "
                f"/ sum by (channel) ({engagement('views')})",
                "{{channel}}",
            )
        ],
        w=12,
        unit="percentunit",
    )
    b.row("Citizens' inbox")
    b.panel(
        "stat",
        "Inbox: open and overdue per ward",
        "Comments and messages not handled yet, and those past the ward's response time with no reply.",
        [
            (f"sum by (ward) ({once('loa_inbox_open')})", "{{ward}} open"),
            (f"sum by (ward) ({once('loa_inbox_overdue')})", "{{ward}} overdue"),
        ],
        w=8,
        h=6,
        instant=True,
    )
    b.panel(
        "timeseries",
        "Inbox: comments received per channel",
        "Citizens' comments and messages reaching the inbox, per hour.",
        [('sum by (channel) (increase(loa_feedback_received_total{channel=~"$channel"}[1h]))', "{{channel}}")],
        w=8,
        h=6,
    )
    b.panel(
        "stat",
        "Inbox: median time to first reply",
        "Median time from a comment to the ward's first reply on the platform, over those answered in 30 days.",
        [('max by (channel) (loa_inbox_first_reply_median_seconds{channel=~"$channel"})', "{{channel}}")],
        w=8,
        h=6,
        unit="s",
        instant=True,
    )
    b.row("Top posts")
    b.panel(
        "table",
        "Top posts",
        "The ten most viewed posts (title, channel, series, views).",
        [(f"topk(10, {once(f'loa_top_post_views{{{sel}}}')})", "")],
        w=24,
        h=10,
        instant=True,
        options={"sortBy": [{"displayName": "Value", "desc": True}]},
    )
    return b


def render() -> dict[str, str]:
    return {
        f"{board.uid}.json": json.dumps(board.json(), ensure_ascii=False, indent=2) + "\n"
        for board in (pipeline(), channels())
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
