"""The write model: each pipeline event applied to the stored state of its footage and post.

Topics are consumed independently, so events of one footage can arrive in any order: every method creates the
footage row first and only fills what is still empty, which also makes redelivery harmless. Each method returns
True when the event changed something (the first delivery), so counters count each event once.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, bindparam, func, select, update

from loa_core.contracts import (
    DEFAULT_WARD,
    DeadLetter,
    FootageStatus,
    FootageUploaded,
    PostChanged,
    PostDecision,
    PostFailed,
    PostPublished,
    PostText,
    RenditionsReady,
)
from loa_core.db import insert_ignore, upsert
from loa_metrics.status import PUBLISH
from loa_metrics.store import Database, cut_fingerprints, decisions, failures, footage, posts, ts
from loa_metrics.views import FootageViews


def _ensure_row(connection: Connection, footage_id: str, ward: str | None) -> None:
    # Topics are consumed independently, so a post may arrive before its upload: create the row first, in the ward
    # the event names (every event of a footage names the same one; a dead letter may not know it: the upload fixes
    # it then).
    insert_ignore(connection, footage, {"footage_id": footage_id, "ward": ward or DEFAULT_WARD})


# Built once: on SQLite, building a statement costs more than running it (bench/metrics_scrape.py).
_UPLOADED = (
    update(footage)
    .where(footage.c.footage_id == bindparam("fid"), footage.c.uploaded_at.is_(None))
    .values(
        {
            c: bindparam(f"v_{c}")
            for c in ("title", "series", "channels", "source", "uploaded_at", "source_bytes", "ward")
        }
    )
)
_TRANSCODED = (
    update(footage)
    .where(footage.c.footage_id == bindparam("fid"), footage.c.transcoded_at.is_(None))
    .values(
        transcoded_at=bindparam("v_transcoded_at"),
        renditions=bindparam("v_renditions"),
        text_sha256=bindparam("v_text_sha256"),
        title=func.coalesce(footage.c.title, bindparam("v_title")),
        series=func.coalesce(footage.c.series, bindparam("v_series")),
        channels=func.coalesce(footage.c.channels, bindparam("v_channels")),
    )
)
_COUNTED = (
    update(footage)
    .where(footage.c.footage_id == bindparam("fid"), footage.c.published_counted == 0)
    .values(published_counted=1)
)


class Projector:
    def __init__(self, db: Database, views: FootageViews) -> None:
        self._db = db
        self._views = views

    def footage_uploaded(self, event: FootageUploaded) -> bool:
        values = {
            "fid": event.footage_id,
            "v_title": event.metadata.title,
            "v_series": event.metadata.series,
            "v_channels": json.dumps(list(event.metadata.channels)),
            "v_source": event.source,
            "v_uploaded_at": ts(event.occurred_at),
            "v_source_bytes": event.media.size_bytes,
            "v_ward": event.ward,
        }

        def apply(connection: Connection) -> bool:
            _ensure_row(connection, event.footage_id, event.ward)
            return connection.execute(_UPLOADED, values).rowcount > 0

        return self._db.write(apply)

    def renditions_ready(self, event: RenditionsReady) -> bool:
        renditions = [
            r.model_dump(include={"profile", "key", "width", "height", "duration_s", "size_bytes", "sha256"})
            | {"fingerprinted": r.fingerprint is not None}
            for r in event.renditions
        ]
        values = {
            "fid": event.footage_id,
            "v_transcoded_at": ts(event.occurred_at),
            "v_renditions": json.dumps(renditions),
            "v_text_sha256": PostText.of(event.metadata).sha256(),
            "v_title": event.metadata.title,
            "v_series": event.metadata.series,
            "v_channels": json.dumps(list(event.metadata.channels)),
        }

        prints = [
            {
                "footage_id": event.footage_id,
                "profile": r.profile,
                "ward": event.ward,
                "event_id": event.event_id,
                "sha256": r.sha256,
                "fingerprint": r.fingerprint,
            }
            for r in event.renditions
        ]

        def apply(connection: Connection) -> bool:
            _ensure_row(connection, event.footage_id, event.ward)
            # Every announcement's cuts, a redone transcode's too: they are what was (or will be) published.
            for row in prints:
                upsert(connection, cut_fingerprints, row, update=("ward", "event_id", "sha256", "fingerprint"))
            return connection.execute(_TRANSCODED, values).rowcount > 0

        return self._db.write(apply)

    def post_published(self, event: PostPublished) -> bool:
        row = {
            "footage_id": event.footage_id,
            "channel": event.channel,
            "profile": event.profile,
            "platform": event.platform,
            "post_id": event.post_id,
            "url": event.url,
            "published_at": ts(event.published_at),
            "announced_at": ts(event.occurred_at),
            "ward": event.ward,
            "sha256": event.sha256,
        }

        def apply(connection: Connection) -> bool:
            _ensure_row(connection, event.footage_id, event.ward)
            return insert_ignore(connection, posts, row) > 0

        return self._db.write(apply)

    def failure(self, event: PostFailed | DeadLetter) -> bool:
        footage_id: str | None
        channel: str | None
        platform: str | None
        if isinstance(event, PostFailed):
            footage_id, stage, channel, platform = event.footage_id, PUBLISH, event.channel, event.platform
        else:
            footage_id, stage, channel, platform = event.footage_id, event.origin_service, None, None
        row = {
            "event_id": event.event_id,
            "footage_id": footage_id,
            "stage": stage,
            "channel": channel,
            "reason": event.reason,
            "at": ts(event.occurred_at),
            "platform": platform,
        }

        def apply(connection: Connection) -> bool:
            if footage_id:
                _ensure_row(connection, footage_id, event.ward)
            return insert_ignore(connection, failures, row) > 0

        return self._db.write(apply)

    def post_changed(self, event: PostChanged) -> bool:
        """A person's action changed the post (edited: its new title; unpublished). A failed action changes
        nothing here (the publisher logged why; ingest's audit log has the request). Whether a row changed."""
        if event.state == "failed":
            return False
        where = (
            posts.c.footage_id == event.footage_id,
            posts.c.channel == event.channel,
            posts.c.profile == event.profile,
        )
        values: dict[str, str | None] = {"state": event.state}
        if event.state == "edited":
            values["title"] = event.title

        def apply(connection: Connection) -> bool:
            # Once unpublished, an edit answered late does not bring it back.
            live = posts.c.state.is_(None) | (posts.c.state != "unpublished")
            return connection.execute(update(posts).where(*where, live).values(**values)).rowcount > 0

        return self._db.write(apply)

    def post_decision(self, event: PostDecision) -> bool:
        """Keep the decision if it is the newest on its (footage, channel) (an older one arriving late is not)."""
        at = ts(event.occurred_at)
        where = (decisions.c.footage_id == event.footage_id, decisions.c.channel == event.channel)

        def apply(connection: Connection) -> bool:
            _ensure_row(connection, event.footage_id, event.ward)
            row = connection.execute(select(decisions.c.occurred_at, decisions.c.event_id).where(*where)).first()
            if row is not None and (row.occurred_at, row.event_id) >= (at, event.event_id):
                return False
            values = {
                "footage_id": event.footage_id,
                "channel": event.channel,
                "occurred_at": at,
                "event_id": event.event_id,
                "record": event.model_dump_json(),
            }
            upsert(connection, decisions, values, update=["occurred_at", "event_id", "record"])
            return True

        return self._db.write(apply)

    def mark_published_once(self, footage_id: str) -> bool:
        """True the first time a footage is seen fully published, so the counter counts it once."""
        if self._views.status(footage_id) != FootageStatus.PUBLISHED:
            return False
        return self._db.write(lambda c: c.execute(_COUNTED, {"fid": footage_id}).rowcount > 0)
