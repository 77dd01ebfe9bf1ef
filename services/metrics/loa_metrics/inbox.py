"""The citizens' inbox, per ward: people's acts on each item (feedback.actions) and what the platform did about a
reply, a hide or an unhide (feedback.done), applied to the inbox's state; the rules' topic of each item as it
arrives (loa_metrics/triage.py); and the inbox as people read it (`items`, `item`: contracts.InboxItem).

The items themselves are collected by loa_metrics/feedback_store.py (`feedback_items`); a reply the ward wrote on the
platform itself (`by_channel`) is shown in its thread, never as an item, and counts as the thread's answer.

Every act is applied once by its action id (`inbox_actions`' key), and every outcome once by the action it answers
(`inbox_done`'s key), so a redelivery changes nothing. The two topics are read independently: an outcome may be
applied before its action, which is why it is kept in its own table and joined when read.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, case, select, update

from loa_core.contracts import FeedbackAction, FeedbackDone, FeedbackReceived, InboxItem, ReplyView
from loa_core.db import insert_ignore, upsert
from loa_metrics import triage
from loa_metrics.store import Database, inbox_actions, inbox_done, inbox_settings, inbox_state, ts

State = Literal["open", "handled", "all"]


@dataclass(frozen=True)
class Filters:
    """What a person narrows the inbox to: `ward` None is every ward (a district admin)."""

    ward: str | None
    state: State = "all"
    overdue: bool = False
    assignee: str | None = None
    topic: str | None = None
    channel: str | None = None


# One item with its state, its post's title and whether the ward answered it on the platform itself.
_ITEM_SQL = """
SELECT f.item_id, f.ward, f.channel, f.platform, f.kind, f.external_id, f.thread_id, f.post_id, f.footage_id,
       f.author_name, f.author_id, f.text, f.truncated, f.url, f.written_at,
       s.assignee, s.topic, s.rule_topic, COALESCE(s.handled, 0) AS handled, s.handled_at,
       COALESCE(s.hidden, 0) AS hidden, s.hide_action, s.first_reply_at,
       d.state AS hide_done, d.reason AS hide_reason, ft.title AS post_title,
       (SELECT MIN(r.written_at) FROM feedback_items r
         WHERE r.channel = f.channel AND r.thread_id = f.external_id AND r.by_channel = 1) AS own_reply_at
