"""The metrics service's state: three rooms over one SQLite file.

- `events` (projector.Projector), the write model: pipeline events applied to each footage and post;
- `views` (views.FootageViews), the read views: statuses and the lists the API and the collector serve;
- `engagement` (engagement_store.EngagementStore): the platforms' figures and their sums for reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loa_core.channels import Channel
from loa_metrics.engagement_store import EngagementStore
from loa_metrics.projector import Projector
from loa_metrics.store import Database
from loa_metrics.views import FootageViews


@dataclass(frozen=True)
class Projection:
    channels: Mapping[str, Channel]
    events: Projector
    views: FootageViews
    engagement: EngagementStore


def open_projection(path: Path, channels: Mapping[str, Channel]) -> Projection:
    db = Database(path)
    views = FootageViews(db, channels)
    return Projection(channels, Projector(db, views), views, EngagementStore(db))
