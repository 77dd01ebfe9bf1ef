"""Triage of the citizens' feedback (pure): which department a comment or message is for, from the ward's topic
rules, and when it is overdue.

Vietnamese is written in syllables separated by spaces, and a word is often several of them ("điện thoại", phone;
"nhà nước", the State), so a keyword is matched on words, not on characters: the text is segmented into words by
pyvi's tokenizer (a CRF model shipped inside the package, loaded once, nothing downloaded), and a keyword matches a
run of whole words whose syllables are exactly its own. "điện" (electricity) then matches "mất điện" but neither
"điện thoại" (one word) nor "cổ điển" (another syllable); "ngập nước" matches the two words "ngập" "nước".

People often type without diacritics ("mat dien"). A syllable written with marks is compared with its marks (so
"điển" is never "điện"); a syllable written without any is compared with the keyword's syllable stripped of them
("dien" is "điện", and also "điển": without marks they are one spelling). Without marks pyvi cannot tell the words
apart ("nha nuoc" stays two), so a rule also lists exceptions: phrases whose words the rule's keywords never match
("nhà nước", "đất nước" for water).

A ward's rules are data (`Rules`, stored as JSON by metrics; `DEFAULT_RULES` until a ward admin changes them): each
topic with its department's name, its keywords and exceptions, and the ward's response-time target. The topic whose
keywords match most often wins; a tie goes to the rule listed first.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from loa_core.contracts.feedback import Topic

Phrase = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]*$")]
DEFAULT_TARGET_HOURS = 48


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: Topic
    department: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    keywords: tuple[Phrase, ...] = Field(min_length=1, max_length=200)
    exceptions: tuple[Phrase, ...] = Field(default=(), max_length=200)


class Rules(BaseModel):
    """A ward's triage: its topics in order of precedence, and how many hours it gives itself to answer."""

    model_config = ConfigDict(frozen=True)

    target_hours: int = Field(default=DEFAULT_TARGET_HOURS, ge=1, le=24 * 90)
    rules: tuple[Rule, ...] = Field(default=(), max_length=50)

    def topics(self) -> tuple[str, ...]:
        return tuple(rule.topic for rule in self.rules)


DEFAULT_RULES = Rules(
    rules=(
        Rule(
            topic="dien",
            department="Điện lực (điện, chiếu sáng)",
            keywords=(
                "điện",
                "mất điện",
                "cúp điện",
                "cắt điện",
                "điện lực",
                "dây điện",
                "cột điện",
                "chập điện",
                "đèn đường",
                "chiếu sáng",
            ),
            exceptions=("điện thoại", "điện tử", "điện ảnh", "điện máy", "cung điện", "điện biên"),
        ),
        Rule(
            topic="ha-tang",
            department="Hạ tầng, thoát nước",
            keywords=(
                "nước",
                "ngập",
                "ngập nước",
                "ngập lụt",
                "thoát nước",
                "cống",
                "cống rãnh",
                "nắp cống",
                "mất nước",
                "cúp nước",
                "ổ gà",
                "sụt lún",
                "vỉa hè",
                "nước sinh hoạt",
            ),
            exceptions=("nhà nước", "đất nước", "nước ngoài", "các nước", "nước ta", "nước mắt", "nước mắm"),
        ),
        Rule(
            topic="moi-truong",
            department="Môi trường, vệ sinh",
            keywords=(
                "rác",
                "rác thải",
                "thu gom rác",
                "xe rác",
                "bãi rác",
                "xả rác",
                "đổ rác",
                "hôi thối",
                "mùi hôi",
                "ô nhiễm",
                "khói bụi",
                "vệ sinh môi trường",
            ),
        ),
        Rule(
            topic="an-ninh",
            department="Công an phường, trật tự",
            keywords=("trộm", "cướp", "đánh nhau", "ồn ào", "karaoke", "trật tự", "lấn chiếm", "an ninh"),
        ),
        Rule(
            topic="hanh-chinh",
            department="Một cửa, thủ tục hành chính",
            keywords=("thủ tục", "hồ sơ", "giấy tờ", "căn cước", "khai sinh", "chứng thực", "hộ khẩu", "tạm trú"),
        ),
    )
)

