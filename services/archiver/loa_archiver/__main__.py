"""`python -m loa_archiver`: the one bootstrap for the archiver (HTTP API + RTMP listener + HLS puller)."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from loa_archiver.api import create_api
from loa_archiver.finalizer import Finalizer
from loa_archiver.leases import Leases
from loa_archiver.live import LiveChunker
from loa_archiver.puller import HlsPuller
from loa_archiver.push import PushSessions
from loa_archiver.service import Archiver
from loa_archiver.settings import ArchiverSettings
from loa_archiver.store import ArchiveStore
from loa_core.channel_registry import ChannelRegistry, RegistryReader
from loa_core.contracts import ARCHIVER
from loa_core.kafka import EventProducer, ensure_topics
from loa_core.observability import setup_logging
from loa_core.storage import Storage, make_storage

log = logging.getLogger("loa_archiver")


def build_archiver(
    settings: ArchiverSettings,
    storage: Storage,
    producer: EventProducer,
    store: ArchiveStore,
    channels: ChannelRegistry,
) -> Archiver:
    """The three rooms: the finalizer, and the two sources (push sessions, HLS puller) that hand archives to it."""
    leases = Leases(store, settings.lease_s)
    live = LiveChunker(store, producer, settings.live_chunk_s, leases=leases)
    finalizer = Finalizer(settings, storage, producer, store, live, leases)
    return Archiver(
        settings,
        store,
        channels,
        finalizer,
        PushSessions(settings, storage, store, finalizer),
        HlsPuller(settings, storage, store, finalizer),
        live,
    )


def build_app(settings: ArchiverSettings) -> FastAPI:
    producer = EventProducer(settings.kafka_bootstrap, settings.topic_prefix, service=ARCHIVER)
    store = ArchiveStore.open(settings.store_location())
    channels = ChannelRegistry.seeded(settings.channels_file)
    reader = RegistryReader(channels, settings.kafka_bootstrap, settings.topic_prefix, service=ARCHIVER)
    archiver = build_archiver(settings, make_storage(settings.storage()), producer, store, channels)
    api = create_api(archiver)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap, settings.topic_prefix)
        await producer.start()
        following = asyncio.create_task(reader.run())  # /readyz waits until it has read the registry
        await archiver.start()
        yield
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await archiver.stop()
        await producer.stop()
        store.close()
        log.info("stopped")

    api.router.lifespan_context = lifespan
    return api


def main() -> None:
    settings = ArchiverSettings()
    setup_logging(ARCHIVER, settings.log_level)
    uvicorn.run(build_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning")


if __name__ == "__main__":
    main()
