"""The write model: each pipeline event applied to the stored state of its footage and post.

Topics are consumed independently, so events of one footage can arrive in any order: every method creates the
footage row first and only fills what is still empty, which also makes redelivery harmless. Each method returns
True when the event changed something (the first delivery), so counters count each event once.
"""

from __future__ import annotations

import json

from loa_core.contracts import DeadLetter, FootageStatus, FootageUploaded, PostFailed, PostPublished, RenditionsReady
from loa_metrics.status import PUBLISH
from loa_metrics.store import Database, ts
from loa_metrics.views import FootageViews


class Projector:
    def __init__(self, db: Database, views: FootageViews) -> None:
        self._db = db
        self._views = views

    def _ensure_row(self, footage_id: str) -> None:
        # Topics are consumed independently, so a post may arrive before its upload: create the row first.
        self._db.execute("INSERT OR IGNORE INTO footage (footage_id) VALUES (?)", (footage_id,))

    def footage_uploaded(self, event: FootageUploaded) -> bool:
        self._ensure_row(event.footage_id)
        cur = self._db.execute(
            "UPDATE footage SET title=?, series=?, channels=?, source=?, uploaded_at=?, source_bytes=? "
            "WHERE footage_id=? AND uploaded_at IS NULL",
            (
                event.metadata.title,
                event.metadata.series,
                json.dumps(list(event.metadata.channels)),
                event.source,
                ts(event.occurred_at),
                event.media.size_bytes,
                event.footage_id,
            ),
        )
        return cur.rowcount > 0

    def renditions_ready(self, event: RenditionsReady) -> bool:
        self._ensure_row(event.footage_id)
        renditions = [
            r.model_dump(include={"profile", "key", "width", "height", "duration_s", "size_bytes"})
            for r in event.renditions
        ]
        cur = self._db.execute(
            "UPDATE footage SET transcoded_at=?, renditions=?, title=COALESCE(title, ?), "
            "series=COALESCE(series, ?), channels=COALESCE(channels, ?) "
            "WHERE footage_id=? AND transcoded_at IS NULL",
            (
                ts(event.occurred_at),
                json.dumps(renditions),
                event.metadata.title,
                event.metadata.series,
                json.dumps(list(event.metadata.channels)),
                event.footage_id,
            ),
        )
        return cur.rowcount > 0

    def post_published(self, event: PostPublished) -> bool:
        self._ensure_row(event.footage_id)
        cur = self._db.execute(
            "INSERT OR IGNORE INTO posts "
            "(footage_id, channel, profile, platform, post_id, url, published_at, announced_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.footage_id,
                event.channel,
                event.profile,
                event.platform,
                event.post_id,
                event.url,
                ts(event.published_at),
                ts(event.occurred_at),
            ),
        )
        return cur.rowcount > 0

    def failure(self, event: PostFailed | DeadLetter) -> bool:
        footage_id: str | None
        channel: str | None
        if isinstance(event, PostFailed):
            footage_id, stage, channel = event.footage_id, PUBLISH, event.channel
        else:
            footage_id, stage, channel = event.footage_id, event.origin_service, None
        if footage_id:
            self._ensure_row(footage_id)
        cur = self._db.execute(
            "INSERT OR IGNORE INTO failures VALUES (?, ?, ?, ?, ?, ?)",
            (event.event_id, footage_id, stage, channel, event.reason, ts(event.occurred_at)),
        )
        return cur.rowcount > 0

    def mark_published_once(self, footage_id: str) -> bool:
        """True the first time a footage is seen fully published, so the counter counts it once."""
        if self._views.status(footage_id) != FootageStatus.PUBLISHED:
            return False
        cur = self._db.execute(
            "UPDATE footage SET published_counted=1 WHERE footage_id=? AND published_counted=0", (footage_id,)
        )
        return cur.rowcount > 0
