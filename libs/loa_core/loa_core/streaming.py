"""The Faust side of a service: one way to build the app and one way to consume a topic safely.

An exception inside a Faust agent acks the record and moves on, so `consume` catches everything,
classifies it and, for what cannot be processed, awaits the dead-letter send before the record is acked.

Acks are ours, not Faust's. Faust acks a record when its agent leaves it, cancelled or not: the stream iterator
(faust/streams.py `Stream._c_aiter`/`_py_aiter`) acks the current event in the `finally` around its `yield`,
which runs when the cancelled agent's iterator is closed (`Stream.on_stop` closes it, or the loop's async
generator finalizer); `Consumer.on_stop` then commits it (`commit_and_end_transactions`, as `stream_wait_empty`
is off). So a SIGTERM mid-job committed the job as done, and it was never redone. `consume` therefore reads a
`noack()` stream and acks a record only once it was handled or dead-lettered; a job cancelled or abandoned at the
stop, or held at the dead-letter limit, is never acked, so the partition's next owner (or the restart) redoes it.

The stop, in order (faust/app/base.py `App.on_stop`): Faust pauses the partitions and stops fetching
(`_stop_consumer`), then sends `on_before_shutdown`, where `Consumption.drain` lets the jobs in flight finish
within `shutdown_grace_s` and cancels the rest; only then are the service's clients closed (HTTP, our producer),
then Faust cancels the agents (`AgentManager.stop`) and the consumer commits what was acked.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar, cast

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.web import Request, Response, View
from pydantic import ValidationError

from loa_core.channel_registry import ChannelRegistry, RegistryReader
from loa_core.contracts import DEAD_LETTER, Event, TopicSpec, check_consumes, group_id
from loa_core.errors import PermanentError as PermanentError
from loa_core.errors import RetryableError as RetryableError
from loa_core.kafka import EventProducer, dead_letter_for, send_dead_letter
from loa_core.metrics import CONSUMER_STOPPED
from loa_core.settings import CommonSettings

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
R = TypeVar("R")


class Outcome(enum.Enum):
    """What became of one record."""

    DONE = "done"  # handled: acked
    DEAD_LETTERED = "dead-lettered"  # on the dead-letter topic with its reason: acked
    HELD = "held"  # would have passed the dead-letter limit: not acked, the consumer stops
    ABANDONED = "abandoned"  # its job was cancelled at a stop: not acked, the next owner redoes it


class DeadLetterLimit:
    """Whether one more record may be dead-lettered, from the outcomes so far. A pure policy: no I/O, no clock.

    As Kafka Connect's `errors.tolerance` and arroyo's `DlqLimit`: a few bad records are dead-lettered and
    consumption goes on, but a run of failures, or a high share of them, says the fault is on our side (a bad
    deploy, storage down), where dead-lettering the rest of the topic would turn an outage into lost work.
    Up to `max_consecutive` records in a row may be dead-lettered; once `window` outcomes are known, no more than
    `max_ratio` of the last `window` may be. The record refused is not dead-lettered, and consumption stops.
    """

    def __init__(self, max_consecutive: int, max_ratio: float, window: int) -> None:
        if max_consecutive < 1 or window < 1 or not 0 < max_ratio <= 1:
            raise ValueError("max_consecutive and window must be at least 1, max_ratio in (0, 1]")
        self.max_consecutive = max_consecutive
        self.max_ratio = max_ratio
        self.window = window
        self._recent: deque[bool] = deque(maxlen=window)
        self._consecutive = 0

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> DeadLetterLimit:
        return cls(settings.dead_letter_max_consecutive, settings.dead_letter_max_ratio, settings.dead_letter_window)

    def record(self, dead_lettered: bool) -> None:
        """One record's outcome: handled (False) or dead-lettered (True)."""
        self._recent.append(dead_lettered)
        self._consecutive = self._consecutive + 1 if dead_lettered else 0

    def refusal(self) -> str | None:
        """Why one more dead letter would pass the limit (English / Vietnamese), or None when it may be sent."""
        if self._consecutive >= self.max_consecutive:
            n, limit = self._consecutive + 1, self.max_consecutive
            return (
                f"{n} records in a row could not be processed (at most {limit} in a row are dead-lettered)"
                f" / {n} bản ghi liên tiếp không xử lý được (tối đa {limit} bản ghi liên tiếp vào dead-letter)"
            )
        if len(self._recent) + 1 >= self.window:  # the window is full with this record in it
            kept = list(self._recent)[len(self._recent) - (self.window - 1) :] if self.window > 1 else []
            failures = sum(kept) + 1
            if failures > self.max_ratio * self.window:
                share = f"{self.max_ratio:.0%}"
                return (
                    f"{failures} of the last {self.window} records could not be processed (at most {share} are"
                    f" dead-lettered) / {failures} trong {self.window} bản ghi gần nhất không xử lý được (tối đa"
                    f" {share} vào dead-letter)"
                )
        return None


