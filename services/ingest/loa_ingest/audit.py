"""The audit log of approvers' decisions, of people's actions on published posts and of their acts on the citizens'
inbox, kept in ingest's database, and their records on `posts.decisions` (a `PostDecision`), `posts.actions` (a
`PostAction`: edit the text, unpublish) and `feedback.actions` (a `FeedbackAction`).

An action's row keeps the action kind (edit, unpublish) in `decision`, its new text (edit) in `text` and how it is
taken down (unpublish) in `reason`; `cuts` is `{}` and `text_sha256` the new text's (empty for an unpublish). A
schedule change (`PostSchedule` on `posts.schedule`) is `reschedule` (the new time in `reason`, empty: at once) or
`cancel`, with `cuts` `{}` and an empty `text_sha256`. An act on an inbox item is `inbox.<kind>` (inbox.assign,
inbox.reply…) with the item in `item_id` (no footage), the assignee or topic in `reason`, a reply's words in `text`.

Append-only: a decision is one row, written once with the `PostDecision` it sends and never changed or deleted (a
new decision on the same post is a new row; the newest wins in the publisher). The row is also the outbox (as the
catalog is for announcements and the channel rows for the registry): written with `sent = 0`, sent with ingest's
producer, then marked sent, the only column that ever changes. A crash or a failed send in between leaves it
unsent; it is sent again, same event id, at the next start and by the periodic sweep (loa_ingest/__main__.py).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, Row, Table, Text, insert, select, update

from loa_core import db
from loa_core.contracts import (
    FEEDBACK_ACTIONS,
    POSTS_ACTIONS,
    POSTS_DECISIONS,
    POSTS_SCHEDULE,
    FeedbackAction,
    PostAction,
    PostDecision,
    PostSchedule,
    PostText,
)
from loa_core.kafka import EventProducer

log = logging.getLogger(__name__)

# The newest revision of the table (loa_ingest/migrations/versions).
metadata = MetaData()
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # the order decisions were recorded in
    Column("event_id", Text, nullable=False, unique=True),
    Column("at", Text, nullable=False),  # ISO-8601 UTC, when the decision was made
    Column("ward", Text, nullable=False),
    Column("footage_id", Text),  # None: an act on an inbox item (revision 0009)
    Column("channel", Text, nullable=False),
    Column("decision", Text, nullable=False),  # approved | rejected, or an action: edit | unpublish
    Column("by", Text, nullable=False),  # the account (or, for a token without one, "token:<token id>")
    Column("reason", Text),
    Column("cuts", Text, nullable=False),  # JSON {profile: sha256}
    Column("text", Text),  # JSON PostText, when the approver changed the text
    Column("text_sha256", Text, nullable=False),
    Column("record", Text, nullable=False),  # the PostDecision (or PostAction), as sent
    Column("sent", Integer, nullable=False),  # whether that record is known to be on the topic
    Column("item_id", Text),  # the inbox item an act on the citizens' feedback is about (revision 0009)
)


ACTIONS = ("edit", "unpublish")  # `decision` values of an action's row
SCHEDULE_CHANGES = ("reschedule", "cancel")  # `decision` values of a schedule change's row
INBOX = "inbox."  # the prefix of the `decision` value of an act on an inbox item: inbox.assign, inbox.reply…
Entry = PostDecision | PostAction | PostSchedule | FeedbackAction


@dataclass(frozen=True)
class Recorded:
    """One decision, or one action on a published post, as the log keeps it."""

    seq: int
    entry: Entry
    sent: bool


def _read(decision: str, record: str) -> Entry:
    if decision.startswith(INBOX):
        return FeedbackAction.read_json(record)
    if decision in SCHEDULE_CHANGES:
        return PostSchedule.read_json(record)
    return PostAction.read_json(record) if decision in ACTIONS else PostDecision.read_json(record)


def _schedule_row(change: PostSchedule) -> dict[str, Any]:
    when = change.publish_at.isoformat() if change.publish_at is not None else ""
    return {
        "decision": "cancel" if change.cancelled else "reschedule",
        "reason": None if change.cancelled else when,
        "cuts": "{}",
        "text": None,
        "text_sha256": "",
    }


def _feedback_row(act: FeedbackAction) -> dict[str, Any]:
    return {
        "decision": INBOX + act.action,
        "item_id": act.item_id,
        "reason": act.assignee or act.topic,
        "cuts": "{}",
        "text": act.text,
        "text_sha256": "",
    }


def _recorded(row: Row[Any]) -> Recorded:
    return Recorded(seq=int(row.seq), entry=_read(row.decision, row.record), sent=bool(row.sent))


def _action_row(action: PostAction) -> dict[str, Any]:
    text = PostText(title=action.title, description=action.description or "") if action.title is not None else None
    return {
        "decision": action.action,
        "reason": action.how,
        "cuts": "{}",
        "text": text.model_dump_json() if text is not None else None,
        "text_sha256": text.sha256() if text is not None else "",
    }


class AuditLog:
    def __init__(self, engine: Engine, producer: EventProducer) -> None:
        self._engine = engine
        self._producer = producer

    async def record(self, decision: Entry) -> Recorded:
        """Write the decision or action (committed before anything is sent), then send it; a failed send is left to
        the sweep. Returns the row as it stands after the attempt."""
        values = {
            "event_id": decision.event_id,
            "at": decision.occurred_at.isoformat(),
            "ward": decision.ward,
            "footage_id": None if isinstance(decision, FeedbackAction) else decision.footage_id,
            "channel": decision.channel,
            "by": decision.by,
            "record": decision.model_dump_json(),
            "sent": 0,
        }
        if isinstance(decision, FeedbackAction):
            values |= _feedback_row(decision)
        elif isinstance(decision, PostAction):
            values |= _action_row(decision)
        elif isinstance(decision, PostSchedule):
            values |= _schedule_row(decision)
        else:
            values |= {
                "decision": decision.decision,
                "reason": decision.reason,
                "cuts": json.dumps(decision.cuts, sort_keys=True),
                "text": decision.text.model_dump_json() if decision.text is not None else None,
                "text_sha256": decision.text_sha256,
            }
        db.transaction(self._engine, lambda c: c.execute(insert(audit_log).values(values)))
        try:
            await self._send(decision)
        except Exception:
            log.warning(
                "%s %s is recorded but not sent yet; sending it again later",
                type(decision).__name__,
                decision.event_id,
                exc_info=True,
            )
        found = self.get(decision.event_id)
        assert found is not None
        return found

    def get(self, event_id: str) -> Recorded | None:
        query = select(audit_log).where(audit_log.c.event_id == event_id)
        row = db.transaction(self._engine, lambda c: c.execute(query).first())
        return _recorded(row) if row is not None else None

    def listed(
        self,
        ward: str | None,
        *,
        footage_id: str | None = None,
        item_id: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Recorded]:
        """Decisions and actions oldest first: of `ward` only, or of every ward when None (a district admin)."""
        query = select(audit_log).order_by(audit_log.c.seq).limit(limit).offset(offset)
        if ward is not None:
            query = query.where(audit_log.c.ward == ward)
        if footage_id is not None:
            query = query.where(audit_log.c.footage_id == footage_id)
        if item_id is not None:
            query = query.where(audit_log.c.item_id == item_id)
        return [_recorded(r) for r in db.transaction(self._engine, lambda c: c.execute(query).all())]

    def schedule_changes(self, ward: str | None) -> list[PostSchedule]:
        """Every reschedule and cancel of `ward`'s posts (None: every ward), oldest first."""
        query = select(audit_log.c.record).where(audit_log.c.decision.in_(SCHEDULE_CHANGES)).order_by(audit_log.c.seq)
        if ward is not None:
            query = query.where(audit_log.c.ward == ward)
        rows = db.transaction(self._engine, lambda c: c.execute(query).scalars().all())
        return [PostSchedule.read_json(record) for record in rows]

    # -- the outbox ----------------------------------------------------------------------------------------------

    async def _send(self, decision: Entry) -> None:
        if isinstance(decision, FeedbackAction):
            await self._producer.send(FEEDBACK_ACTIONS, decision)
        elif isinstance(decision, PostAction):
            await self._producer.send(POSTS_ACTIONS, decision)
        elif isinstance(decision, PostSchedule):
            await self._producer.send(POSTS_SCHEDULE, decision)
        else:
            await self._producer.send(POSTS_DECISIONS, decision)
        statement = update(audit_log).where(audit_log.c.event_id == decision.event_id).values(sent=1)
        db.transaction(self._engine, lambda c: c.execute(statement))

    async def send_pending(self) -> int:
        """Send every decision and action not known to be sent, in the order they were made (at start, and by the
        sweep)."""
        query = select(audit_log.c.decision, audit_log.c.record).where(audit_log.c.sent == 0).order_by(audit_log.c.seq)
        rows = db.transaction(self._engine, lambda c: c.execute(query).all())
        for decision, record in rows:
            await self._send(_read(decision, record))
        return len(rows)


