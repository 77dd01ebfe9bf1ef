"""`python -m loa_publisher`: the one bootstrap that wires settings, storage, ledger and producer."""

from loa_core.channels import load_channels
from loa_core.kafka import EventProducer
from loa_core.secrets import SecretKeyError
from loa_core.storage import make_storage
from loa_core.streaming import run_worker
from loa_publisher.app import SERVICE, create_app
from loa_publisher.auth import keeps_refresh_tokens
from loa_publisher.ledger import Ledger
from loa_publisher.settings import PublisherSettings


def main() -> None:
    settings = PublisherSettings()
    try:
        # Rotated refresh tokens are kept encrypted: a publisher with OAuth channels (from its file, or connected
        # through ingest, which its service token is for) does not start without the key.
        channels = load_channels(settings.channels_file).values()
        needed = keeps_refresh_tokens(channels) or settings.service_token is not None
        secrets = settings.required_secret_box() if needed else settings.secret_box()
    except SecretKeyError as error:
        raise SystemExit(str(error)) from None
    producer = EventProducer(settings.kafka_bootstrap, settings.topic_prefix, service=SERVICE)
    ledger = Ledger.open(settings.ledger_location(), secrets=secrets)
    app = create_app(settings, make_storage(settings.storage()), producer, ledger)
    run_worker(app, settings, SERVICE, producer)


if __name__ == "__main__":
    main()
