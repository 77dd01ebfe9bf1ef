"""Every Prometheus metric the metrics service exports, declared once. Labels stay bounded: never ids.

Channels are configuration (a handful per ward) and series are a ward's recurring event series (a handful), so
(channel, series) stays small. Wards are tenants created by a district admin (a district has 10-20, a city a few
hundred at most: Ho Chi Minh City has 168), and each channel belongs to one ward, so a `ward` label adds no series
beyond the channel's own: it lets a dashboard sum by ward without knowing which channel is whose.
The shared HTTP, dead-letter and consumer-lag metrics live in loa_core.metrics.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from loa_core.channels import Channel
from loa_core.contracts import DEAD_LETTER, FEEDBACK_ABILITIES
from loa_core.metrics import job_duration_histogram
from loa_metrics.engagement_store import EngagementStore
from loa_metrics.inbox import Inbox
from loa_metrics.store import seconds_between
from loa_metrics.views import FootageViews

# Each pipeline event projected, by topic (a fixed set of names).
EVENTS_PROJECTED = Counter("loa_pipeline_events_total", "Pipeline events projected into the status view", ["topic"])
# Footage announced by ingest, by source (upload or livestream).
FOOTAGE_UPLOADED = Counter("loa_footage_uploaded_total", "Footage uploaded and validated", ["source"])
# Footage whose every cut is in storage.
FOOTAGE_TRANSCODED = Counter("loa_footage_transcoded_total", "Footage with all renditions ready")
# Footage whose every expected post is published.
FOOTAGE_PUBLISHED = Counter("loa_footage_published_total", "Footage published to every target channel")
# Posts that went live, by ward, platform and channel (channels are configuration, so a small, fixed set; wards are
# made by district admins, at most a few hundred, and a channel is of one ward, so `ward` adds no series).
POSTS_PUBLISHED = Counter("loa_posts_published_total", "Posts published", ["ward", "platform", "channel"])
# Posts that failed for good, by ward, platform and channel (bounded like POSTS_PUBLISHED).
POSTS_FAILED = Counter("loa_posts_failed_total", "Posts failed permanently", ["ward", "platform", "channel"])
# Dead letters seen on the dead-letter topic, by the service that gave up on them (all services, one place).
DEAD_LETTERS = Counter("loa_dead_letters_total", "Records seen on the dead-letter topic", ["origin_service"])
# Seconds each stage took for one footage, from the events' own times: transcode (upload → all cuts),
# publish (all cuts → last post), end_to_end (upload → last post). Buckets up to hours.
STAGE_LATENCY = job_duration_histogram("loa_stage_latency_seconds", "Time a footage spent per stage", ["stage"])
STAGES = ("transcode", "publish", "end_to_end")
# Statistics calls to the platforms, by outcome: ok, error, quota (platform said stop), deferred (our own
# budget is spent for now), no_credentials (a channel with posts but no token to ask with), token_rejected (the
# platform refused the channel's token: expired or revoked).
ENGAGEMENT_POLLS = Counter("loa_engagement_polls_total", "Statistics calls to the platforms", ["platform", "outcome"])
# Checks of a video (the public verification page and `loa verify`), by the ward of the post it matched ("none":
# no post matched; bounded by the wards) and the answer (signed, matches, no_match, invalid).
VERIFICATIONS = Counter("loa_verifications_total", "Videos checked against the published cuts", ["ward", "answer"])
# Comment listing calls, by platform and outcome: ok (the budget allowed it), deferred (our own budget is spent for
# now), quota (the platform said stop), error.
FEEDBACK_POLLS = Counter("loa_feedback_polls_total", "Comment listing calls to the platforms", ["platform", "outcome"])
# Webhook deliveries of citizens' feedback, by platform and outcome: accepted (its items are on Kafka), refused (a
# wrong or missing signature: nothing kept), unavailable (Kafka failed: answered 503, the platform sends it again),
# skipped (an event that is not feedback), unknown_account (a Page or OA no channel names).
FEEDBACK_WEBHOOKS = Counter("loa_feedback_webhooks_total", "Feedback webhook deliveries", ["platform", "outcome"])
# Quota units the poller spent (statistics and comments), by platform: a YouTube unit is one of the project's daily
# quota (commentThreads.list, videos.list, channels.list: 1 each); elsewhere one request. Per day:
# increase(loa_quota_units_total[1d]).
QUOTA_UNITS = Counter("loa_quota_units_total", "Quota units the poller spent", ["platform"])
# Units spent within the budget's sliding window (YouTube: the last 24 h) and the budget itself, as of the poller's
# last round.
QUOTA_WINDOW_USED = Gauge("loa_quota_window_units", "Quota units spent in the budget's sliding window", ["platform"])
QUOTA_WINDOW_LIMIT = Gauge("loa_quota_window_limit", "Quota units the poller may spend per window", ["platform"])
# Citizens' comments and messages that reached a ward's inbox (new items, not the ward's own replies), by ward and
# channel (bounded like POSTS_PUBLISHED: channels are configuration, a channel is of one ward).
FEEDBACK_RECEIVED = Counter(
    "loa_feedback_received_total", "Citizens' comments and messages received", ["ward", "channel"]
)
TOP_POSTS = 10
# The series the poller counts: it runs in a child process (loa_metrics.poller), which writes them to a file after
# every round; the service serves them from there (PollerSeries), in place of its own copies, which stay at nothing.
POLLER_SERIES = (ENGAGEMENT_POLLS, FEEDBACK_POLLS, QUOTA_UNITS, QUOTA_WINDOW_USED, QUOTA_WINDOW_LIMIT)


class PollerSeries(Collector):
    """The poller's series, read from the file its process writes (Prometheus text), as of its last round."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._names = {family.name for series in POLLER_SERIES for family in series.describe()}

    def describe(self) -> Iterator[Metric]:
        for series in POLLER_SERIES:
            yield from series.describe()

    def collect(self) -> Iterator[Metric]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:  # the poller has not finished its first round yet
            return
        for family in text_string_to_metric_families(text):
            if family.name in self._names:
                yield family

    def value(self, sample: str, **labels: str) -> float:
        """One sample's value (0 when absent)."""
        for family in self.collect():
            for found in family.samples:
                if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                    return float(found.value)
        return 0.0


