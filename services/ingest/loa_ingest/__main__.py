"""`python -m loa_ingest`: the one bootstrap for ingest."""

import contextlib
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from loa_core.channels import load_channels
from loa_core.kafka import EventProducer, ensure_topics
from loa_core.observability import setup_logging
from loa_core.storage import make_storage
from loa_ingest.api import create_api
from loa_ingest.catalog import Catalog
from loa_ingest.service import IngestService
from loa_ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    setup_logging("ingest", settings.log_level)
    producer = EventProducer(settings.kafka_bootstrap, settings.topic_prefix, client_id="loa-ingest")
    service = IngestService(
        settings, make_storage(settings.storage()), producer, Catalog(settings.data_dir / "ingest-catalog.sqlite3")
    )
    api = create_api(service, load_channels(settings.channels_file))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap, settings.topic_prefix)
        await producer.start()
        yield
        await producer.stop()

    api.router.lifespan_context = lifespan
    uvicorn.run(api, host=settings.http_host, port=settings.http_port, log_level="warning")


if __name__ == "__main__":
    main()
