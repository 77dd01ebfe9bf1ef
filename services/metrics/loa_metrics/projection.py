"""The metrics service's state: six rooms over one database (loa_metrics.store).

- `events` (projector.Projector), the write model: pipeline events applied to each footage and post;
- `views` (views.FootageViews), the read views: statuses and the lists the API and the collector serve;
- `engagement` (engagement_store.EngagementStore): the platforms' figures and their sums for reports;
- `verifications` (verification.Verifications): the published cuts' fingerprints, checked for the public;
- `feedback` (feedback_store.FeedbackStore): the citizens' comments and messages, and where collecting them stands;
- `inbox` (inbox.Inbox): the citizens' inbox, per ward.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loa_core.channels import Channel
from loa_metrics.engagement_store import EngagementStore
from loa_metrics.feedback_store import FeedbackStore
from loa_metrics.inbox import Inbox
from loa_metrics.projector import Projector
from loa_metrics.store import Database
from loa_metrics.verification import Verifications
from loa_metrics.views import FootageViews


@dataclass(frozen=True)
class Projection:
    channels: Mapping[str, Channel]
    events: Projector
    views: FootageViews
    engagement: EngagementStore
    database: Database
    verifications: Verifications
    feedback: FeedbackStore
    inbox: Inbox

    def close(self) -> None:
        self.database.close()


def open_projection(location: str | Path, channels: Mapping[str, Channel]) -> Projection:
    """`location`: a SQLite file's path or a database URL (settings: `database_url(settings, FILE)`)."""
    db = Database.open(location)
    views = FootageViews(db, channels)
    return Projection(
        channels, Projector(db, views), views, EngagementStore(db), db, Verifications(db), FeedbackStore(db), Inbox(db)
    )
