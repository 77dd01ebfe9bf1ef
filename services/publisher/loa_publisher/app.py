"""The publisher worker: a thin Faust agent around `publish.publish_all`."""

from __future__ import annotations

import faust

from loa_core.channels import load_channels
from loa_core.contracts import RENDITIONS_READY, RenditionsReady
from loa_core.kafka import EventProducer
from loa_core.storage import Storage
from loa_core.streaming import consume, make_app
from loa_publisher.adapters import Adapter
from loa_publisher.adapters.local import LocalAdapter
from loa_publisher.ledger import Ledger
from loa_publisher.publish import publish_all
from loa_publisher.settings import PublisherSettings

SERVICE = "publisher"


def create_app(settings: PublisherSettings, storage: Storage, producer: EventProducer, ledger: Ledger) -> faust.App:
    app = make_app(SERVICE, settings, stream_wait_empty=False)
    channels = load_channels(settings.channels_file)
    adapters: dict[str, Adapter] = {"local": LocalAdapter(storage, settings.publish_dir)}

    async def handle(event: RenditionsReady) -> None:
        await publish_all(event, channels=channels, adapters=adapters, ledger=ledger, producer=producer)

    consume(app, RENDITIONS_READY, service=SERVICE, prefix=settings.topic_prefix, producer=producer, handler=handle)
    return app