class Consumption:
    """A service's consuming, as one object: the jobs in flight, the topics stopped at their dead-letter limit,
    and what to close once the jobs are drained at a stop. `make_app` makes one per app; `consume` uses it."""

    def __init__(self, service: str, settings: CommonSettings) -> None:
        self.service = service
        self.settings = settings
        self.stopping = False
        self.closers: list[Callable[[], Awaitable[None]]] = []
        # What else must hold before the worker is ready (/readyz): each says why not, or None (the channel registry).
        self.prerequisites: list[Callable[[], str | None]] = []
        self._jobs: set[asyncio.Task[Any]] = set()
        self._abandoning = False
        self._stopped: dict[str, str] = {}  # topic (contract name) -> why it stopped

    async def run(self, job: Coroutine[Any, Any, R]) -> R | Outcome:
        """Run a job (a record's, or a timer's such as the publisher's held posts) where `drain` can wait for it
        or abandon it; an abandoned job returns Outcome.ABANDONED."""
        task = asyncio.ensure_future(job)
        self._jobs.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._abandoning and task.cancelled() and not (current is not None and current.cancelling()):
                return Outcome.ABANDONED
            raise  # the agent itself is being cancelled; the job went with it, unacked
        finally:
            self._jobs.discard(task)

    async def drain(self, grace_s: float) -> None:
        """At a stop: start no new job, let those in flight finish within `grace_s`, abandon the rest."""
        self.stopping = True
        jobs = set(self._jobs)
        if not jobs:
            return
        log.info("stopping: waiting up to %.1f s for %d job(s) in flight", grace_s, len(jobs))
        _, pending = await asyncio.wait(jobs, timeout=grace_s) if grace_s > 0 else (set(), jobs)
        if pending:
            log.warning(
                "abandoning %d unfinished job(s) at the stop: their records are not committed and will be redone",
                len(pending),
            )
            self._abandoning = True
            for task in pending:
                task.cancel()
            await asyncio.wait(pending)

    async def close(self) -> None:
        """After the drain: close what the jobs used (HTTP clients, the producer), in the order registered."""
        for close in self.closers:
            try:
                await close()
            except Exception:
                log.exception("closing %r at the stop failed", close)

    def stop_topic(self, app: faust.App, spec: TopicSpec, topic: str, reason: str) -> None:
        """Stop consuming `topic` for good (until a restart): pause its partitions, say why."""
        if spec.name in self._stopped:
            return
        self._stopped[spec.name] = f"{self.service} stopped consuming {spec.name}: {reason}"
        CONSUMER_STOPPED.labels(self.service, spec.name).set(1)
        log.error(
            "%s; the records from this one on are not committed: fix the cause and restart the service to redo them",
            self._stopped[spec.name],
        )
        if app.consumer is not None:
            app.consumer.pause_partitions({tp for tp in app.consumer.assignment() if tp.topic == topic})

    def is_stopped(self, spec: TopicSpec) -> bool:
        return spec.name in self._stopped

    def stopped_reasons(self) -> list[str]:
        return list(self._stopped.values())


