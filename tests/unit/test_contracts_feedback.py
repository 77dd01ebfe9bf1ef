"""The feedback contract's conventions: one id per comment, text kept as a person can read it, consistent actions."""

from __future__ import annotations

import unicodedata

import pytest
from pydantic import ValidationError

from loa_core.contracts.feedback import MAX_TEXT, FeedbackAction, can, clean_text, feedback_item_id

ITEM = feedback_item_id("youtube-phuong", "Ugx1")


def test_the_same_comment_on_the_same_channel_is_one_item_and_another_channel_another() -> None:
    assert feedback_item_id("youtube-phuong", "Ugx1") == ITEM
    assert feedback_item_id("youtube-phuong-2", "Ugx1") != ITEM
    assert feedback_item_id("youtube-phuong", "Ugx2") != ITEM
    # No separator trick makes two different pairs collide.
    assert feedback_item_id("a", "b-c") != feedback_item_id("a-b", "c")


def test_clean_text_composes_vietnamese_one_way_and_drops_control_characters_but_not_lines() -> None:
    decomposed = unicodedata.normalize("NFD", "Đường ngập nước")
    assert decomposed != "Đường ngập nước"
    text, cut = clean_text(decomposed + "\x00\x1b[31m\nxin cảm ơn\t!")
    assert text == "Đường ngập nước[31m\nxin cảm ơn\t!"
    assert cut is False


def test_clean_text_cuts_a_hostile_length_and_says_so() -> None:
    text, cut = clean_text("ạ" * (MAX_TEXT + 5))
    assert len(text) == MAX_TEXT and cut is True


def base(**fields: object) -> dict[str, object]:
    return {"item_id": ITEM, "channel": "youtube-phuong", "external_id": "Ugx1", "by": "someone", **fields}


def action(**fields: object) -> FeedbackAction:
    return FeedbackAction.model_validate(base(**fields))


def test_a_reply_carries_text_an_assign_an_assignee_a_tag_a_topic_and_nothing_else() -> None:
    assert action(action="reply", text="Cảm ơn anh").text == "Cảm ơn anh"
    assert action(action="assign", assignee=None).assignee is None
    assert action(action="tag", topic="ha-tang").topic == "ha-tang"
    for wrong in (
        base(action="reply"),
        base(action="handled", text="x"),
        base(action="hide", assignee="someone"),
        base(action="tag"),
        base(action="reply", text="x", topic="dien"),
    ):
        with pytest.raises(ValidationError):
            FeedbackAction.model_validate(wrong)


def test_what_each_platform_allows() -> None:
    assert can("youtube", "reply") and can("facebook", "hide") and can("zalo", "messages")
    assert not can("zalo", "hide") and not can("tiktok", "comments") and not can("nowhere", "reply")
