"""The Faust side of a service: one way to build the app and one way to consume a topic safely.

An exception inside a Faust agent acks the record and moves on, so `consume` catches everything,
classifies it and, for what cannot be processed, awaits the dead-letter send before the record is acked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.web import Request, Response, View
from pydantic import ValidationError

from loa_core.contracts import DEAD_LETTER, Event, TopicSpec, check_consumes, group_id
from loa_core.kafka import EventProducer, dead_letter_for, send_dead_letter
from loa_core.settings import CommonSettings

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)


class RetryableError(Exception):
    """Try again later: storage or a platform is briefly unavailable."""


class PermanentError(Exception):
    """Will never succeed as is: goes to the dead-letter topic with this message."""


def make_app(service: str, settings: CommonSettings, **overrides: Any) -> faust.App:
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.kafka_bootstrap}",
        "web_host": settings.http_host,
        "web_port": settings.http_port,
        "store": "memory://",
        "consumer_auto_offset_reset": "earliest",
        # Our topics are created from the contracts before the worker starts; Faust must not guess them.
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "web_in_thread": False,
        "datadir": str(settings.data_dir / f"faust-{service}"),
    }
    options.update(overrides)
    app = faust.App(group_id(service, settings.topic_prefix), **options)
    # Faust's own sensor (events, commits, lag, rebalances) under one stable name prefix, so dashboards
    # do not depend on the app id (which carries the test prefix).
    setup_prometheus_sensors(app, name_prefix="faust")

    @app.page("/healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Readyz(View):
        async def get(self, request: Request) -> Response:
            assigned = app.consumer.assignment() if app.consumer else set()
            ready = app.rebalancing is False and bool(assigned)
            return self.json({"status": "ready" if ready else "not ready"}, status=200 if ready else 503)

    return app


def raw_topic(app: faust.App, spec: TopicSpec, prefix: str) -> faust.TopicT:
    """Records are JSON bytes decoded by our pydantic contracts, not Faust Records."""
    return app.topic(
        spec.full_name(prefix),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=spec.partitions,
        retention=timedelta(milliseconds=spec.retention_ms),
    )


Handler = Callable[[E], Awaitable[None]]


async def process_record(
    raw: bytes | None,
    *,
    spec: TopicSpec,
    topic: str,
    partition: int | None,
    offset: int | None,
    service: str,
    handler: Handler[Any],
    producer: EventProducer,
    retries: int = 5,
    backoff_s: float = 1.0,
    on_dead_letter: Callable[[Event | None, BaseException], Awaitable[None]] | None = None,
) -> None:
    """Decode, handle, retry what is transient, dead-letter what is not. Never raises but for cancellation."""
    event: Event | None = None
    try:
        event = spec.event.from_bytes(raw or b"")
    except (ValidationError, ValueError) as exc:
        if spec.name == DEAD_LETTER.name:
            # Dead-lettering a broken dead letter would loop forever; it stays on its topic for a person.
            log.error("unreadable record on %s[%s]@%s left in place: %s", topic, partition, offset, exc)
            return
        await send_dead_letter(
            producer, dead_letter_for(raw, service=service, topic=topic, error=exc, partition=partition, offset=offset)
        )
        return
    footage_id = getattr(event, "footage_id", None)
    attempt = 0
    while True:
        try:
            await handler(event)
            return
        except asyncio.CancelledError:
            raise
        except RetryableError as exc:
            attempt += 1
            if attempt <= retries:
                delay = backoff_s * 2 ** (attempt - 1)
                log.warning("retry %d/%d in %.1fs for %s: %s", attempt, retries, delay, footage_id, exc)
                await asyncio.sleep(delay)
                continue
            error: BaseException = exc
        except Exception as exc:
            if not isinstance(exc, PermanentError):
                log.exception("unexpected error handling %s", footage_id)
            error = exc
        letter = dead_letter_for(
            raw, service=service, topic=topic, error=error, partition=partition, offset=offset, footage_id=footage_id
        )
        await send_dead_letter(producer, letter)
        if on_dead_letter is not None:
            await on_dead_letter(event, error)
        return


def consume(
    app: faust.App,
    spec: TopicSpec,
    *,
    service: str,
    prefix: str,
    producer: EventProducer,
    handler: Handler[Any],
    on_dead_letter: Callable[[Event | None, BaseException], Awaitable[None]] | None = None,
    concurrency: int = 1,
) -> None:
    """Register the one agent of a service: every record goes through `process_record`.

    Only a topic whose TopicSpec names `service` among its consumers (UndeclaredTopic otherwise).
    """
    check_consumes(service, spec)
    topic = raw_topic(app, spec, prefix)

    async def agent(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            await process_record(
                event.value,
                spec=spec,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                service=service,
                handler=handler,
                producer=producer,
                on_dead_letter=on_dead_letter,
            )

    agent.__name__ = f"{service}_{spec.name.replace('.', '_')}"
    agent.__qualname__ = agent.__name__
    app.agent(topic, name=f"{service}.{spec.name}", concurrency=concurrency)(agent)


def run_worker(app: faust.App, settings: CommonSettings, service: str, producer: EventProducer) -> None:
    """Create the declared topics, then run the Faust worker in the foreground until SIGTERM/SIGINT."""
    from loa_core.kafka import ensure_topics
    from loa_core.observability import setup_logging

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's signal typing predates async receivers
    async def _stop_producer(app: faust.App, **_: Any) -> None:
        await producer.stop()

    setup_logging(service, settings.log_level)
    asyncio.run(ensure_topics(settings.kafka_bootstrap, settings.topic_prefix))
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