class ServiceApp(faust.App):
    """A Faust app that carries its service's `Consumption`."""

    consumption: Consumption


async def _until_cancelled() -> None:
    """Hold the agent on a record it must not ack, until Faust cancels the agent at the stop."""
    await asyncio.Event().wait()


def make_app(service: str, settings: CommonSettings, **overrides: Any) -> ServiceApp:
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.kafka_bootstrap}",
        # Faust listens on web_bind (its default: every interface); web_host only names the server in URLs.
        "web_bind": settings.http_host,
        "web_host": settings.http_host,
        "web_port": settings.http_port,
        "store": "memory://",
        "consumer_auto_offset_reset": "earliest",
        # Our topics are created from the contracts before the worker starts; Faust must not guess them.
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "web_in_thread": False,
        "datadir": str(settings.data_dir / f"faust-{service}"),
        # None: a dynamic member (see CommonSettings.instance_id).
        "consumer_group_instance_id": settings.instance_id,
    }
    options.update(overrides)
    # Faust refuses a session longer than its request timeout (90 s): a service that lengthens the session (a static
    # member given time to come back) gets a request timeout to match.
    session_s = options.get("broker_session_timeout")
    if session_s is not None and "broker_request_timeout" not in options:
        options["broker_request_timeout"] = max(90.0, float(session_s) + 30.0)
    app = ServiceApp(group_id(service, settings.topic_prefix), **options)
    consumption = app.consumption = Consumption(service, settings)
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
            problem = not_ready(app)
            if problem:
                return self.json({"status": "not ready", "reason": problem}, status=503)
            return self.json({"status": "ready"})

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode's signal typing predates async receivers
    async def _drain_then_close(app: faust.App, **_: Any) -> None:
        # Faust has stopped fetching; its agents, and their clients, are still running until this returns.
        await consumption.drain(settings.shutdown_grace_s)
        await consumption.close()

    return app


def follow_channels(
    app: ServiceApp, settings: CommonSettings, service: str, registry: ChannelRegistry | None = None
) -> ChannelRegistry:
    """The service's channel registry (by default seeded from its channels file), followed by a task started with
    the app (and cancelled at its stop), and a prerequisite of /readyz until it is read up to date."""
    registry = registry if registry is not None else ChannelRegistry.seeded(settings.channels_file)
    reader = RegistryReader(registry, settings.kafka_bootstrap, settings.topic_prefix, service=service)
    app.consumption.prerequisites.append(registry.not_ready)
    app.task(reader.run)
    return registry


def not_ready(app: ServiceApp) -> str | None:
    """Why this worker does not consume (its /readyz), or None: a topic stopped at its dead-letter limit, a
    prerequisite not met (the channel registry not read yet), a rebalance under way, no partitions assigned yet."""
    stopped = app.consumption.stopped_reasons()
    if stopped:
        return "; ".join(stopped)
    unmet = [why for check in app.consumption.prerequisites if (why := check()) is not None]
    if unmet:
        return "; ".join(unmet)
    if app.rebalancing:
        return "consumer group rebalancing"
    if not (app.consumer and app.consumer.assignment()):
        return "no partitions assigned yet"
    return None


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
    limit: DeadLetterLimit | None = None,
) -> Outcome:
    """Decode, handle, retry what is transient, dead-letter what is not, unless `limit` refuses one more dead
    letter: then the record is HELD (`limit.refusal()` says why). Never raises but for cancellation."""
    event: Event | None = None
    try:
        event = spec.event.from_bytes(raw or b"")
    except (ValidationError, ValueError) as exc:
        if spec.name == DEAD_LETTER.name:
            # Dead-lettering a broken dead letter would loop forever; it stays on its topic for a person.
            log.error("unreadable record on %s[%s]@%s left in place: %s", topic, partition, offset, exc)
            return Outcome.DONE
        if limit is not None:
            if limit.refusal() is not None:
                return Outcome.HELD
            # Counted before the send's await, so that a record of another agent (concurrency > 1) deciding
            # meanwhile sees this one: checked and counted with no await between, the limit holds exactly.
            limit.record(dead_lettered=True)
        await send_dead_letter(
            producer, dead_letter_for(raw, service=service, topic=topic, error=exc, partition=partition, offset=offset)
        )
        return Outcome.DEAD_LETTERED
    footage_id = getattr(event, "footage_id", None)
    ward = getattr(event, "ward", None)
    attempt = 0
    while True:
        try:
            await handler(event)
            if limit is not None:
                limit.record(dead_lettered=False)
            return Outcome.DONE
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
        if limit is not None:
            if limit.refusal() is not None:
                log.error("not dead-lettering %s[%s]@%s (%s): %s", topic, partition, offset, footage_id, error)
                return Outcome.HELD
            limit.record(dead_lettered=True)  # before any await, as above
        letter = dead_letter_for(
            raw,
            service=service,
            topic=topic,
            error=error,
            partition=partition,
            offset=offset,
            footage_id=footage_id,
            ward=ward,
        )
        await send_dead_letter(producer, letter)
        if on_dead_letter is not None:
            await on_dead_letter(event, error)
        return Outcome.DEAD_LETTERED


