"""The house rule for what a person reads: the English, then " / ", then the Vietnamese."""

from __future__ import annotations

import re

_WORDS = re.compile(r"[A-Za-z]+ [A-Za-z]+")


def assert_bilingual(detail: object) -> None:
    """`detail` says it in English and then in Vietnamese (a Vietnamese part without its diacritics fails)."""
    assert isinstance(detail, str), detail
    english, separator, vietnamese = detail.rpartition(" / ")
    assert separator, f"not said in both languages (English / Vietnamese): {detail!r}"
    assert _WORDS.search(english), f"no English part in {detail!r}"
    assert any(not ch.isascii() and ch.isalpha() for ch in vietnamese), f"no Vietnamese part in {detail!r}"