CSV_COLUMNS = (
    "at",
    "ward",
    "footage_id",
    "channel",
    "decision",
    "by",
    "reason",
    "cuts",
    "title",
    "description",
    "hashtags",
    "text_sha256",
    "event_id",
    "item_id",
)
# A cell starting with one of these is a formula to a spreadsheet: a reason typed as "=HYPERLINK(…)" must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def audit_csv(entries: list[Recorded]) -> str:
    """The decisions as CSV for a spreadsheet: a header row, one row per decision; the caller adds the UTF-8 BOM
    (Excel reads UTF-8 without it as the local code page, which breaks Vietnamese)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        d = entry.entry
        if isinstance(d, FeedbackAction):
            act = _feedback_row(d)
            cells = (d.occurred_at.isoformat(), d.ward, "", d.channel, act["decision"], d.by, act["reason"] or "",
                     "", "", d.text or "", "", "", d.event_id, d.item_id)  # fmt: skip
            writer.writerow([_cell(value) for value in cells])
            continue
        if isinstance(d, PostAction):
            writer.writerow([_cell(value) for value in _action_csv(d)])
            continue
        if isinstance(d, PostSchedule):
            change = _schedule_row(d)
            cells = (d.occurred_at.isoformat(), d.ward, d.footage_id, d.channel, change["decision"], d.by,
                     change["reason"] or "", "", "", "", "", "", d.event_id, "")  # fmt: skip
            writer.writerow([_cell(value) for value in cells])
            continue
        text = d.text
        row = (
            d.occurred_at.isoformat(),
            d.ward,
            d.footage_id,
            d.channel,
            d.decision,
            d.by,
            d.reason or "",
            " ".join(f"{profile}={sha}" for profile, sha in sorted(d.cuts.items())),
            text.title if text else "",
            text.description if text else "",
            " ".join(text.hashtags) if text else "",
            d.text_sha256,
            d.event_id,
            "",
        )
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _action_csv(a: PostAction) -> tuple[str, ...]:
    """An action's row: its kind in the decision column, how it was taken down in the reason column."""
    text = _action_row(a)
    return (
        a.occurred_at.isoformat(),
        a.ward,
        a.footage_id,
        a.channel,
        a.action,
        a.by,
        a.how or "",
        "",
        a.title or "",
        a.description or "",
        "",
        str(text["text_sha256"]),
        a.event_id,
        "",
    )
