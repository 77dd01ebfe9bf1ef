"""The transcode worker: a thin Faust agent around `pipeline.transcode`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from loa_core.contracts import (
    FOOTAGE_UPLOADED,
    LIVE_CHUNKS,
    RENDITIONS_READY,
    TRANSCODE,
    TRANSCODE_CHUNKS,
    TRANSCODE_PROGRESS,
    Event,
    FootageUploaded,
    LiveChunk,
    TranscodeChunk,
    TranscodeProgress,
    utc_now,
)
from loa_core.kafka import EventProducer
from loa_core.storage import Storage
from loa_core.streaming import ServiceApp, consume, follow_channels, make_app
from loa_transcode import metrics
from loa_transcode.chunked import Chunking, encode_chunk
from loa_transcode.chunks import ChunkPolicy
from loa_transcode.graph import EncodeOptions
from loa_transcode.lease import JobLeases
from loa_transcode.live import encode_live_chunk
from loa_transcode.pipeline import JobContext, transcode
from loa_transcode.progress import Progress
from loa_transcode.settings import TranscodeSettings

SERVICE = TRANSCODE
log = logging.getLogger(__name__)


def faust_options(settings: TranscodeSettings) -> dict[str, Any]:
    """Consumer-group timing for long jobs, chosen deliberately (tests/integration/test_transcode_long_job.py).

    Heartbeats run in aiokafka's own task, so a busy agent keeps its membership (session timeout); and
    Faust's fetcher keeps polling while an agent works, so max.poll.interval is not what a long encode
    trips. It is still set above the longest job we run, because a poll gap that long means a stuck worker.
    """
    return {
        "broker_session_timeout": settings.broker_session_timeout_s,
        "broker_heartbeat_interval": settings.broker_heartbeat_interval_s,
        "broker_max_poll_interval": settings.broker_max_poll_interval_s,
        # Do not wait for in-flight events to drain at rebalance: a 30-minute job must not stall it. The job's
        # offset is not committed yet, so the partition's new owner receives it too, and waits on the job's lease
        # (lease.py) for the old owner's manifest instead of encoding it again; a dead owner's lease goes stale.
        "stream_wait_empty": False,
    }


def create_app(settings: TranscodeSettings, storage: Storage, producer: EventProducer) -> ServiceApp:
    app = make_app(SERVICE, settings, **faust_options(settings))
    channels = follow_channels(app, settings, SERVICE)  # branding and cuts per channel, as the registry says now
    ctx = JobContext(
        storage=storage,
        channels=channels,
        options=EncodeOptions(
            preset=settings.x264_preset,
            crf=settings.crf,
            threads=settings.ffmpeg_threads,
            read_rate=settings.ffmpeg_read_rate,
        ),
        workdir_root=settings.data_dir / "transcode-work",
        leases=JobLeases.for_group(
            storage,
            session_timeout_s=settings.broker_session_timeout_s,
            heartbeat_s=settings.broker_heartbeat_interval_s,
            instance_id=settings.instance_id,
        ),
        places=asyncio.Semaphore(settings.concurrency),
    )
    if settings.chunked:

        async def request_chunk(chunk: TranscodeChunk) -> None:
            await producer.send(TRANSCODE_CHUNKS, chunk)

        chunking = Chunking(
            ChunkPolicy(settings.chunked_from_s, settings.chunk_s, settings.chunk_max_s),
            request_chunk,
            stall_s=settings.chunk_stall_s,
            requests=settings.chunk_requests,
        )
        ctx = replace(ctx, chunked=chunking.encode)

    async def handle(event: FootageUploaded) -> None:
        await channels.wait_ready()  # a channel not read yet is not one that does not exist

        async def report(progress: Progress) -> None:
            # Progress is informational: a failed send is logged, never fails the job.
            try:
                await producer.send(
                    TRANSCODE_PROGRESS,
                    TranscodeProgress(
                        footage_id=event.footage_id,
                        ward=event.ward,
                        state="running",
                        percent=progress.percent,
                        fps=progress.fps,
                        eta_s=progress.eta_s,
                        upload_event_id=event.event_id,
                    ),
                )
            except Exception:
                log.warning("could not send progress for %s", event.footage_id, exc_info=True)

        with metrics.job():
            ready = await transcode(event, ctx=ctx, report=report)
        metrics.MEDIA_SECONDS.inc(event.media.duration_s)
        metrics.BYTES_STORED.inc(sum(r.size_bytes for r in ready.renditions))
        await producer.send(RENDITIONS_READY, ready)
        await producer.send(
            TRANSCODE_PROGRESS,
            TranscodeProgress(
                footage_id=event.footage_id,
                ward=event.ward,
                state="done",
                percent=100.0,
                upload_event_id=event.event_id,
            ),
        )

    async def on_dead_letter(event: Event | None, error: BaseException) -> None:
        # The dead letter (already sent, with footage_id) is the durable failure record; this event tells
        # whoever follows the job's progress that it stopped, and why.
        if isinstance(event, FootageUploaded):
            await producer.send(
                TRANSCODE_PROGRESS,
                TranscodeProgress(
                    footage_id=event.footage_id,
                    ward=event.ward,
                    state="failed",
                    percent=0.0,
                    upload_event_id=event.event_id,
                    reason=f"{type(error).__name__}: {error}"[:4000],
                ),
            )

    async def handle_chunk(chunk: TranscodeChunk) -> None:
        await encode_chunk(chunk, ctx)

    # Every worker encodes chunks, whether or not it chunks its own footage (the group shares the topic).
    consume(
        app,
        TRANSCODE_CHUNKS,
        service=SERVICE,
        prefix=settings.topic_prefix,
        producer=producer,
        handler=handle_chunk,
        concurrency=settings.chunk_concurrency,
    )

    async def handle_live_chunk(chunk: LiveChunk) -> None:
        await channels.wait_ready()
        backlog = max(0.0, (utc_now() - chunk.occurred_at).total_seconds())
        metrics.LIVE_BACKLOG.set(backlog)
        try:  # informational, like all progress: a failed send is logged, never fails the chunk
            await producer.send(
                TRANSCODE_PROGRESS,
                TranscodeProgress(
                    footage_id=chunk.footage_id,
                    ward=chunk.ward,
                    state="running",
                    percent=0.0,
                    live_backlog_s=round(backlog, 1),
                ),
            )
        except Exception:
            log.warning("could not send the live backlog of %s", chunk.footage_id, exc_info=True)
        outcome = "error"
        try:
            result = await encode_live_chunk(chunk, ctx)
            outcome = "skipped" if result.error else "ok"
        finally:
            metrics.LIVE_CHUNKS.labels(outcome).inc()

    consume(
        app,
        LIVE_CHUNKS,
        service=SERVICE,
        prefix=settings.topic_prefix,
        producer=producer,
        handler=handle_live_chunk,
    )
    consume(
        app,
        FOOTAGE_UPLOADED,
        service=SERVICE,
        prefix=settings.topic_prefix,
        producer=producer,
        handler=handle,
        on_dead_letter=on_dead_letter,
        # As many records again as jobs: a record waiting on another worker's lease holds no job's place (ctx.places).
        concurrency=2 * settings.concurrency,
    )
    return app
