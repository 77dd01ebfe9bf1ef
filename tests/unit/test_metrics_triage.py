"""Triage (loa_metrics/triage.py) on real Vietnamese sentences, segmented by pyvi's real model: keywords with and
without diacritics, on whole words, multiword keywords, exceptions, NFD input, a ward's own rules, overdue."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest

from loa_metrics.triage import (
    DEFAULT_RULES,
    Rule,
    Rules,
    is_overdue,
    matches,
    same_syllable,
    strip_marks,
    topic_of,
    words,
)


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Khu phố 3 mất điện từ sáng tới giờ, mong điện lực xem giúp.", "dien"),
        ("mat dien ca khu pho tu sang", "dien"),
        ("Cúp điện liên tục mỗi tối", "dien"),
        ("Đường Lê Lợi đoạn gần chợ bị ngập nước mỗi khi mưa, mong phường sớm xử lý.", "ha-tang"),
        ("duong le loi ngap nuoc qua troi", "ha-tang"),
        ("Cống rãnh tắc nghẽn, ngập lụt cả hẻm", "ha-tang"),
        ("Mất nước sinh hoạt 3 ngày rồi", "ha-tang"),
        ("Cho hỏi lịch thu gom rác ở khu phố 3 là ngày nào ạ?", "moi-truong"),
        ("Rác thải ở hẻm 12 không ai thu gom, bốc mùi hôi thối", "moi-truong"),
        ("Xe rác đến trễ hai ngày", "moi-truong"),
        ("thu gom rac khong dung gio", "moi-truong"),
        ("Tiếng karaoke ồn ào đến khuya", "an-ninh"),
        ("Xin hỏi thủ tục làm căn cước công dân cho con", "hanh-chinh"),
    ],
)
def test_a_comment_goes_to_its_department(text: str, topic: str) -> None:
    assert topic_of(text, DEFAULT_RULES) == topic


@pytest.mark.parametrize(
    "text",
    [
        "Nhạc cổ điển hay quá",  # điển is not điện
        "Điện thoại của tôi không xem được video",  # one word: phone
        "dien thoai khong xem duoc",  # without marks, an exception
        "Nhà nước quan tâm người dân, cảm ơn phường",  # the State, not water
        "cam on nha nuoc va dat nuoc",
        "Video hay quá, cảm ơn phường!",
        "",
        "🙂👍 !!!",
    ],
)
def test_what_only_looks_like_a_keyword_is_not_triaged(text: str) -> None:
    assert topic_of(text, DEFAULT_RULES) is None


def test_nfd_input_from_a_phone_is_read_as_nfc() -> None:
    nfc = "Đường ngập nước, mất điện cả khu"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    assert words(nfd) == words(nfc)
    assert topic_of(nfd, DEFAULT_RULES) == topic_of(nfc, DEFAULT_RULES) == "ha-tang"  # two matches against one


def test_syllables_compare_with_marks_when_written_with_them() -> None:
    assert strip_marks("điện") == "dien" and strip_marks("Đường") == "Duong" and strip_marks("nước") == "nuoc"
    assert same_syllable("điện", "điện") and same_syllable("dien", "điện") and same_syllable("dien", "điển")
    assert not same_syllable("điển", "điện") and not same_syllable("nuoc", "nuôi")


def test_multiword_keywords_match_runs_of_whole_words() -> None:
    infrastructure = DEFAULT_RULES.rules[1]
    environment = DEFAULT_RULES.rules[2]
    assert matches(words("Đường ngập nước"), infrastructure) == ["nước", "ngập", "ngập nước"]
    # pyvi makes "thu gom" one word: the keyword's three syllables match the words "thu_gom" and "rác".
    assert words("thu gom rác") == [("thu", "gom"), ("rác",)]
    assert matches(words("thu gom rác"), environment) == ["rác", "thu gom rác"]
    assert matches(words("rác thải"), environment) == ["rác thải"]  # one word: "rác" alone does not match it


def test_a_wards_own_rules_and_precedence() -> None:
    rules = Rules(
        target_hours=24,
        rules=(
            Rule(topic="cho", department="Ban quản lý chợ", keywords=("chợ", "sạp")),
            Rule(topic="giao-thong", department="Giao thông", keywords=("kẹt xe", "đèn đỏ")),
        ),
    )
    assert topic_of("Kẹt xe trước chợ Bến Thành", rules) == "cho"  # a tie: the first listed
    assert topic_of("Kẹt xe, đèn đỏ hỏng, trước chợ", rules) == "giao-thong"  # two against one
    assert topic_of("mất điện", rules) is None  # a ward's rules replace the defaults
    assert rules.topics() == ("cho", "giao-thong")
    assert topic_of("mất điện", Rules()) is None
    with pytest.raises(ValueError, match="topic"):
        Rule(topic="Điện", department="x", keywords=("điện",))


def test_overdue_is_past_the_target_and_unanswered() -> None:
    written = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert not is_overdue(written, 48, False, written + timedelta(hours=47, minutes=59))
    assert is_overdue(written, 48, False, written + timedelta(hours=48))
    assert not is_overdue(written, 48, True, written + timedelta(days=10))


def test_a_10_kb_comment_with_control_characters_is_triaged() -> None:
    text = "Xin chào\x00\x07 " + "bãi rác bốc mùi hôi thối, " * 400  # a broken or hostile input, 10,000+ characters
    assert len(text) > 10_000
    assert topic_of(text, DEFAULT_RULES) == "moi-truong"
