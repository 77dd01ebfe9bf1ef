"""The poller: statistics and comments from the platforms, in a small process of its own that the metrics service
starts and watches (`python -m loa_metrics.poller`, never run by hand).

Why a process: the service around it is heavy (Faust, FastAPI, the Vietnamese tokenizer that triages what the
poller collects, the report's libraries), and polling needs none of it: the HTTP client, the producer, the database
and the contracts: 66 MiB of imports, 81 MiB at the peak of polling 1,000 posts and 5,000 comments
(bench/feedback_poll.py; tests/unit/test_metrics_imports.py keeps Faust, FastAPI, boto3 and the rest out). Why a
child and not a deployment of its own: it goes wherever the service goes (`make run`, Compose, Kubernetes) with
nothing to add, and with two replicas each starts one, of which one polls at a time (the `poller` lease in the
shared database; a SQLite file is one replica's, so its one child).

- The child: one round every `stats_round_s` while it holds the lease: the engagement figures (engagement.Poller),
  then the comments (feedback_poll.FeedbackPoller), which go out on feedback.received; the service consumes them
  back, stores and triages them. The channels come from the registry topic, as in every process.
- Its Prometheus series (metrics.POLLER_SERIES) are written to a file after every round, which the service's
  /metrics serves (metrics.PollerSeries); the budgets' use shown on the channel pages comes from there too.
- It stops when the service does: on SIGTERM or SIGINT, and when its stdin reaches its end (the service died, even
  killed). The service starts it again, after a pause, whenever it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client import REGISTRY, write_to_textfile

from loa_core.channel_registry import ChannelRegistry, RegistryReader
from loa_core.contracts import FEEDBACK_RECEIVED, FeedbackReceived
from loa_core.contracts.topics import METRICS
from loa_core.ingest_credentials import IngestCredentials
from loa_core.kafka import EventProducer
from loa_core.logs import setup_logging
from loa_metrics import metrics
from loa_metrics.channel_tokens import ChannelTokens, PublisherTokens
from loa_metrics.engagement import Budget, FacebookStats, Poller, TikTokStats, YouTubeStats, ZaloStats
from loa_metrics.engagement_store import EngagementStore
from loa_metrics.feedback_poll import FacebookComments, FeedbackPoller, YouTubeComments
from loa_metrics.feedback_store import FeedbackStore
from loa_metrics.settings import MetricsSettings
from loa_metrics.store import Database

log = logging.getLogger(__name__)

SERIES_FILE = "metrics-poller.prom"
RESTART_PAUSE_S = 5.0


def budgets_of(settings: MetricsSettings) -> dict[str, Budget]:
    """One budget per platform for statistics and comments together: the poller's share of each quota."""
    return {
        "youtube": Budget(settings.youtube_daily_units, 24 * 3600, platform="youtube"),
        "tiktok": Budget(settings.tiktok_requests_per_minute, 60, platform="tiktok"),
        "facebook": Budget(settings.facebook_requests_per_hour, 3600, platform="facebook"),
        "zalo": Budget(settings.zalo_requests_per_hour, 3600, platform="zalo"),
    }


class PolledBudget:
    """A budget as the service shows it (GET /feedback/collection): its limit and window from the settings, its use
    as of the poller's last round (from the poller's series)."""

    def __init__(self, budget: Budget, platform: str, series: metrics.PollerSeries) -> None:
        self.limit = budget.limit
        self.window_s = budget.window_s
        self._platform = platform
        self._series = series

    def used(self) -> int:
        return int(self._series.value("loa_quota_window_units", platform=self._platform))


