"""Collecting comments, the pure part: what each page of a newest-first listing means for the cursor, how a round
stops at its page cap and resumes, and what a platform's text becomes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from loa_core.channels import Channel
from loa_core.contracts import feedback_item_id
from loa_metrics.feedback_collect import Entry, Page, Seen, after_page, collect_listing, received
from loa_metrics.feedback_store import Cursor
from loa_metrics.store import ts

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
CHANNEL = Channel(name="p1-yt", platform="youtube", profiles=("youtube",), ward="p1")


def _entry(minute: int) -> Entry:
    at = T0 + timedelta(minutes=minute)
    return Entry(at, (Seen(external_id=f"c{minute}", text=f"bình luận {minute}", written_at=at),))


def _ids(step_send: Sequence[Seen]) -> list[str]:
    return [s.external_id for s in step_send]


def test_a_first_listing_takes_everything_and_marks_its_newest_time() -> None:
    step = after_page(Cursor(), Page((_entry(9), _entry(5)), None))
    assert _ids(step.send) == ["c9", "c5"] and not step.more
    assert step.cursor == Cursor(ts(T0 + timedelta(minutes=9)))


def test_a_listing_stops_at_the_mark_and_keeps_an_entry_at_the_mark_for_the_ids_to_settle() -> None:
    mark = Cursor(ts(T0 + timedelta(minutes=5)))
    step = after_page(mark, Page((_entry(12), _entry(5), _entry(3)), "next"))
    assert _ids(step.send) == ["c12", "c5"]
    assert not step.more and step.cursor == Cursor(ts(T0 + timedelta(minutes=12)))


def test_nothing_new_leaves_the_mark_where_it_was() -> None:
    mark = Cursor(ts(T0 + timedelta(minutes=5)))
    step = after_page(mark, Page((_entry(4),), "next"))
    assert step.send == () and not step.more and step.cursor == mark
    empty = after_page(mark, Page((), None))
    assert empty.send == () and empty.cursor == mark


def test_an_unfinished_listing_keeps_its_page_and_top_and_moves_the_mark_only_when_it_reaches_the_old_one() -> None:
    mark = ts(T0)
    first = after_page(Cursor(mark), Page((_entry(30), _entry(29)), "p2"))
    assert first.more and first.cursor == Cursor(mark, "p2", ts(T0 + timedelta(minutes=30)))
    # Resumed (next round): newer comments at the top do not move the listing's top; reaching the mark does.
    second = after_page(first.cursor, Page((_entry(28), _entry(-1)), "p3"))
    assert _ids(second.send) == ["c28"]
    assert not second.more and second.cursor == Cursor(ts(T0 + timedelta(minutes=30)))


async def test_a_round_stops_at_its_page_cap_and_the_next_resumes_without_loss_or_loop() -> None:
    """A platform that pages for ever: every page names a next one. Each round reads `page_cap` pages and saves
    where it stopped; the next round starts there, so every comment is sent once and no round runs away."""
    asked: list[str | None] = []

    async def fetch(token: str | None) -> Page:
        asked.append(token)
        n = int(token or "0")
        return Page((_entry(1000 - n),), str(n + 1))

    sent: list[str] = []
    saved: list[Cursor] = []

    async def send(comments: Sequence[Seen]) -> None:
        sent.extend(_ids(comments))

    cursor = Cursor(ts(T0))
    for _ in range(3):
        await collect_listing(cursor, fetch, send, saved.append, spend=lambda: True, page_cap=4)
        cursor = saved[-1]
    assert asked == [None, "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]
    assert sent == [f"c{1000 - n}" for n in range(12)]
    assert cursor == Cursor(ts(T0), "12", ts(T0 + timedelta(minutes=1000)))


async def test_a_spent_budget_stops_before_the_call_and_the_cursor_stays() -> None:
    calls = 0

    async def fetch(token: str | None) -> Page:
        nonlocal calls
        calls += 1
        return Page((_entry(1),), None)

    async def send(comments: Sequence[Seen]) -> None:
        raise AssertionError("nothing to send")

    saved: list[Cursor] = []
    assert await collect_listing(Cursor(), fetch, send, saved.append, spend=lambda: False) == 0
    assert calls == 0 and saved == []


async def test_a_send_that_fails_leaves_the_cursor_so_the_page_is_read_again() -> None:
    async def fetch(token: str | None) -> Page:
        return Page((_entry(3),), None)

    async def send(comments: Sequence[Seen]) -> None:
        raise ConnectionError("kafka is away")

    saved: list[Cursor] = []
    with pytest.raises(ConnectionError):
        await collect_listing(Cursor(), fetch, send, saved.append, spend=lambda: True)
    assert saved == []


def test_text_of_10_kb_or_with_control_characters_is_cleaned_and_marked_with_vietnamese_intact() -> None:
    decomposed = "Nu\u031bo\u031b\u0301c ngập"  # "Nước" written with combining marks, as some keyboards send it
    seen = Seen(
        external_id="Ugx1",
        text=decomposed + "\x00\x07 rác\tở\nđây" + "đ" * 12_000,
        written_at=T0,
        post_id="vid1",
        author_name="Nguyễn\x1b Văn An",
        url="javascript:alert(1)",
    )
    event = received(CHANNEL, seen, {"vid1": "f" * 32}.get)
    assert event.text.startswith("Nước ngập rác\tở\nđây") and len(event.text) == 10_000 and event.truncated
    assert event.author_name == "Nguyễn Văn An" and event.url is None
    assert event.item_id == feedback_item_id("p1-yt", "Ugx1") and event.footage_id == "f" * 32
    assert event.ward == "p1" and event.platform == "youtube"
    short = received(CHANNEL, Seen(external_id="Ugx2", text="Đèn đường hỏng", written_at=T0), {}.get)
    assert short.text == "Đèn đường hỏng" and not short.truncated and short.footage_id is None