def consume(
    app: ServiceApp,
    spec: TopicSpec,
    *,
    service: str,
    prefix: str,
    producer: EventProducer,
    handler: Handler[Any],
    on_dead_letter: Callable[[Event | None, BaseException], Awaitable[None]] | None = None,
    concurrency: int = 1,
) -> None:
    """Register the agent of a topic: every record goes through `process_record`, and is acked only when it was
    handled or dead-lettered (see the module's docstring for why Faust must not ack on its own).

    Only a topic whose TopicSpec names `service` among its consumers (UndeclaredTopic otherwise).
    """
    check_consumes(service, spec)
    topic = raw_topic(app, spec, prefix)
    consumption = app.consumption
    limit = DeadLetterLimit.from_settings(consumption.settings)
    CONSUMER_STOPPED.labels(service, spec.name).set(0)

    async def agent(stream: faust.StreamT[bytes]) -> None:
        manual = cast(faust.Stream[bytes], stream).noack()  # StreamT does not declare noack; Stream does
        async for event in manual.events():
            if consumption.stopping or consumption.is_stopped(spec):
                # Fetched after the stop began, or after the limit: left unacked for the next owner or the restart.
                await _until_cancelled()
            message = event.message

            async def job(event: faust.EventT[bytes] = event, message: Any = message) -> Outcome:
                outcome = await process_record(
                    event.value,
                    spec=spec,
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                    service=service,
                    handler=handler,
                    producer=producer,
                    on_dead_letter=on_dead_letter,
                    limit=limit,
                )
                if outcome is Outcome.HELD:
                    consumption.stop_topic(app, spec, message.topic, limit.refusal() or "dead-letter limit")
                else:
                    await manual.ack(event)  # in the job, so a job `drain` saw finish is acked before the commit
                return outcome

            await consumption.run(job())

    agent.__name__ = f"{service}_{spec.name.replace('.', '_')}"
    agent.__qualname__ = agent.__name__
    app.agent(topic, name=f"{service}.{spec.name}", concurrency=concurrency)(agent)


def run_worker(app: ServiceApp, settings: CommonSettings, service: str, producer: EventProducer) -> None:
    """Create the declared topics, then run the Faust worker in the foreground until SIGTERM/SIGINT."""
    from loa_core.kafka import ensure_topics
    from loa_core.observability import setup_logging

    # Last of what the stop closes: the jobs drained before it may still have sent with it.
    app.consumption.closers.append(producer.stop)
    setup_logging(service, settings.log_level)
    # Faust creates its own folder inside data_dir but not data_dir itself (which nothing else may have made: a
    # publisher whose ledger is in PostgreSQL writes no file there).
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(settings.kafka_bootstrap, settings.topic_prefix))
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
