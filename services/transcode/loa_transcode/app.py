"""The transcode worker: a thin Faust agent around `pipeline.transcode`."""

from __future__ import annotations

from datetime import timedelta

import faust

from loa_core.channels import load_channels
from loa_core.contracts import FOOTAGE_UPLOADED, RENDITIONS_READY, FootageUploaded
from loa_core.kafka import EventProducer
from loa_core.storage import Storage
from loa_core.streaming import consume, make_app
from loa_transcode.graph import EncodeOptions
from loa_transcode.pipeline import transcode
from loa_transcode.settings import TranscodeSettings

SERVICE = "transcode"


def create_app(settings: TranscodeSettings, storage: Storage, producer: EventProducer) -> faust.App:
    app = make_app(
        SERVICE,
        settings,
        # A long encode holds its partition's stream; heartbeats run on their own, and this bound is what
        # decides when a silent consumer is evicted: above any single job we run (2-hour livestreams).
        broker_max_poll_interval=timedelta(hours=3).total_seconds(),
        # Do not wait for in-flight events to drain at rebalance: a job killed then is redone by the new owner.
        stream_wait_empty=False,
    )
    channels = load_channels(settings.channels_file)
    options = EncodeOptions(preset=settings.x264_preset, crf=settings.crf, threads=settings.ffmpeg_threads)

    async def handle(event: FootageUploaded) -> None:
        ready = await transcode(event, storage=storage, channels=channels, options=options)
        await producer.send(RENDITIONS_READY, ready)

    consume(app, FOOTAGE_UPLOADED, service=SERVICE, prefix=settings.topic_prefix, producer=producer, handler=handle)
    return app
