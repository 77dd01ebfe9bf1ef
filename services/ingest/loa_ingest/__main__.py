"""`python -m loa_ingest`: the one bootstrap for ingest."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from loa_core.channels import load_channels
from loa_core.contracts import INGEST
from loa_core.kafka import EventProducer, ensure_topics
from loa_core.observability import setup_logging
from loa_core.storage import make_storage
from loa_ingest.access import RateLimiter
from loa_ingest.api import create_api
from loa_ingest.service import IngestService
from loa_ingest.settings import IngestSettings
from loa_ingest.state import open_state
from loa_ingest.status import StatusRelay
from loa_ingest.tus import TusUploads

log = logging.getLogger("loa_ingest")
SWEEP_EVERY_S = 60.0


def build_app(settings: IngestSettings) -> FastAPI:
    producer = EventProducer(settings.kafka_bootstrap, settings.topic_prefix, service=INGEST)
    data = settings.data_dir
    state = open_state(settings.state_location(), data / "ingest-spool" / "tus")
    metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    relay = StatusRelay(settings.metrics_url, metrics_token)
    service = IngestService(settings, make_storage(settings.storage()), producer, state.catalog)
    api = create_api(
        service,
        load_channels(settings.channels_file),
        state.tokens,
        state.uploads,
        RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
        relay,
    )
    tus: TusUploads = api.state.tus

    async def announce_pending() -> None:
        try:
            if sent := await service.announce_pending():
                log.info("sent %d announcements recorded but not known to be sent", sent)
        except Exception:
            log.exception("sending recorded announcements failed; trying again later")

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            await announce_pending()
            try:
                if expired := await tus.expire_due():
                    log.info("dropped %d expired uploads", expired)
            except Exception:
                log.exception("sweeping expired uploads failed; trying again later")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap, settings.topic_prefix)
        await producer.start()
        await announce_pending()  # what a crash left between recording a footage and announcing it
        sweeper = asyncio.create_task(sweep())
        yield
        sweeper.cancel()
        await relay.close()
        await producer.stop()
        state.close()

    api.router.lifespan_context = lifespan
    return api


def main() -> None:
    settings = IngestSettings()
    setup_logging(INGEST, settings.log_level)
    uvicorn.run(build_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning")


if __name__ == "__main__":
    main()