FROM feedback_items f
LEFT JOIN inbox_state s ON s.item_id = f.item_id
LEFT JOIN inbox_done d ON d.action_id = s.hide_action
LEFT JOIN footage ft ON ft.footage_id = f.footage_id
"""
# Answered: a reply posted from Loa, or one the ward wrote on the platform (collected in the thread).
_ANSWERED = """(s.first_reply_at IS NOT NULL OR EXISTS (SELECT 1 FROM feedback_items r
  WHERE r.channel = f.channel AND r.thread_id = f.external_id AND r.by_channel = 1))"""
_OPEN = "COALESCE(s.handled, 0) = 0"


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

    # -- triage -------------------------------------------------------------------------------------------------

    def rules(self, ward: str) -> triage.Rules:
        """The ward's rules and target (the shipped defaults until its admin changes them)."""
        row = self._db.read(lambda c: c.execute(select(inbox_settings).where(inbox_settings.c.ward == ward)).first())
        if row is None:
            return triage.DEFAULT_RULES
        rules = triage.DEFAULT_RULES.rules if row.rules is None else triage.Rules.model_validate_json(row.rules).rules
        return triage.Rules(target_hours=row.target_hours, rules=rules)

    def set_rules(self, ward: str, rules: triage.Rules, by: str, at: datetime) -> None:
        values = {
            "ward": ward,
            "target_hours": rules.target_hours,
            "rules": rules.model_dump_json(),
            "updated_by": by,
            "updated_at": ts(at),
        }
        self._db.write(
            lambda c: upsert(c, inbox_settings, values, update=["target_hours", "rules", "updated_by", "updated_at"])
        )

    def tag_by_rules(self, event: FeedbackReceived, topic: str | None) -> None:
        """Keep the topic the ward's rules found in a new item's text (triage.topic_of, run off the loop: pyvi)."""
        if topic is None or event.by_channel:  # the ward's own reply is never an item
            return

        def apply(connection: Connection) -> None:
            _state_row(connection, event.item_id, event.ward)
            where = inbox_state.c.item_id == event.item_id
            connection.execute(update(inbox_state).where(where).values(rule_topic=topic))

        self._db.write(apply)

    # -- reading ------------------------------------------------------------------------------------------------

    def _targets(self) -> dict[str, int]:
        rows = self._db.read(lambda c: c.execute(select(inbox_settings.c.ward, inbox_settings.c.target_hours)).all())
        return {r.ward: int(r.target_hours) for r in rows}

    def _where(self, filters: Filters, now: datetime, params: dict[str, Any]) -> list[str]:
        where = ["f.by_channel = 0"]
        if filters.ward is not None:
            where.append("f.ward = :ward")
            params["ward"] = filters.ward
        if filters.state == "open":
            where.append(_OPEN)
        elif filters.state == "handled":
            where.append("s.handled = 1")
        if filters.assignee is not None:
            where.append("s.assignee = :assignee")
            params["assignee"] = filters.assignee
        if filters.topic is not None:
            where.append("COALESCE(s.topic, s.rule_topic) = :topic")
            params["topic"] = filters.topic
        if filters.channel is not None:
            where.append("f.channel = :channel")
            params["channel"] = filters.channel
        if filters.overdue:
            where.append(self._overdue(now, params))
        return where

    def _overdue(self, now: datetime, params: dict[str, Any]) -> str:
        """Written before its ward's cutoff (now - target), open, unanswered: SQL over every ward's target."""
        cases = []
        for n, (ward, hours) in enumerate(sorted(self._targets().items())):
            params[f"tw{n}"], params[f"tc{n}"] = ward, ts(now - timedelta(hours=hours))
            cases.append(f"WHEN :tw{n} THEN :tc{n}")
        params["tc_default"] = ts(now - timedelta(hours=triage.DEFAULT_TARGET_HOURS))
        cutoff = f"CASE f.ward {' '.join(cases)} ELSE :tc_default END" if cases else ":tc_default"
        return f"(f.written_at < {cutoff} AND {_OPEN} AND NOT {_ANSWERED})"

    def items(self, filters: Filters, now: datetime, limit: int, offset: int) -> list[InboxItem]:
        """A page of the inbox, newest first, each item with its thread."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        where = " AND ".join(self._where(filters, now, params))
        sql = f"{_ITEM_SQL} WHERE {where} ORDER BY f.written_at DESC, f.item_id LIMIT :limit OFFSET :offset"
        return self._views(self._db.rows(sql, params), now)

    def counts(self, ward: str | None, now: datetime) -> tuple[int, int]:
        """How many of the ward's items (None: every ward's) are open, and overdue."""
        found = []
        for overdue in (False, True):
            params: dict[str, Any] = {}
            where = " AND ".join(self._where(Filters(ward=ward, state="open", overdue=overdue), now, params))
            # Only fixed SQL fragments are joined; every value is a bound parameter.
            sql = f"SELECT COUNT(*) AS n FROM feedback_items f LEFT JOIN inbox_state s ON s.item_id = f.item_id WHERE {where}"  # noqa: S608, E501
            found.append(int(self._db.rows(sql, params)[0]["n"]))
        return found[0], found[1]

    def gauges(self, now: datetime) -> list[dict[str, Any]]:
        """Per ward and channel: items open, overdue, and the median seconds to the first reply over the items
        answered in the last 30 days (None: none answered) — what Prometheus scrapes (metrics.InboxCollector)."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for name, overdue in (("open", False), ("overdue", True)):
            params: dict[str, Any] = {}
            where = " AND ".join(self._where(Filters(ward=None, state="open", overdue=overdue), now, params))
            # Only fixed SQL fragments are joined; every value is a bound parameter.
            sql = (
                "SELECT f.ward, f.channel, COUNT(*) AS n FROM feedback_items f "  # noqa: S608
                f"LEFT JOIN inbox_state s ON s.item_id = f.item_id WHERE {where} GROUP BY f.ward, f.channel"
            )
            for row in self._db.rows(sql, params):
                entry = found.setdefault((row["ward"], row["channel"]), {"open": 0, "overdue": 0, "waits": []})
                entry[name] = int(row["n"])
        answered = self._db.rows(
            f"""SELECT f.ward, f.channel, f.written_at, s.first_reply_at, own.at AS own_reply_at
                FROM feedback_items f LEFT JOIN inbox_state s ON s.item_id = f.item_id
                LEFT JOIN (SELECT channel, thread_id, MIN(written_at) AS at FROM feedback_items WHERE by_channel = 1
                           GROUP BY channel, thread_id) own ON own.channel = f.channel AND own.thread_id = f.external_id
                WHERE f.by_channel = 0 AND f.written_at >= :since AND {_ANSWERED}""",  # noqa: S608
            {"since": ts(now - timedelta(days=30))},
        )
        for row in answered:
            first = min(filter(None, (row["first_reply_at"], row["own_reply_at"])))
            wait = (datetime.fromisoformat(first) - datetime.fromisoformat(row["written_at"])).total_seconds()
            entry = found.setdefault((row["ward"], row["channel"]), {"open": 0, "overdue": 0, "waits": []})
            entry["waits"].append(max(0.0, wait))
        return [
            {
                "ward": ward,
                "channel": channel,
                "open": e["open"],
                "overdue": e["overdue"],
                "median": _median(e["waits"]),
            }
            for (ward, channel), e in sorted(found.items())
        ]

    def item(self, item_id: str, now: datetime) -> InboxItem | None:
        rows = self._db.rows(f"{_ITEM_SQL} WHERE f.item_id = :item_id AND f.by_channel = 0", {"item_id": item_id})
        views = self._views(rows, now)
        return views[0] if views else None

    def _views(self, rows: list[dict[str, Any]], now: datetime) -> list[InboxItem]:
        if not rows:
            return []
        targets = self._targets()
        threads = self._threads(rows)
        found = []
        for row in rows:
            written = datetime.fromisoformat(row["written_at"])
            hours = targets.get(row["ward"], triage.DEFAULT_TARGET_HOURS)
            answered = row["first_reply_at"] is not None or row["own_reply_at"] is not None
            first_reply = min(filter(None, (row["first_reply_at"], row["own_reply_at"])), default=None)
            hide_state: Literal["pending", "done", "failed"] | None = None
            if row["hide_action"] is not None:
                hide_state = (
                    "pending" if row["hide_done"] is None else "failed" if row["hide_done"] == "failed" else "done"
                )
            found.append(
                InboxItem(
                    item_id=row["item_id"],
                    ward=row["ward"],
                    channel=row["channel"],
                    platform=row["platform"],
                    kind=row["kind"],
                    external_id=row["external_id"],
                    thread_id=row["thread_id"],
                    post_id=row["post_id"],
                    footage_id=row["footage_id"],
                    post_title=row["post_title"],
                    author_name=row["author_name"],
                    author_id=row["author_id"],
                    text=row["text"],
                    truncated=bool(row["truncated"]),
                    url=row["url"],
                    written_at=written,
                    topic=row["topic"] or row["rule_topic"],
                    topic_by="person" if row["topic"] else ("rule" if row["rule_topic"] else None),
                    assignee=row["assignee"],
                    handled=bool(row["handled"]),
                    handled_at=row["handled_at"],
                    hidden=bool(row["hidden"]),
                    hide_state=hide_state,
                    hide_reason=row["hide_reason"] if hide_state == "failed" else None,
                    first_reply_at=first_reply,
                    due_at=triage.due_at(written, hours),
                    overdue=triage.is_overdue(written, hours, answered or bool(row["handled"]), now),
                    replies=tuple(threads.get(row["item_id"], ())),
                )
            )
        return found

    def _threads(self, rows: list[dict[str, Any]]) -> dict[str, list[ReplyView]]:
        """Each item's replies, oldest first: the ward's from Loa (with where each stands) and those it wrote on the
        platform itself (one collected back from the platform that Loa posted is shown once, as Loa's)."""
        ids = [r["item_id"] for r in rows]
        sent = self._db.rows(
            """SELECT a.action_id, a.item_id, a.text, a.by, a.at, d.state, d.reply_id, d.reason
               FROM inbox_actions a LEFT JOIN inbox_done d ON d.action_id = a.action_id
               WHERE a.action = 'reply' AND a.item_id IN :ids ORDER BY a.at, a.action_id""",
            {"ids": ids},
            lists=("ids",),
        )
        keys = {(r["channel"], r["external_id"]): r["item_id"] for r in rows}
        own = self._db.rows(
            """SELECT channel, thread_id, external_id, author_name, text, written_at FROM feedback_items
               WHERE by_channel = 1 AND channel IN :channels AND thread_id IN :threads""",
            {"channels": sorted({r["channel"] for r in rows}), "threads": sorted({r["external_id"] for r in rows})},
            lists=("channels", "threads"),
        )
        posted_ids = {r["reply_id"] for r in sent if r["reply_id"]}
        threads: dict[str, list[ReplyView]] = {}
        for r in sent:
            state = {"replied": "posted", "failed": "failed"}.get(r["state"], "pending")
            threads.setdefault(r["item_id"], []).append(
                ReplyView(
                    action_id=r["action_id"],
                    text=r["text"],
                    by=r["by"],
                    at=r["at"],
                    state=state,  # type: ignore[arg-type]
                    reason=r["reason"] if state == "failed" else None,
                    reply_id=r["reply_id"],
                )
            )
        for r in own:
            item_id = keys.get((r["channel"], r["thread_id"]))
            if item_id is None or r["external_id"] in posted_ids:
                continue
            view = ReplyView(text=r["text"], author_name=r["author_name"], at=r["written_at"], state="posted")
            threads.setdefault(item_id, []).append(view)
        for replies in threads.values():
            replies.sort(key=lambda v: v.at)
        return threads


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
