"""The channels, kept in ingest's database, and their records on the compacted `channels.registry` topic.

Every change (add, edit, branding, connect, disconnect, remove) writes the channel's row with its revision one
higher and, in the same transaction, the registry record of that revision, marked not sent: the row is also the
outbox (as the catalog is for announcements). The record is then sent with ingest's producer and marked sent. A
crash or a failed send in between leaves it unsent; it is sent at the next start and by the periodic sweep
(loa_ingest/__main__.py), with the same event id. A removed channel keeps its row (state `removed`), so its name is
not reused by another ward and its revisions keep counting.

The topic keeps the last record per key, so the last record sent for a channel must be its newest: after each send
the record is marked sent only if no newer revision was written meanwhile, and otherwise the newest one is sent
again (two replicas sending the same channel's records in crossed order end with the newest on the topic).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Engine, Integer, MetaData, Row, Select, Table, Text, func, select, update

from loa_core import db
from loa_core.contracts import CHANNEL_REGISTRY, Channel, ChannelState, ChannelUpdated
from loa_core.kafka import EventProducer

log = logging.getLogger(__name__)

# The newest revision of the table (loa_ingest/migrations/versions).
metadata = MetaData()
channels = Table(
    "channels",
    metadata,
    Column("name", Text, primary_key=True),
    Column("ward", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("profiles", Text, nullable=False),  # JSON list
    Column("options", Text, nullable=False),  # JSON object
    Column("logo_key", Text),
    Column("intro_key", Text),
    Column("outro_key", Text),
    Column("approval_required", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("state_reason", Text),  # why a channel is disconnected, for the page (never in the record)
    Column("connection_id", Text),
    Column("position", Integer, nullable=False),  # the order channels were added in (the first is the upload default)
    Column("revision", Integer, nullable=False),
    Column("updated_at", Text, nullable=False),  # ISO-8601 UTC
    Column("record", Text, nullable=False),  # the ChannelUpdated of this revision, as sent
    Column("sent", Integer, nullable=False),  # whether that record is known to be on the topic
)


class ChannelTaken(Exception):
    """A channel of that name exists (in this ward, or in another one: names are unique in the installation)."""


class NoSuchChannel(Exception):
    """No live channel of that name in the caller's reach."""


@dataclass(frozen=True)
class StoredChannel:
    channel: Channel
    revision: int
    updated_at: str
    state_reason: str | None
    sent: bool  # whether the record of this revision is known to be on the topic


def _channel(row: Row[Any]) -> Channel:
    return Channel(
        name=row.name,
        ward=row.ward,
        platform=row.platform,
        profiles=tuple(json.loads(row.profiles)),
        options=json.loads(row.options),
        logo_key=row.logo_key,
        intro_key=row.intro_key,
        outro_key=row.outro_key,
        approval_required=bool(row.approval_required),
        state=ChannelState(row.state),
        connection_id=row.connection_id,
    )


def _stored(row: Row[Any]) -> StoredChannel:
    return StoredChannel(_channel(row), int(row.revision), str(row.updated_at), row.state_reason, bool(row.sent))


def _values(channel: Channel, revision: int, reason: str | None) -> dict[str, Any]:
    record = ChannelUpdated(channel=channel, revision=revision)
    return {
        "ward": channel.ward,
        "platform": channel.platform,
        "profiles": json.dumps(list(channel.profiles)),
        "options": json.dumps(channel.options, ensure_ascii=False, sort_keys=True),
        "logo_key": channel.logo_key,
        "intro_key": channel.intro_key,
        "outro_key": channel.outro_key,
        "approval_required": int(channel.approval_required),
        "state": channel.state.value,
        "state_reason": reason,
        "connection_id": channel.connection_id,
        "revision": revision,
        "updated_at": record.occurred_at.isoformat(),
        "record": record.to_bytes().decode(),
        "sent": 0,
    }


