"""Each service reads and writes exactly the topics its TopicSpecs name it for: the routing is the contracts'.

Subscriptions are checked on the services' real Faust apps (built as their bootstraps build them, without a broker);
sends are checked in the services' code, and at runtime by the service's EventProducer.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import faust
import pytest
from prometheus_client import CollectorRegistry

from loa_core import streaming
from loa_core.contracts import (
    DEAD_LETTER,
    POSTS_FAILED,
    SERVICES,
    TopicSpec,
    UndeclaredTopic,
    consumer_groups,
    topics_consumed_by,
    topics_produced_by,
)
from loa_core.contracts import topics as topics_module
from loa_core.kafka import EventProducer
from loa_core.storage import LocalStorage

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "ingest": ROOT / "services/ingest/loa_ingest",
    "archiver": ROOT / "services/archiver/loa_archiver",
    "transcode": ROOT / "services/transcode/loa_transcode",
    "publisher": ROOT / "services/publisher/loa_publisher",
    "metrics": ROOT / "services/metrics/loa_metrics",
}
PREFIX = "routing-"
NOWHERE = "127.0.0.1:1"  # building an app connects to nothing


@pytest.fixture
def one_app_per_test(monkeypatch: pytest.MonkeyPatch) -> None:
    # Faust's Prometheus sensor registers process-wide metrics, once per process in a real service; several apps
    # are built here, so it is left out.
    monkeypatch.setattr(streaming, "setup_prometheus_sensors", lambda app, **_: None)


def _subscribed(app: faust.App) -> set[str]:
    return {name for agent in app.agents.values() for name in agent.channel.topics}


def _declared(service: str) -> set[str]:
    return {spec.full_name(PREFIX) for spec in topics_consumed_by(service)}


def _transcode_app(tmp_path: Path) -> faust.App:
    from loa_transcode.app import create_app
    from loa_transcode.settings import TranscodeSettings

    settings = TranscodeSettings(topic_prefix=PREFIX, data_dir=tmp_path / "data")
    return create_app(settings, LocalStorage(tmp_path / "s"), EventProducer(NOWHERE, service="transcode"))


def _publisher_app(tmp_path: Path) -> faust.App:
    from loa_publisher.app import create_app
    from loa_publisher.ledger import Ledger
    from loa_publisher.settings import PublisherSettings

    settings = PublisherSettings(topic_prefix=PREFIX, data_dir=tmp_path / "data")
    ledger = Ledger.open(settings.ledger_location())
    producer = EventProducer(NOWHERE, service="publisher")
    return create_app(settings, LocalStorage(tmp_path / "s"), producer, ledger)


def _metrics_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> faust.App:
    from loa_core.channel_registry import ChannelRegistry
    from loa_metrics import app as metrics_app
    from loa_metrics.projection import open_projection
    from loa_metrics.settings import MetricsSettings

    monkeypatch.setattr(metrics_app, "REGISTRY", CollectorRegistry())
    settings = MetricsSettings(topic_prefix=PREFIX, data_dir=tmp_path / "data")
    channels = ChannelRegistry()
    projection = open_projection(tmp_path / "projection.sqlite3", channels)
    return metrics_app.create_app(settings, projection, EventProducer(NOWHERE, service="metrics"), channels)


@pytest.mark.usefixtures("one_app_per_test")
def test_transcode_subscribes_to_exactly_its_declared_topics(tmp_path: Path) -> None:
    assert _subscribed(_transcode_app(tmp_path)) == _declared("transcode")


@pytest.mark.usefixtures("one_app_per_test")
def test_publisher_subscribes_to_exactly_its_declared_topics(tmp_path: Path) -> None:
    assert _subscribed(_publisher_app(tmp_path)) == _declared("publisher")


@pytest.mark.usefixtures("one_app_per_test")
def test_metrics_subscribes_to_exactly_its_declared_topics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _subscribed(_metrics_app(tmp_path, monkeypatch)) == _declared("metrics")


def test_the_services_with_a_consumer_group_are_the_faust_services() -> None:
    assert set(consumer_groups()) == {"transcode", "publisher", "metrics"}


@pytest.mark.usefixtures("one_app_per_test")
def test_subscribing_a_service_to_an_undeclared_topic_fails_when_its_app_is_built(tmp_path: Path) -> None:
    app = _transcode_app(tmp_path)

    async def handler(event: object) -> None:
        raise AssertionError("never called")

    with pytest.raises(UndeclaredTopic, match=r"transcode subscribes to posts\.failed"):
        streaming.consume(
            app, POSTS_FAILED, service="transcode", prefix=PREFIX, producer=EventProducer(NOWHERE), handler=handler
        )
    assert _subscribed(app) == _declared("transcode")


# --- sends, read from the services' code ------------------------------------------------------------------------

_TOPIC_CONSTANTS = {name: spec for name, spec in vars(topics_module).items() if isinstance(spec, TopicSpec)}
# Calls that dead-letter what a service cannot process: a service making them produces dead letters.
_DEAD_LETTERING = {"consume", "process_record", "send_dead_letter"}


@functools.cache
def _calls(service: str) -> list[ast.Call]:
    return [
        node
        for path in sorted(PACKAGES[service].rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path)))
        if isinstance(node, ast.Call)
    ]


def _callee(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def sent_by(service: str) -> set[TopicSpec]:
    """The topics a service's code sends on: `<producer>.send(TOPIC, ...)`, and dead letters."""
    sent: set[TopicSpec] = set()
    for call in _calls(service):
        name = _callee(call)
        if name == "send" and call.args and isinstance(call.args[0], ast.Name):
            spec = _TOPIC_CONSTANTS.get(call.args[0].id)
            if spec is not None:
                sent.add(spec)
        elif name in _DEAD_LETTERING:
            sent.add(DEAD_LETTER)
    return sent


def test_the_scan_sees_every_send_of_the_pipeline() -> None:
    # Guards the scan itself: if it stopped recognising sends, every service would look silent.
    assert all(sent_by(service) for service in SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_sends_on_exactly_the_topics_it_is_declared_to_produce(service: str) -> None:
    assert sent_by(service) == set(topics_produced_by(service))


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_producer_is_made_with_its_name_so_it_refuses_undeclared_sends(service: str) -> None:
    producers = [call for call in _calls(service) if _callee(call) == "EventProducer"]
    assert producers, f"{service} makes no EventProducer"
    for call in producers:
        named = {k.arg: k.value for k in call.keywords}
        assert "service" in named, f"{service}: EventProducer(...) without service="