Word = tuple[str, ...]  # a word's syllables, lowercase NFC


@functools.lru_cache(maxsize=8192)  # a language's syllables are few: each is stripped once
def strip_marks(syllable: str) -> str:
    """The syllable without its diacritics ("điện" -> "dien"): what it is when typed without marks."""
    decomposed = unicodedata.normalize("NFD", syllable.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def _has_marks(syllable: str) -> bool:
    return strip_marks(syllable) != syllable


def same_syllable(written: str, keyword: str) -> bool:
    """A syllable of the text against one of a keyword (both lowercase NFC): exactly when written with marks, without
    marks when written without any."""
    if _has_marks(written):
        return written == keyword
    return written == strip_marks(keyword)


@functools.cache
def _tokenizer():  # type: ignore[no-untyped-def]
    # Imported on first use: pyvi loads scikit-learn and its CRF model (about 2 s), which a service that never
    # triages (or a test that never does) should not pay for.
    from pyvi import ViTokenizer

    return ViTokenizer


# pyvi tags with one python-crfsuite Tagger, which is not safe to use from two threads at once (metrics triages off
# its loop, in the default executor's threads): one segmentation at a time.
_SEGMENTING = threading.Lock()


def words(text: str) -> list[Word]:
    """The text's words, segmented by pyvi: NFC first (a phone may send NFD), then lowercased syllables; punctuation
    and numbers dropped."""
    normal = unicodedata.normalize("NFC", text)
    with _SEGMENTING:
        segmented: str = _tokenizer().tokenize(normal)
    found: list[Word] = []
    for token in segmented.split():
        syllables = tuple(s.casefold() for s in token.split("_") if any(ch.isalpha() for ch in s))
        if syllables:
            found.append(syllables)
    return found


@functools.lru_cache(maxsize=4096)  # the rules' keywords, split once
def phrase(text: str) -> Word:
    """A keyword's syllables, as the rules write it (spaces between syllables; marks or not)."""
    return tuple(unicodedata.normalize("NFC", text).casefold().split())


def spans(text_words: Sequence[Word], keyword: Word) -> list[tuple[int, int]]:
    """Where `keyword` matches a run of whole words: (first word, last word + 1) of each match."""
    found = []
    for start in range(len(text_words)):
        syllables: list[str] = []
        for end in range(start, len(text_words)):
            syllables.extend(text_words[end])
            if len(syllables) >= len(keyword):
                if len(syllables) == len(keyword) and all(map(same_syllable, syllables, keyword)):
                    found.append((start, end + 1))
                break
    return found


def matches(text_words: Sequence[Word], rule: Rule) -> list[str]:
    """The rule's keywords found in the text (once per place), outside its exceptions."""
    blocked = {i for e in rule.exceptions for a, b in spans(text_words, phrase(e)) for i in range(a, b)}
    hits = []
    for keyword in rule.keywords:
        for a, b in spans(text_words, phrase(keyword)):
            if not blocked.intersection(range(a, b)):
                hits.append(keyword)
    return hits


def topic_of(text: str, rules: Rules) -> str | None:
    """The topic whose keywords the text matches most often (the first listed on a tie), or None."""
    if not rules.rules:
        return None
    text_words = words(text)
    best, best_count = None, 0
    for rule in rules.rules:
        count = len(matches(text_words, rule))
        if count > best_count:
            best, best_count = rule.topic, count
    return best


def due_at(written_at: datetime, target_hours: int) -> datetime:
    return written_at + timedelta(hours=target_hours)


def is_overdue(written_at: datetime, target_hours: int, answered: bool, now: datetime) -> bool:
    """Past the ward's response time and neither handled nor answered on the platform."""
    return not answered and now >= due_at(written_at, target_hours)