class ChannelStore:
    """Channels in ingest's database; each change committed with its registry record, then sent."""

    def __init__(self, engine: Engine, producer: EventProducer) -> None:
        self._engine = engine
        self._producer = producer

    # -- reading -------------------------------------------------------------------------------------------------

    def listed(self, ward: str | None = None, *, removed: bool = False) -> list[StoredChannel]:
        """The channels of `ward` (every ward when None), in the order they were added; removed ones only if asked."""
        query = select(channels).order_by(channels.c.position, channels.c.name)
        if ward is not None:
            query = query.where(channels.c.ward == ward)
        if not removed:
            query = query.where(channels.c.state != ChannelState.REMOVED.value)
        return [_stored(row) for row in db.transaction(self._engine, lambda c: c.execute(query).all())]

    def get(self, name: str) -> StoredChannel | None:
        """The channel of that name, removed or not."""
        query = select(channels).where(channels.c.name == name)
        row = db.transaction(self._engine, lambda c: c.execute(query).first())
        return None if row is None else _stored(row)

    def active(self) -> dict[str, Channel]:
        """Every channel footage may name (all but removed ones), in the order they were added."""
        return {stored.channel.name: stored.channel for stored in self.listed()}

    # -- changing ------------------------------------------------------------------------------------------------

    def import_if_empty(self, found: Iterable[Channel]) -> int:
        """At start: a table that never had a channel takes these (LOA_CHANNELS_FILE, or the embedded `local`); how
        many were imported. They are sent by the first `send_pending`. Replicas starting together import once."""
        wanted = list(found)

        def work(connection: Connection) -> int:
            if connection.execute(select(func.count()).select_from(channels)).scalar_one():
                return 0
            imported = 0
            for position, channel in enumerate(wanted, start=1):
                values = {"name": channel.name, "position": position, **_values(channel, 1, None)}
                imported += db.insert_ignore(connection, channels, values)
            return imported

        return db.transaction(self._engine, work, immediate=True)

    async def add(self, channel: Channel) -> StoredChannel:
        """A new channel, or a removed one of the same ward brought back (its revisions keep counting).

        Raises ChannelTaken when the name is live, or belongs to another ward."""

        def work(connection: Connection) -> None:
            row = connection.execute(_locked(channel.name)).first()
            if row is None:
                position = connection.execute(select(func.coalesce(func.max(channels.c.position), 0))).scalar_one()
                values = {"name": channel.name, "position": int(position) + 1, **_values(channel, 1, None)}
                if db.insert_ignore(connection, channels, values) != 1:
                    raise ChannelTaken(channel.name)  # added by another request a moment ago
                return
            if row.state != ChannelState.REMOVED.value or row.ward != channel.ward:
                raise ChannelTaken(channel.name)
            _write(connection, channel.name, int(row.revision), _values(channel, int(row.revision) + 1, None))

        db.transaction(self._engine, work, immediate=True)
        return await self._sent(channel.name)

    async def change(
        self, name: str, ward: str | None, edit: Callable[[Channel], Channel], reason: str | None = None
    ) -> StoredChannel:
        """Apply `edit` to the live channel `name` (of `ward` only, unless None) as one new revision.

        `edit` returns the changed channel (built with `Channel.model_validate`, so it is checked like any other);
        it may raise to refuse, and then nothing is changed. Raises NoSuchChannel."""

        def work(connection: Connection) -> None:
            row = connection.execute(_locked(name)).first()
            if row is None or row.state == ChannelState.REMOVED.value or (ward is not None and row.ward != ward):
                raise NoSuchChannel(name)
            changed = edit(_channel(row))
            if changed.name != name:
                raise ValueError("a channel keeps its name")
            _write(connection, name, int(row.revision), _values(changed, int(row.revision) + 1, reason))

        db.transaction(self._engine, work, immediate=True)
        return await self._sent(name)

    async def remove(self, name: str, ward: str | None) -> StoredChannel:
        """State `removed`: readers forget the channel; its row stays, so the name stays its ward's."""
        return await self.change(name, ward, lambda c: c.model_copy(update={"state": ChannelState.REMOVED}))

    async def connect(self, name: str, connection_id: str) -> StoredChannel:
        """The channel's OAuth sign-in holds (helper "oauth"'s callback): connected under this new connection id."""
        return await self.change(
            name, None, lambda c: c.model_copy(update={"state": ChannelState.CONNECTED, "connection_id": connection_id})
        )

    async def disconnect(self, name: str, reason: str) -> StoredChannel:
        """The platform refused the channel's credentials (revoked, expired): its posts wait for a reconnection."""
        return await self.change(
            name, None, lambda c: c.model_copy(update={"state": ChannelState.DISCONNECTED}), reason=reason
        )

    # -- the outbox ----------------------------------------------------------------------------------------------

    def pending(self) -> list[str]:
        """The channels whose newest record is not known to be on the topic (a crash or a failed send)."""
        query = select(channels.c.name).where(channels.c.sent == 0).order_by(channels.c.position)
        return list(db.transaction(self._engine, lambda c: c.execute(query).scalars().all()))

    def mark_sent(self, name: str, revision: int) -> bool:
        """Record that revision `revision` is on the topic; False if a newer one was written meanwhile."""
        statement = update(channels).where(channels.c.name == name, channels.c.revision == revision).values(sent=1)
        return db.transaction(self._engine, lambda c: c.execute(statement).rowcount) == 1

    async def publish(self, name: str) -> bool:
        """Send the channel's newest record unless it is known to be sent; whether one was sent."""
        sent = newer_written = False
        query = select(channels.c.record, channels.c.sent).where(channels.c.name == name)
        while True:
            row = db.transaction(self._engine, lambda c: c.execute(query).first())
            if row is None or (row.sent and not newer_written):
                return sent
            record = ChannelUpdated.read_json(row.record)
            await self._producer.send(CHANNEL_REGISTRY, record)
            sent = True
            if self.mark_sent(name, record.revision):
                return sent
            # A newer revision was written while this one was on its way, and may have been sent before it: send the
            # newest again, so it is the last record of the channel on the topic (the one compaction keeps).
            newer_written = True

    async def send_pending(self) -> int:
        """Send every record not known to be sent (at start, and by the sweep); how many were sent."""
        return sum([await self.publish(name) for name in self.pending()])

    async def _sent(self, name: str) -> StoredChannel:
        """After a committed change: send its record now; should that fail, the sweep sends it later."""
        try:
            await self.publish(name)
        except Exception:
            log.warning(
                "the registry record of channel %s is not sent yet; sending it again later", name, exc_info=True
            )
        stored = self.get(name)
        assert stored is not None
        return stored


def _locked(name: str) -> Select[Any]:
    """The channel's row, locked until the transaction ends: on PostgreSQL FOR UPDATE, so replicas changing one
    channel at once take turns (SQLite has no row locks: the transaction takes the write lock at BEGIN instead)."""
    return select(channels).where(channels.c.name == name).with_for_update()


def _write(connection: Connection, name: str, revision: int, values: dict[str, Any]) -> None:
    """Write the next revision over `revision` (read under the row lock, so it is still the newest)."""
    statement = update(channels).where(channels.c.name == name, channels.c.revision == revision).values(values)
    if connection.execute(statement).rowcount != 1:
        raise RuntimeError(f"channel {name}: revision {revision} changed under its row lock")
