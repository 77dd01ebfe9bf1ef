"""Which content hashes Loa already has: the same file twice is the same footage, never a second run.

The catalog is also ingest's outbox for announcements. A footage's id and its whole `footage.uploaded` event are
recorded here (pending) before the event is sent, and marked announced after. A crash between the send and the
mark leaves a pending row, which is sent again as recorded (same footage id, same event id) at the next start or
by the next upload of the same file: consumers may see the event twice, but never a second footage for the file.

The rows live in ingest's database (loa_ingest/state.py): SQLite by default, PostgreSQL when replicas share it; a
file reserved by two replicas at once is recorded by one of them only.

A recorded footage is stored and announced by one request at a time, on whichever replica: the one that holds the
row's claim (`announcer`, until `announcing_until`; loa_ingest/leases.py). Another upload of the same file waits for
that request's outcome, and only the holder may give back a source it stored after a failed send: no request deletes
a source another one may have announced.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, ColumnElement, Engine, Float, Integer, MetaData, Table, Text, or_, select, update

from loa_core import db
from loa_core.contracts import FootageUploaded, utc_now

# The newest revision of the table (loa_ingest/migrations/versions).
metadata = MetaData()
footage = Table(
    "footage",
    metadata,
    # The same file in two wards is two footage (one ward never learns of another's), so a file is known per ward.
    Column("ward", Text, primary_key=True),
    Column("sha256", Text, primary_key=True),
    Column("footage_id", Text, nullable=False),
    # ISO-8601 UTC (rows from the SQLite-only code: 'YYYY-MM-DD HH:MM:SS', which sorts before them)
    Column("created_at", Text, nullable=False),
    Column("event", Text),
    Column("announced", Integer, nullable=False),
    # The claim of the one request storing and announcing the footage, and when it lapses unless renewed; both None
    # when no one is on it (announced, or its last attempt failed).
    Column("announcer", Text),
    Column("announcing_until", Float),
)


def _of(event: FootageUploaded) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return footage.c.ward == event.ward, footage.c.sha256 == event.media.sha256


def _unclaimed(now: float) -> ColumnElement[bool]:
    """No request is announcing the footage at `now`: none claimed it, or its claim lapsed (its replica died)."""
    return or_(footage.c.announcing_until.is_(None), footage.c.announcing_until < now)


@dataclass(frozen=True)
class Entry:
    footage_id: str
    # The event as recorded before it was sent; None only for rows written before events were recorded.
    event: FootageUploaded | None
    announced: bool


class Catalog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def find(self, sha256: str, ward: str) -> Entry | None:
        query = select(footage.c.footage_id, footage.c.event, footage.c.announced).where(
            footage.c.ward == ward, footage.c.sha256 == sha256
        )
        row = db.transaction(self._engine, lambda c: c.execute(query).first())
        if row is None:
            return None
        event = None if row.event is None else FootageUploaded.from_bytes(row.event.encode())
        return Entry(footage_id=str(row.footage_id), event=event, announced=bool(row.announced))

    def uploaded(self, footage_id: str) -> FootageUploaded | None:
        """The recorded upload event of a footage (its metadata and ward), None if unknown or recorded without it."""
        query = select(footage.c.event).where(footage.c.footage_id == footage_id).limit(1)
        event = db.transaction(self._engine, lambda c: c.execute(query).scalar())
        return None if event is None else FootageUploaded.from_bytes(event.encode())

    def reserve(self, event: FootageUploaded, claim: str | None = None, until: float | None = None) -> bool:
        """Record the footage (pending) before its event is sent, claimed by `claim` until `until` (see claim); False
        if the file already has a footage."""
        values = {
            "ward": event.ward,
            "sha256": event.media.sha256,
            "footage_id": event.footage_id,
            "created_at": utc_now().isoformat(),
            "event": event.to_bytes().decode(),
            "announced": 0,
            "announcer": claim,
            "announcing_until": until,
        }
        return db.transaction(self._engine, lambda c: db.insert_ignore(c, footage, values)) == 1

    def claim(self, event: FootageUploaded, claim: str, now: float, until: float) -> bool:
        """Claim the storing and announcing of a recorded footage not yet announced until `until`, unless another
        request holds a live claim on it."""
        statement = (
            update(footage)
            .where(*_of(event), footage.c.announced == 0, _unclaimed(now))
            .values(announcer=claim, announcing_until=until)
        )
        return db.transaction(self._engine, lambda c: c.execute(statement).rowcount) == 1

    def renew(self, event: FootageUploaded, claim: str, until: float) -> bool:
        """Keep the claim while its work goes on; False if it is no longer held (announced, or taken over)."""
        statement = (
            update(footage)
            .where(*_of(event), footage.c.announcer == claim, footage.c.announced == 0)
            .values(announcing_until=until)
        )
        return db.transaction(self._engine, lambda c: c.execute(statement).rowcount) == 1

    def release(self, event: FootageUploaded, claim: str) -> None:
        """Give the claim up (the attempt failed, or it is over): the next request claims."""
        statement = (
            update(footage)
            .where(*_of(event), footage.c.announcer == claim)
            .values(announcer=None, announcing_until=None)
        )
        db.transaction(self._engine, lambda c: c.execute(statement))

    def mark_announced(self, event: FootageUploaded) -> None:
        statement = update(footage).where(*_of(event)).values(announced=1, announcer=None, announcing_until=None)
        db.transaction(self._engine, lambda c: c.execute(statement))

    def pending(self) -> list[FootageUploaded]:
        """Recorded but not known to be sent: a crash or a failed send came in between."""
        query = select(footage.c.event).where(footage.c.announced == 0).order_by(footage.c.created_at)
        rows = db.transaction(self._engine, lambda c: c.execute(query).scalars().all())
        return [FootageUploaded.from_bytes(event.encode()) for event in rows]

    def scheduled(self, ward: str | None) -> list[FootageUploaded]:
        """The announced footage of `ward` (None: every ward) with a publish time for at least one channel."""
        # Only rows whose recorded event has a non-empty publish_at (the event's compact JSON), so the calendar does
        # not read every footage the ward ever uploaded; the check below is the exact one.
        query = select(footage.c.event).where(footage.c.event.like('%"publish_at":{"%'))
        if ward is not None:
            query = query.where(footage.c.ward == ward)
        rows = db.transaction(self._engine, lambda c: c.execute(query).scalars().all())
        events = (FootageUploaded.from_bytes(event.encode()) for event in rows)
        return [event for event in events if event.metadata.publish_at]
