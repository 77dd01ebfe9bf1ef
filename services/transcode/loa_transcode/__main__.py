"""`python -m loa_transcode`: the one bootstrap that builds settings, storage and producer, then runs the worker."""

from loa_core.kafka import EventProducer
from loa_core.storage import make_storage
from loa_core.streaming import run_worker
from loa_transcode.app import SERVICE, create_app
from loa_transcode.settings import TranscodeSettings


def main() -> None:
    settings = TranscodeSettings()
    producer = EventProducer(settings.kafka_bootstrap, settings.topic_prefix, service=SERVICE)
    app = create_app(settings, make_storage(settings.storage()), producer)
    run_worker(app, settings, SERVICE, producer)


if __name__ == "__main__":
    main()
