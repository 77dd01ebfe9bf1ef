"""Templates per platform: limits enforced, Vietnamese intact."""

from __future__ import annotations

import unicodedata

from loa_core.channels import Channel
from loa_core.contracts import FootageMetadata
from loa_core.posttext import LIMITS, cut, hashtag, render

FID = "0" * 32


def channel(platform: str, **options: str) -> Channel:
    return Channel(name=f"c-{platform}", platform=platform, profiles=("youtube",), options=options)


def meta(**kw: object) -> FootageMetadata:
    base: dict[str, object] = {"title": "Lễ kỷ niệm", "description": "Mô tả", "channels": ("c",)}
    base.update(kw)
    return FootageMetadata.model_validate(base)


def test_hashtags_keep_vietnamese_letters_and_drop_spaces_and_punctuation() -> None:
    assert hashtag("Lễ hội Đền Hùng!") == "#LễhộiĐềnHùng"
    assert hashtag("!!!") is None
    # Decomposed input (as some keyboards send it) is composed, so the tag is the same everywhere.
    assert hashtag(unicodedata.normalize("NFD", "Phường")) == "#Phường"


def test_cut_keeps_whole_words_and_characters() -> None:
    text = "Hội nghị tiếp xúc cử tri phường Bến Nghé quý IV năm 2026"
    short = cut(text, chars=30)
    assert len(short) <= 30 and short.endswith("…")
    assert text.startswith(short[:-1].rstrip())
    assert " " not in short[-2:]  # cut at a word boundary, not mid-word
    assert cut("ngắn", chars=30) == "ngắn"


def test_cut_by_utf8_bytes_never_splits_a_character() -> None:
    text = "ệ" * 3000  # 3 bytes each
    short = cut(text, utf8_bytes=5000)
    assert len(short.encode("utf-8")) <= 5000
    short.encode("utf-8").decode("utf-8")


def test_youtube_title_limit_and_forbidden_brackets() -> None:
    long_title = "Đại hội " + "đại biểu nhân dân " * 20
    text = render(channel("youtube"), meta(title=long_title[:200], description="a <b> c"), FID)
    assert len(text.title) <= 100 and text.title.startswith("Đại hội")
    assert "<" not in text.description and ">" not in text.description


def test_youtube_description_limit_is_in_bytes() -> None:
    text = render(channel("youtube"), meta(description="ư" * 5000), FID)
    assert len(text.description.encode("utf-8")) <= 5000


def test_hashtag_count_is_capped_per_platform() -> None:
    tags = tuple(f"thẻ{i}" for i in range(40))
    for platform in ("youtube", "tiktok", "zalo"):
        text = render(channel(platform), meta(tags=tags), FID)
        assert len(text.hashtags) == LIMITS[platform].max_hashtags


def test_tiktok_caption_carries_title_and_hashtags_within_2200() -> None:
    text = render(channel("tiktok"), meta(title="Lễ chào cờ", tags=("phường Bến Nghé", "Quận 1")), FID)
    assert text.title == "Lễ chào cờ #phườngBếnNghé #Quận1"
    assert text.description == ""


def test_zalo_limits() -> None:
    text = render(channel("zalo"), meta(title="T" * 200, description="Mô tả dài " * 60), FID)
    assert len(text.title) <= 150 and len(text.description) <= 300


def test_channel_can_override_a_template() -> None:
    ch = channel("facebook", title_template="[{{ channel }}] {{ title }}{% if series %} – {{ series }}{% endif %}")
    text = render(ch, meta(series="Chuỗi sự kiện"), FID)
    assert text.title == "[c-facebook] Lễ kỷ niệm – Chuỗi sự kiện"
