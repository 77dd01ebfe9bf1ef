"""The citizens' inbox, per ward: people's acts on each item (feedback.actions) and what the platform did about a
reply, a hide or an unhide (feedback.done), applied to the inbox's state; and the inbox as people read it.

Every act is applied once by its action id (`inbox_actions`' key), and every outcome once by the action it answers
(`inbox_done`'s key), so a redelivery changes nothing. The two topics are read independently: an outcome may be
applied before its action, which is why it is kept in its own table and joined when read.
"""

from __future__ import annotations

from sqlalchemy import Connection, case, update

from loa_core.contracts import FeedbackAction, FeedbackDone
from loa_core.db import insert_ignore
from loa_metrics.store import Database, inbox_actions, inbox_done, inbox_state, ts


def _state_row(connection: Connection, item_id: str, ward: str) -> None:
    insert_ignore(connection, inbox_state, {"item_id": item_id, "ward": ward})


class Inbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    def action(self, event: FeedbackAction) -> bool:
        """Apply a person's act to its item; False when it was applied before (a redelivery)."""
        row = {
            "action_id": event.event_id,
            "item_id": event.item_id,
            "ward": event.ward,
            "channel": event.channel,
            "action": event.action,
            "by": event.by,
            "at": ts(event.occurred_at),
            "assignee": event.assignee,
            "topic": event.topic,
            "text": event.text,
        }
        # What each kind changes on the item's row.
        kinds: dict[str, dict[str, object]] = {
            "assign": {"assignee": event.assignee},
            "tag": {"topic": event.topic},
            "handled": {"handled": 1, "handled_at": ts(event.occurred_at)},
            "reopen": {"handled": 0, "handled_at": None},
            "hide": {"hidden": 1, "hide_action": event.event_id},
            "unhide": {"hidden": 0, "hide_action": event.event_id},
            "reply": {},  # the reply is its action row; the platform's outcome comes on feedback.done
        }
        changes = kinds[event.action]

        def apply(connection: Connection) -> bool:
            if not insert_ignore(connection, inbox_actions, row):
                return False
            _state_row(connection, event.item_id, event.ward)
            if changes:
                where = inbox_state.c.item_id == event.item_id
                connection.execute(update(inbox_state).where(where).values(changes))
            return True

        return self._db.write(apply)

    def done(self, event: FeedbackDone) -> bool:
        """Apply the platform's outcome of an act; False when it was applied before. A reply posted sets when the item
        was first answered (the earliest, whatever order the outcomes come in)."""
        at = ts(event.occurred_at)
        row = {
            "action_id": event.action_id,
            "item_id": event.item_id,
            "state": event.state,
            "reply_id": event.reply_id,
            "reason": event.reason,
            "at": at,
        }

        def apply(connection: Connection) -> bool:
            if not insert_ignore(connection, inbox_done, row):
                return False
            if event.state == "replied":
                _state_row(connection, event.item_id, event.ward)
                earlier = inbox_state.c.first_reply_at.is_(None) | (inbox_state.c.first_reply_at > at)
                first = case((earlier, at), else_=inbox_state.c.first_reply_at)
                statement = update(inbox_state).where(inbox_state.c.item_id == event.item_id)
                connection.execute(statement.values(first_reply_at=first))
            return True

        return self._db.write(apply)
