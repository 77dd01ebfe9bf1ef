"""The citizens' feedback in the metrics database: one row per collected item, the collection cursors, the lease.

- `record(event)`: a FeedbackReceived becomes its row, keyed by item id (contracts.feedback.feedback_item_id), so a
  webhook and a poll of one comment, or a poll redone after a restart, are one row. Seen again, the row takes the
  platform's newer text and author name (an edited comment) and nothing else: people's state on the item (the
  inbox's columns) is never touched here.
- `cursor`/`advance`: where each collection stands (loa_metrics.feedback_collect decides, this only keeps it).
- `take_lease`: one replica at a time runs the poller (a row with a holder and an expiry, both databases).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update

from loa_core.contracts import FeedbackReceived
from loa_core.db import insert_ignore, take_lease, upsert
from loa_metrics.store import Database, feedback_cursors, feedback_items, leases, posts, ts

# What a re-collected item may change: the platform's own words (a comment edited on the platform).
_REFRESHED = ("text", "truncated", "author_name", "url")


@dataclass(frozen=True)
class Cursor:
    """Where one collection stands: everything written up to `newest_at` (ISO UTC) is collected. While a listing is
    unfinished (a round stopped at its page cap), `page_token` resumes it and `listing_newest_at` is the newest time
    it began with, which becomes `newest_at` once the listing reaches the old mark."""

    newest_at: str | None = None
    page_token: str | None = None
    listing_newest_at: str | None = None


class FeedbackStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, event: FeedbackReceived, received_at: datetime) -> bool:
        """Store the item; True if it was new (a redelivery or a second sighting returns False)."""
        row: dict[str, Any] = {
            "item_id": event.item_id,
            "ward": event.ward,
            "channel": event.channel,
            "platform": event.platform,
            "kind": event.kind,
            "external_id": event.external_id,
            "thread_id": event.thread_id,
            "post_id": event.post_id,
            "footage_id": event.footage_id,
            "author_name": event.author_name,
            "author_id": event.author_id,
            "text": event.text,
            "truncated": int(event.truncated),
            "url": event.url,
            "written_at": ts(event.written_at),
            "by_channel": int(event.by_channel),
            "received_at": ts(received_at),
        }

        def write(connection: Connection) -> bool:
            if insert_ignore(connection, feedback_items, row):
                return True
            connection.execute(
                update(feedback_items)
                .where(feedback_items.c.item_id == event.item_id)
                .values({name: row[name] for name in _REFRESHED})
            )
            return False

        return self._db.write(write)

    def items(self, ward: str | None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest items of one ward (None: every ward), newest first."""
        query = select(feedback_items).order_by(feedback_items.c.written_at.desc(), feedback_items.c.item_id)
        if ward is not None:
            query = query.where(feedback_items.c.ward == ward)
        return self._db.read(lambda c: [dict(r._mapping) for r in c.execute(query.limit(limit))])

    def footage_of(self, channel: str, post_id: str) -> str | None:
        """The footage Loa posted as `post_id` on `channel`, if it did."""
        query = select(posts.c.footage_id).where(posts.c.channel == channel, posts.c.post_id == post_id).limit(1)
        return self._db.read(lambda c: c.execute(query).scalar())

    def cursor(self, channel: str, scope: str = "") -> Cursor:
        c = feedback_cursors.c
        query = select(c.newest_at, c.page_token, c.listing_newest_at).where(c.channel == channel, c.scope == scope)
        rows = self._db.read(lambda conn: [dict(r._mapping) for r in conn.execute(query)])
        return Cursor(**rows[0]) if rows else Cursor()

    def polled_at(self, channel: str) -> dict[str, str]:
        """When each listing of the channel was last read, by scope."""
        c = feedback_cursors.c
        query = select(c.scope, c.updated_at).where(c.channel == channel)
        return self._db.read(lambda conn: {r.scope: r.updated_at for r in conn.execute(query)})

    def last_collected(self, channel: str) -> str | None:
        """When the channel's collection last did something: a listing read, or an item received."""
        read = select(func.max(feedback_cursors.c.updated_at)).where(feedback_cursors.c.channel == channel)
        got = select(func.max(feedback_items.c.received_at)).where(feedback_items.c.channel == channel)
        times = self._db.read(lambda c: [c.execute(read).scalar(), c.execute(got).scalar()])
        return max((t for t in times if t), default=None)

    def advance(self, channel: str, scope: str, cursor: Cursor, at: datetime) -> None:
        """Keep where the collection stands; called only once the events it covers are on Kafka."""
        row = {"channel": channel, "scope": scope, **cursor.__dict__, "updated_at": ts(at)}
        self._db.write(
            lambda c: upsert(
                c, feedback_cursors, row, update=["newest_at", "page_token", "listing_newest_at", "updated_at"]
            )
        )

    def take_lease(self, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
        """Hold the lease `name` until now + ttl if it is free, expired or already ours; False if another holds it."""
        expires = ts(now + ttl)

        def take(connection: Connection) -> bool:
            return take_lease(connection, leases, name, holder, now=ts(now), expires=expires)

        return self._db.write(take)
