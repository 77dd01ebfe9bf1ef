"""The inbox's state in metrics (loa_metrics/inbox.py) over a real SQLite projection: each act applied once by its
action id, in the order people acted; the platform's outcome of a reply applied once, whatever order it comes in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loa_core.contracts import FeedbackAction, FeedbackDone
from loa_core.contracts.feedback import feedback_item_id
from loa_metrics.projection import Projection, open_projection

ITEM = feedback_item_id("p1-youtube", "Ugx1")
T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def act(action: str, minutes: int, **fields: Any) -> FeedbackAction:
    return FeedbackAction(
        item_id=ITEM,
        ward="p1",
        channel="p1-youtube",
        external_id="Ugx1",
        action=action,  # type: ignore[arg-type]
        by="a-0123456789ab",
        occurred_at=T0 + timedelta(minutes=minutes),
        **fields,
    )


def state(projection: Projection) -> dict[str, Any]:
    (row,) = projection.database.rows("SELECT * FROM inbox_state WHERE item_id = :i", {"i": ITEM})
    return row


def test_each_act_is_applied_once_in_order(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "p.sqlite3", {})
    acts = [
        act("tag", 1, topic="ha-tang"),
        act("assign", 2, assignee="a-0123456789ab"),
        act("handled", 3),
        act("hide", 4),
    ]
    assert [projection.inbox.action(a) for a in acts] == [True] * 4
    assert [projection.inbox.action(a) for a in acts] == [False] * 4  # redelivered: nothing changes
    row = state(projection)
    assert (row["topic"], row["assignee"], row["handled"], row["hidden"]) == ("ha-tang", "a-0123456789ab", 1, 1)
    assert row["handled_at"] == (T0 + timedelta(minutes=3)).isoformat() and row["hide_action"] == acts[3].event_id
    reopen, unassign, unhide = act("reopen", 5), act("assign", 6), act("unhide", 7)
    for a in (reopen, unassign, unhide):
        assert projection.inbox.action(a)
    row = state(projection)
    assert (row["assignee"], row["handled"], row["handled_at"], row["hidden"]) == (None, 0, None, 0)
    assert row["hide_action"] == unhide.event_id
    # A redelivered older act does not undo a newer one.
    assert not projection.inbox.action(acts[2])
    assert state(projection)["handled"] == 0


def test_a_replys_outcome_is_applied_once_and_the_first_reply_time_is_the_earliest(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "p.sqlite3", {})
    first, second = act("reply", 10, text="Cảm ơn anh"), act("reply", 20, text="Phường đã xử lý xong")

    def done(action: FeedbackAction, minutes: int, state: str = "replied") -> FeedbackDone:
        fields: dict[str, Any] = {"reply_id": f"r-{minutes}", "text": action.text} if state == "replied" else {}
        return FeedbackDone(
            item_id=ITEM,
            ward="p1",
            channel="p1-youtube",
            action_id=action.event_id,
            state=state,  # type: ignore[arg-type]
            occurred_at=T0 + timedelta(minutes=minutes),
            reason="gone" if state == "failed" else None,
            **fields,
        )

    # The second reply's outcome comes first, before its own action even (the topics are read independently).
    assert projection.inbox.done(done(second, 21))
    assert projection.inbox.action(second) and projection.inbox.action(first)
    assert projection.inbox.done(done(first, 11))
    assert not projection.inbox.done(done(first, 11))
    assert state(projection)["first_reply_at"] == (T0 + timedelta(minutes=11)).isoformat()
    failed = act("reply", 30, text="Một trả lời nữa")
    assert projection.inbox.action(failed) and projection.inbox.done(done(failed, 31, "failed"))
    assert state(projection)["first_reply_at"] == (T0 + timedelta(minutes=11)).isoformat()
