"""The metrics service follows the channel registry: a channel added while it runs has its post series at once,
and the status summary a scrape caches is computed again after a channel change."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from loa_core import streaming
from loa_core.channel_registry import ChannelRegistry
from loa_core.contracts import Channel, ChannelUpdated, FootageStatus, new_id
from loa_core.kafka import EventProducer
from loa_metrics import app as metrics_app
from loa_metrics.projection import open_projection
from loa_metrics.settings import MetricsSettings
from tests.support.metrics_events import published, renditions, uploaded


def test_a_channel_added_gets_its_series_and_changes_what_a_footage_waits_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming, "setup_prometheus_sensors", lambda app, **_: None)
    monkeypatch.setattr(metrics_app, "REGISTRY", CollectorRegistry())  # the projection's collector, per test
    channels = ChannelRegistry([Channel(name="local", platform="local", profiles=("youtube",))])
    projection = open_projection(tmp_path / "projection.sqlite3", channels)  # SQLite: the summary is cached
    settings = MetricsSettings(topic_prefix="t-", data_dir=tmp_path / "data")
    metrics_app.create_app(settings, projection, EventProducer("127.0.0.1:1", service="metrics"), channels)

    name = f"p9-{new_id()[:8]}"  # not known yet
    footage_id = new_id()
    projection.events.footage_uploaded(uploaded(footage_id, channels=("local", name)))
    projection.events.renditions_ready(renditions(footage_id, channels=("local", name)))
    projection.events.post_published(published(footage_id, "youtube"))
    counts, _ = projection.views.status_summary()
    assert counts[FootageStatus.PUBLISHED] == 1  # every post of a known channel is out

    channels.apply(ChannelUpdated(channel=Channel(name=name, platform="local", profiles=("youtube",)), revision=1))
    labels = {"ward": "default", "platform": "local", "channel": name}
    assert REGISTRY.get_sample_value("loa_posts_published_total", labels) == 0
    assert REGISTRY.get_sample_value("loa_posts_failed_total", labels) == 0
    counts, _ = projection.views.status_summary()
    assert (counts[FootageStatus.PUBLISHED], counts[FootageStatus.PUBLISHING]) == (0, 1)  # now it waits for p9
