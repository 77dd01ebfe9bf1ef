"""`python -m loa_metrics`: the one bootstrap for the metrics service."""

from loa_core.channel_registry import ChannelRegistry
from loa_core.kafka import EventProducer
from loa_core.streaming import run_worker
from loa_metrics.app import SERVICE, create_app
from loa_metrics.projection import open_projection
from loa_metrics.settings import MetricsSettings


def main() -> None:
    settings = MetricsSettings()
    producer = EventProducer(settings.kafka_bootstrap, settings.topic_prefix, service=SERVICE)
    channels = ChannelRegistry.seeded(settings.channels_file)
    projection = open_projection(settings.projection_location(), channels)
    run_worker(create_app(settings, projection, producer, channels), settings, SERVICE, producer)


if __name__ == "__main__":
    main()