async def poll(settings: MetricsSettings, series: Path) -> None:
    """The child's work, until cancelled."""
    channels = ChannelRegistry.seeded(settings.channels_file)
    reader = asyncio.create_task(
        RegistryReader(channels, settings.kafka_bootstrap, settings.topic_prefix, service=METRICS).run()
    )
    database = Database.open(settings.projection_location())
    feedback, engagement = FeedbackStore(database), EngagementStore(database)
    producer = EventProducer(settings.kafka_bootstrap, settings.topic_prefix, service=METRICS)
    budgets = budgets_of(settings)
    holder = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
    lease = timedelta(seconds=3 * settings.stats_round_s)

    async def send_feedback(event: FeedbackReceived) -> None:
        await producer.send(FEEDBACK_RECEIVED, event)

    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http:
            youtube = YouTubeStats(http, settings.youtube_api_base)
            facebook = FacebookStats(http, settings.facebook_api_base, settings.facebook_api_version)
            token = settings.service_token.get_secret_value() if settings.service_token else None
            ingest = IngestCredentials(settings.ingest_url, token, http) if settings.ingest_url and token else None
            publisher_url = settings.publisher_url
            publisher = PublisherTokens(publisher_url, token, http) if publisher_url and token else None
            tokens = ChannelTokens(channels, settings.stats_credentials_file, ingest, http, publisher=publisher)
            tiktok, zalo = TikTokStats(http, settings.tiktok_api_base), ZaloStats(http, settings.zalo_api_base)
            stats = Poller(engagement, channels, [youtube, tiktok, facebook, zalo], budgets, tokens.current)
            comments = FeedbackPoller(
                feedback,
                engagement,
                channels,
                YouTubeComments(youtube),
                FacebookComments(facebook),
                budgets,
                tokens.current,
                send_feedback,
                page_cap=settings.feedback_page_cap,
            )
            while True:
                # One replica polls at a time (a lease row in the shared database; a SQLite file is one replica's):
                # the others would spend the same quota on the same answers.
                if feedback.take_lease("poller", holder, lease, datetime.now(UTC)):
                    await tokens.refresh()
                    for name, round_ in (("engagement", stats.poll_once), ("comments", comments.poll_once)):
                        try:
                            await round_()
                        except Exception:  # a bug in one round must not stop the next ones
                            log.exception("%s polling round failed", name)
                _export(budgets, series)
                await asyncio.sleep(settings.stats_round_s)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await producer.stop()
        database.close()


def _export(budgets: Mapping[str, Budget], series: Path) -> None:
    for budget in budgets.values():
        budget.export()
    write_to_textfile(str(series), REGISTRY)  # written aside and renamed: the service never reads half a file


async def supervise(settings: MetricsSettings, series: Path) -> None:
    """The service's side: run the poller as a child, again after a pause whenever it exits, until cancelled (then
    stop it). Its stdin stays open as long as this process lives."""
    series.unlink(missing_ok=True)  # a previous run's figures are not this one's
    while True:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loa_metrics.poller", "--series", str(series), stdin=asyncio.subprocess.PIPE
        )
        try:
            code = await child.wait()
        except asyncio.CancelledError:
            # It may be gone already: a Ctrl-C reaches the whole process group.
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
                try:
                    await asyncio.wait_for(child.wait(), 10)
                except TimeoutError:
                    child.kill()
            raise
        log.error("the poller exited with %s; starting it again in %.0f s", code, RESTART_PAUSE_S)
        await asyncio.sleep(RESTART_PAUSE_S)


def main() -> None:
    parser = argparse.ArgumentParser(description="The metrics service's poller (started by the service).")
    parser.add_argument("--series", type=Path, required=True, help="where to write the Prometheus series")
    args = parser.parse_args()
    settings = MetricsSettings()
    setup_logging(f"{METRICS}-poller", settings.log_level)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        work = asyncio.current_task()
        assert work is not None
        for stop in (signal.SIGTERM, signal.SIGINT):  # SIGINT: a Ctrl-C on `make run` reaches the process group
            loop.add_signal_handler(stop, work.cancel)

        def watch_stdin() -> None:
            sys.stdin.buffer.read()  # returns at the end: the service is gone
            loop.call_soon_threadsafe(work.cancel)

        threading.Thread(target=watch_stdin, daemon=True).start()
        with contextlib.suppress(asyncio.CancelledError):
            await poll(settings, args.series)

    asyncio.run(run())


if __name__ == "__main__":
    main()
