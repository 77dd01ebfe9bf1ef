"""The metrics worker: Faust agents project every pipeline topic; FastAPI serves the view in the same loop."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import faust
import uvicorn

from loa_core.contracts import (
    DEAD_LETTER,
    FOOTAGE_UPLOADED,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    DeadLetter,
    FootageUploaded,
    PostFailed,
    PostPublished,
    RenditionsReady,
)
from loa_core.kafka import EventProducer
from loa_core.streaming import consume, make_app
from loa_metrics import metrics
from loa_metrics.api import create_api
from loa_metrics.projection import Projection
from loa_metrics.settings import MetricsSettings

SERVICE = "metrics"


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside Faust's loop: Faust owns the signals and the shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def create_app(settings: MetricsSettings, projection: Projection, producer: EventProducer) -> faust.App:
    # Faust's own web server is off: FastAPI answers /healthz, /readyz and /metrics (Faust's sensor included).
    app = make_app(SERVICE, settings, web_enabled=False)

    async def on_uploaded(event: FootageUploaded) -> None:
        metrics.EVENTS_PROJECTED.labels(FOOTAGE_UPLOADED.name).inc()
        if projection.footage_uploaded(event):
            metrics.FOOTAGE_UPLOADED.labels(event.source).inc()

    async def on_renditions(event: RenditionsReady) -> None:
        metrics.EVENTS_PROJECTED.labels(RENDITIONS_READY.name).inc()
        if projection.renditions_ready(event):
            metrics.FOOTAGE_TRANSCODED.inc()
        _count_published(event.footage_id)

    async def on_published(event: PostPublished) -> None:
        metrics.EVENTS_PROJECTED.labels(POSTS_PUBLISHED.name).inc()
        if projection.post_published(event):
            metrics.POSTS_PUBLISHED.labels(event.platform, event.channel).inc()
        _count_published(event.footage_id)

    async def on_failed(event: PostFailed) -> None:
        metrics.EVENTS_PROJECTED.labels(POSTS_FAILED.name).inc()
        if projection.failure(event):
            metrics.POSTS_FAILED.labels(event.platform, event.channel).inc()

    async def on_dead_letter(event: DeadLetter) -> None:
        metrics.EVENTS_PROJECTED.labels(DEAD_LETTER.name).inc()
        if projection.failure(event):
            metrics.DEAD_LETTERS.labels(event.origin_service).inc()

    def _count_published(footage_id: str) -> None:
        if projection.mark_published_once(footage_id):
            metrics.FOOTAGE_PUBLISHED.inc()

    for spec, handler in (
        (FOOTAGE_UPLOADED, on_uploaded),
        (RENDITIONS_READY, on_renditions),
        (POSTS_PUBLISHED, on_published),
        (POSTS_FAILED, on_failed),
        (DEAD_LETTER, on_dead_letter),
    ):
        consume(app, spec, service=SERVICE, prefix=settings.topic_prefix, producer=producer, handler=handler)

    api = create_api(settings, projection)

    @app.task
    async def serve_http() -> None:
        config = uvicorn.Config(api, host=settings.http_host, port=settings.http_port, log_level="warning")
        await _EmbeddedServer(config).serve()

    return app