def serve_poller_series(relay: PollerSeries) -> None:
    """The service's registry serves the poller's series from `relay`, instead of this process's own copies."""
    for series in (*POLLER_SERIES, *_SERVING):
        with contextlib.suppress(KeyError):  # already swapped (a second app in one test process)
            REGISTRY.unregister(series)
    _SERVING[:] = [relay]
    REGISTRY.register(relay)


_SERVING: list[PollerSeries] = []


class InboxCollector(Collector):
    """The inbox's state at scrape time, from the database (right across restarts and replicas), per ward and
    channel: items open, items overdue (past the ward's response time, open and unanswered), and the median time to
    the first reply over the items answered in the last 30 days."""

    def __init__(
        self,
        inbox: Inbox,
        channels: Mapping[str, Channel],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._inbox = inbox
        self._channels = channels  # every channel that collects feedback has its series, at 0 before its first item
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        labels = ["ward", "channel"]
        open_ = GaugeMetricFamily("loa_inbox_open", "Inbox items not handled yet", labels=labels)
        overdue = GaugeMetricFamily(
            "loa_inbox_overdue", "Inbox items past the ward's response time, open and unanswered", labels=labels
        )
        median = GaugeMetricFamily(
            "loa_inbox_first_reply_median_seconds",
            "Median time from a comment to the ward's first reply on the platform (items answered in 30 days)",
            labels=labels,
        )
        rows = {(r["ward"], r["channel"]): r for r in self._inbox.gauges(self._clock())}
        for name, channel in self._channels.items():
            if FEEDBACK_ABILITIES.get(channel.platform, frozenset()) & {"comments", "messages"}:
                rows.setdefault((channel.ward, name), {"open": 0, "overdue": 0, "median": None})
        for (ward, channel_name), row in sorted(rows.items()):
            key = [ward, channel_name]
            open_.add_metric(key, row["open"])
            overdue.add_metric(key, row["overdue"])
            if row["median"] is not None:
                median.add_metric(key, row["median"])
        yield open_
        yield overdue
        yield median


# The monthly report mailed, by outcome: sent, failed (tried again at the next check).
REPORT_MAILS = Counter("loa_report_mails_total", "Monthly reports mailed upward", ["outcome"])


class ProjectionCollector(Collector):
    """Gauges read from the projection at scrape time, so they are never stale or double counted."""

    def __init__(self, views: FootageViews, engagement: EngagementStore, storage_root: Path | None) -> None:
        self._views = views
        self._engagement = engagement
        self._storage_root = storage_root

    def collect(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily("loa_footage", "Footage currently in each status", labels=["status"])
        counts, oldest_waiting = self._views.status_summary()
        for status, n in counts.items():
            by_status.add_metric([status], n)
        yield by_status
        # 0 when nothing waits, so "stalled" alerts compare a number, never a missing series.
        age = seconds_between(oldest_waiting, datetime.now(UTC).isoformat()) if oldest_waiting else 0.0
        yield GaugeMetricFamily(
            "loa_footage_oldest_waiting_age_seconds",
            "Age of the oldest footage not yet fully published (nor failed)",
            value=age or 0.0,
        )

        # Lifetime figures of every post, summed per channel and series, as last polled from the platforms; `ward` is
        # the channel's ward (bounded: wards are made by district admins, a few hundred at most, one per channel).
        labels = ["ward", "channel", "platform", "series"]
        families = {
            name: GaugeMetricFamily(
                f"loa_engagement_{name}", f"{name.capitalize()} of the posts, as last polled", labels=labels
            )
            for name in ("posts", "views", "likes", "comments", "shares")
        }
        for row in self._engagement.engagement(ward=None):
            key = [row.ward, row.channel, row.platform, row.series]
            for name, family in families.items():
                family.add_metric(key, getattr(row, name))
        yield from families.values()

        followers = GaugeMetricFamily(
            "loa_channel_followers", "Followers per channel, as last polled", labels=["channel", "platform"]
        )
        for account in self._engagement.followers():
            followers.add_metric([account["channel"], account["platform"]], account["followers"])
        yield followers

        # The ten most viewed posts by rank: at most ten series at any time (titles, never ids).
        top = GaugeMetricFamily(
            "loa_top_post_views", "Views of the ten most viewed posts", labels=["rank", "channel", "series", "title"]
        )
        for rank, post in enumerate(self._engagement.top_posts(TOP_POSTS), start=1):
            top.add_metric([str(rank), post["channel"], post["series"], post["title"] or ""], post["views"])
        yield top

        stored = GaugeMetricFamily(
            "loa_storage_bytes", "Bytes the pipeline has put in storage, by kind", labels=["kind"]
        )
        for kind, n in self._views.stored_bytes().items():
            stored.add_metric([kind], n)
        yield stored

        if self._storage_root is not None and self._storage_root.exists():
            # Local-disk storage only; with S3 the object store reports its own capacity (MinIO's metrics).
            usage = shutil.disk_usage(self._storage_root)
            yield GaugeMetricFamily("loa_storage_capacity_bytes", "Size of the storage volume", value=usage.total)
            yield GaugeMetricFamily("loa_storage_free_bytes", "Free space on the storage volume", value=usage.free)


def initialise(channels: dict[str, tuple[str, str]]) -> None:
    """`channels`: each channel's (ward, platform)."""
    """Create every known label set at 0, so rates and dashboards have a series before the first event."""
    for stage in STAGES:
        STAGE_LATENCY.labels(stage)
    for service in DEAD_LETTER.producers:  # every origin a dead letter can have, at 0 before the first failure
        DEAD_LETTERS.labels(service)
    for name, (ward, platform) in channels.items():
        POSTS_PUBLISHED.labels(ward, platform, name)
        POSTS_FAILED.labels(ward, platform, name)
        FEEDBACK_RECEIVED.labels(ward, name)
    for outcome in ("sent", "failed"):
        REPORT_MAILS.labels(outcome)
    FOOTAGE_UPLOADED.labels("upload")
    FOOTAGE_UPLOADED.labels("livestream")
