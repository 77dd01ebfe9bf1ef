"""The metrics worker: Faust agents project every pipeline topic; FastAPI serves the view in the same loop.

Background tasks in the same loop: consumer lag of every Loa consumer group, and engagement polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import uvicorn
from prometheus_client import REGISTRY
from pydantic import SecretStr

from loa_core import mail as mail_out
from loa_core.auth import bearer_dependency
from loa_core.channel_registry import ChannelRegistry
from loa_core.contracts import (
    DEAD_LETTER,
    FEEDBACK_ACTIONS,
    FEEDBACK_DONE,
    FEEDBACK_RECEIVED,
    FOOTAGE_UPLOADED,
    POSTS_CHANGED,
    POSTS_DECISIONS,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    Channel,
    ChannelState,
    DeadLetter,
    FeedbackAction,
    FeedbackDone,
    FeedbackReceived,
    FootageUploaded,
    PostChanged,
    PostDecision,
    PostFailed,
    PostPublished,
    RenditionsReady,
    TopicSpec,
    consumer_groups,
    group_id,
)
from loa_core.contracts.topics import METRICS
from loa_core.kafka import EventProducer
from loa_core.lag import Group, LagMonitor
from loa_core.streaming import Handler, ServiceApp, consume, follow_channels, make_app, not_ready
from loa_metrics import metrics, poller, triage
from loa_metrics.api import create_api
from loa_metrics.feedback_api import collection_router
from loa_metrics.feedback_webhooks import webhook_router
from loa_metrics.projection import Projection
from loa_metrics.report_mail import ReportMailer
from loa_metrics.settings import MetricsSettings
from loa_metrics.store import seconds_between

SERVICE = METRICS
log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside Faust's loop: Faust owns the signals and the shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def create_app(
    settings: MetricsSettings, projection: Projection, producer: EventProducer, channels: ChannelRegistry
) -> ServiceApp:
    """`channels`: the registry the projection was opened with, followed from here."""
    # Faust's own web server is off: FastAPI answers /healthz, /readyz and /metrics (Faust's sensor included).
    overrides: dict[str, Any] = {}
    if settings.broker_session_timeout_s is not None:
        overrides["broker_session_timeout"] = settings.broker_session_timeout_s
    app = make_app(SERVICE, settings, web_enabled=False, **overrides)
    metrics.initialise({name: (c.ward, c.platform) for name, c in channels.items()})
    follow_channels(app, settings, SERVICE, channels)

    def channel_changed(channel: Channel) -> None:
        if channel.state is not ChannelState.REMOVED:
            # Its series exist, at 0, before its first post.
            metrics.initialise({channel.name: (channel.ward, channel.platform)})
        projection.views.channels_changed()

    channels.subscribe(channel_changed)
    storage_root = settings.storage_root if settings.storage_backend == "local" else None
    REGISTRY.register(metrics.ProjectionCollector(projection.views, projection.engagement, storage_root))
    REGISTRY.register(metrics.InboxCollector(projection.inbox, projection.channels))

    def observe_stages(footage_id: str, *, transcoded: bool = False, published: bool = False) -> None:
        times = projection.views.stage_times(footage_id)
        if transcoded and (s := seconds_between(times["uploaded_at"], times["transcoded_at"])) is not None:
            metrics.STAGE_LATENCY.labels("transcode").observe(s)
        if published:
            if (s := seconds_between(times["transcoded_at"], times["published_at"])) is not None:
                metrics.STAGE_LATENCY.labels("publish").observe(s)
            if (s := seconds_between(times["uploaded_at"], times["published_at"])) is not None:
                metrics.STAGE_LATENCY.labels("end_to_end").observe(s)

    async def on_uploaded(event: FootageUploaded) -> None:
        metrics.EVENTS_PROJECTED.labels(FOOTAGE_UPLOADED.name).inc()
        if projection.events.footage_uploaded(event):
            metrics.FOOTAGE_UPLOADED.labels(event.source).inc()

    async def on_renditions(event: RenditionsReady) -> None:
        metrics.EVENTS_PROJECTED.labels(RENDITIONS_READY.name).inc()
        if projection.events.renditions_ready(event):
            metrics.FOOTAGE_TRANSCODED.inc()
            observe_stages(event.footage_id, transcoded=True)
        _count_published(event.footage_id)

    async def on_published(event: PostPublished) -> None:
        metrics.EVENTS_PROJECTED.labels(POSTS_PUBLISHED.name).inc()
        if projection.events.post_published(event):
            metrics.POSTS_PUBLISHED.labels(event.ward, event.platform, event.channel).inc()
        _count_published(event.footage_id)

    async def on_failed(event: PostFailed) -> None:
        metrics.EVENTS_PROJECTED.labels(POSTS_FAILED.name).inc()
        if projection.events.failure(event):
            metrics.POSTS_FAILED.labels(event.ward, event.platform, event.channel).inc()

    async def on_decision(event: PostDecision) -> None:
        metrics.EVENTS_PROJECTED.labels(POSTS_DECISIONS.name).inc()
        projection.events.post_decision(event)

    async def on_changed(event: PostChanged) -> None:
        metrics.EVENTS_PROJECTED.labels(POSTS_CHANGED.name).inc()
        projection.events.post_changed(event)

    async def on_feedback(event: FeedbackReceived) -> None:
        metrics.EVENTS_PROJECTED.labels(FEEDBACK_RECEIVED.name).inc()
        if projection.feedback.record(event, datetime.now(UTC)) and not event.by_channel:
            metrics.FEEDBACK_RECEIVED.labels(event.ward, event.channel).inc()
            # Triage once, when the item is new: pyvi's segmenter is CPU work, kept off the loop.
            topic = await asyncio.to_thread(triage.topic_of, event.text, projection.inbox.rules(event.ward))
            projection.inbox.tag_by_rules(event, topic)

    async def on_feedback_action(event: FeedbackAction) -> None:
        metrics.EVENTS_PROJECTED.labels(FEEDBACK_ACTIONS.name).inc()
        projection.inbox.action(event)

    async def on_feedback_done(event: FeedbackDone) -> None:
        metrics.EVENTS_PROJECTED.labels(FEEDBACK_DONE.name).inc()
        projection.inbox.done(event)

    async def on_dead_letter(event: DeadLetter) -> None:
        metrics.EVENTS_PROJECTED.labels(DEAD_LETTER.name).inc()
        if projection.events.failure(event):
            metrics.DEAD_LETTERS.labels(event.origin_service).inc()

    def _count_published(footage_id: str) -> None:
        # Stage latencies are observed once per footage, when it is first seen fully published
        # (an upload event arriving late is rare and then only misses that footage's sample).
        if projection.events.mark_published_once(footage_id):
            metrics.FOOTAGE_PUBLISHED.inc()
            observe_stages(footage_id, published=True)

    handlers: dict[TopicSpec, Handler[Any]] = {
        FOOTAGE_UPLOADED: on_uploaded,
        RENDITIONS_READY: on_renditions,
        POSTS_PUBLISHED: on_published,
        POSTS_FAILED: on_failed,
        POSTS_DECISIONS: on_decision,
        POSTS_CHANGED: on_changed,
        FEEDBACK_RECEIVED: on_feedback,
        FEEDBACK_ACTIONS: on_feedback_action,
        FEEDBACK_DONE: on_feedback_done,
        DEAD_LETTER: on_dead_letter,
    }
    # Exactly the topics the contracts route to metrics: consume() refuses one not routed here (UndeclaredTopic), and
    # tests/unit/test_contracts_routing.py fails on one routed here without a handler.
    for spec, handler in handlers.items():
        consume(app, spec, service=SERVICE, prefix=settings.topic_prefix, producer=producer, handler=handler)

    async def ready() -> str | None:
        return not_ready(app)

    api = create_api(
        settings, projection.views, projection.engagement, ready, projection.verifications, projection.inbox
    )
    # The poller runs in a child process (loa_metrics.poller); its series and its budgets' use come from its file.
    poller_series = metrics.PollerSeries(settings.data_dir / poller.SERIES_FILE)
    budgets = {
        platform: poller.PolledBudget(budget, platform, poller_series)
        for platform, budget in poller.budgets_of(settings).items()
    }
    viewer = bearer_dependency(settings.token_hashes, settings.ingest_roles(), need="viewer")
    api.include_router(collection_router(viewer, projection.channels, projection.feedback, budgets))

    async def send_feedback(event: FeedbackReceived) -> None:
        await producer.send(FEEDBACK_RECEIVED, event)

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    api.include_router(
        webhook_router(
            projection.channels,
            send_feedback,
            projection.feedback.footage_of,
            facebook_app_secret=secret(settings.facebook_app_secret),
            facebook_verify_token=secret(settings.facebook_webhook_verify_token),
            zalo_app_id=settings.zalo_app_id,
            zalo_oa_secrets={oa: key.get_secret_value() for oa, key in settings.zalo_oa_secret_keys.items()},
        )
    )

    @app.task
    async def serve_http() -> None:
        config = uvicorn.Config(api, host=settings.http_host, port=settings.http_port, log_level="warning")
        await _EmbeddedServer(config).serve()

    @app.task
    async def measure_lag() -> None:
        # Every Loa consumer group, and what it reads, from the contracts. The group id is Faust's app id.
        groups = [
            Group(label=group_id(service), group_id=group_id(service, settings.topic_prefix), topics=topics)
            for service, topics in consumer_groups().items()
        ]
        monitor = LagMonitor(settings.kafka_bootstrap, settings.topic_prefix, groups)
        try:
            await monitor.run(settings.lag_interval_s)
        finally:
            await monitor.close()

    @app.task
    async def mail_reports() -> None:
        smtp = mail_out.smtp_of(settings)
        if smtp is None or not any(settings.report_emails.values()):
            log.info("no LOA_SMTP_HOST or LOA_REPORT_EMAILS: the monthly report is not mailed")
            return
        mailer = ReportMailer(
            projection.database,
            projection.engagement,
            projection.channels,
            smtp,
            settings.report_emails,
            days=settings.report_mail_days,
            names=settings.ward_names,
            verifications=projection.verifications,
        )
        while True:
            try:
                await mailer.run_once()
            except Exception:  # a bug in one check must not stop the next ones
                log.exception("mailing the monthly reports failed")
            await asyncio.sleep(settings.report_mail_interval_s)

    @app.task
    async def poll_platforms() -> None:
        # Always on: a channel is polled as soon as it has credentials, every platform within its own budget.
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        metrics.serve_poller_series(poller_series)
        await poller.supervise(settings, settings.data_dir / poller.SERIES_FILE)

    return app
