"""The feedback store: one row per item id however often it is seen (a webhook and a poll, a redelivery), newest
first per ward, the collection cursors, and the lease that lets one replica poll."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from loa_core.contracts import FeedbackReceived, clean_text, feedback_item_id
from loa_metrics.feedback_store import Cursor
from loa_metrics.projection import open_projection

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _comment(external_id: str, text: str, *, minutes: int = 0, ward: str = "p1") -> FeedbackReceived:
    cleaned, cut = clean_text(text)
    return FeedbackReceived(
        item_id=feedback_item_id("p1-yt", external_id),
        ward=ward,
        channel="p1-yt",
        platform="youtube",
        kind="comment",
        external_id=external_id,
        post_id="vid1",
        author_name="Nguyễn Văn An",
        text=cleaned,
        truncated=cut,
        written_at=T0 + timedelta(minutes=minutes),
    )


def test_an_item_seen_twice_is_one_row_that_takes_the_new_text_and_keeps_peoples_state(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "m.sqlite3", {})
    store = projection.feedback
    first = _comment("c1", "Đường ngập nước")
    assert store.record(first, T0) is True
    # What the inbox adds (migration 0009) stands in for people's state here: a column the collector never writes.
    projection.database.write(lambda c: c.execute(text("ALTER TABLE feedback_items ADD COLUMN state TEXT")))
    projection.database.write(lambda c: c.execute(text("UPDATE feedback_items SET state = 'handled'")))
    again = first.model_copy(update={"text": "Đường ngập nước (đã sửa)", "event_id": "f" * 32})
    assert store.record(again, T0 + timedelta(hours=1)) is False
    rows = projection.database.rows("SELECT text, state, received_at FROM feedback_items")
    assert rows == [{"text": "Đường ngập nước (đã sửa)", "state": "handled", "received_at": T0.isoformat()}]
    projection.close()


def test_a_wards_items_newest_first_with_vietnamese_and_the_cut_mark_intact(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "m.sqlite3", {})
    store = projection.feedback
    store.record(_comment("old", "Rác chưa thu", minutes=1), T0)
    store.record(_comment("new", "x" * 12_000, minutes=5), T0)
    store.record(_comment("other", "Khác phường", minutes=9, ward="p2"), T0)
    items = store.items("p1")
    assert [i["external_id"] for i in items] == ["new", "old"]
    assert items[0]["truncated"] == 1 and len(items[0]["text"]) == 10_000
    assert items[1]["text"] == "Rác chưa thu" and items[1]["truncated"] == 0
    assert [i["external_id"] for i in store.items(None)] == ["other", "new", "old"]
    projection.close()


def test_cursors_are_kept_per_channel_and_scope_and_survive_reopening(tmp_path: Path) -> None:
    location = tmp_path / "m.sqlite3"
    projection = open_projection(location, {})
    assert projection.feedback.cursor("p1-yt") == Cursor()
    projection.feedback.advance("p1-yt", "", Cursor("2026-12-01T02:00:00+00:00"), T0)
    projection.feedback.advance("p1-fb", "vid9", Cursor(None, "tok", "2026-12-01T03:00:00+00:00"), T0)
    projection.close()
    reopened = open_projection(location, {})
    assert reopened.feedback.cursor("p1-yt") == Cursor("2026-12-01T02:00:00+00:00")
    assert reopened.feedback.cursor("p1-fb", "vid9") == Cursor(None, "tok", "2026-12-01T03:00:00+00:00")
    assert reopened.feedback.cursor("p1-fb") == Cursor()
    reopened.close()


def test_one_replica_holds_the_lease_until_it_expires(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "m.sqlite3", {})
    store = projection.feedback
    ttl = timedelta(minutes=2)
    assert store.take_lease("poller", "a", ttl, T0)
    assert not store.take_lease("poller", "b", ttl, T0 + timedelta(minutes=1))
    assert store.take_lease("poller", "a", ttl, T0 + timedelta(minutes=1))  # renewed by its holder
    assert not store.take_lease("poller", "b", ttl, T0 + timedelta(minutes=2))
    assert store.take_lease("poller", "b", ttl, T0 + timedelta(minutes=4))  # expired: taken over
    assert not store.take_lease("poller", "a", ttl, T0 + timedelta(minutes=4))
    projection.close()
