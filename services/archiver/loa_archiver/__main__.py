"""`python -m loa_archiver`: the one bootstrap for the archiver (HTTP API + RTMP listener + HLS puller)."""

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

import uvicorn
from fastapi import FastAPI

from loa_archiver.api import create_api
from loa_archiver.finalizer import Finalizer
from loa_archiver.puller import HlsPuller
from loa_archiver.push import PushSessions
from loa_archiver.service import Archiver
from loa_archiver.settings import ArchiverSettings
from loa_archiver.store import ArchiveStore
from loa_core.channels import load_channels
from loa_core.contracts import ARCHIVER
from loa_core.kafka import EventProducer, ensure_topics
from loa_core.observability import setup_logging
from loa_core.storage import Storage, make_storage

log = logging.getLogger("loa_archiver")


def build_archiver(
    settings: ArchiverSettings, storage: Storage, producer: EventProducer, store: ArchiveStore, channels: Iterable[str]
) -> Archiver:
    """The three rooms: the finalizer, and the two sources (push sessions, HLS puller) that hand archives to it."""
    finalizer = Finalizer(settings, storage, producer, store)
    return Archiver(
        settings,
        store,
        frozenset(channels),
        finalizer,
        PushSessions(settings, storage, store, finalizer),
        HlsPuller(settings, storage, store, finalizer),
    )


def build_app(settings: ArchiverSettings) -> FastAPI:
    producer = EventProducer(settings.kafka_bootstrap, settings.topic_prefix, service=ARCHIVER)
    store = ArchiveStore.open(settings.store_location())
    archiver = build_archiver(
        settings, make_storage(settings.storage()), producer, store, load_channels(settings.channels_file)
    )
    api = create_api(archiver)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap, settings.topic_prefix)
        await producer.start()
        await archiver.start()
        yield
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
