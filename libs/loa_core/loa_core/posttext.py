"""Title, description and hashtags per platform from Jinja2 templates, cut to each platform's limits: what the
publisher sends and what ingest's footage page shows (and lets an editor change) before it goes out, one piece for
both.

Templates live in `loa_core/templates/posts/<platform>_title.j2` and `<platform>_description.j2`; a channel may override
either with the options `title_template` / `description_template` (Jinja2 source). Text is NFC-normalized so
Vietnamese diacritics count as one character each, and cuts happen at a word boundary with an ellipsis, never
inside a character (limits in UTF-8 bytes are cut on a character boundary).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, StrictUndefined

from loa_core.channels import Channel
from loa_core.contracts import FootageMetadata
from loa_core.contracts import PostText as ApprovedText


@dataclass(frozen=True)
class PostText:
    """Title, description and hashtags rendered from the channel's templates, within the platform's limits."""

    title: str
    description: str
    hashtags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    title_chars: int
    description_chars: int | None = None
    description_bytes: int | None = None
    max_hashtags: int = 30
    # Characters the platform refuses in text (YouTube rejects '<' and '>').
    forbidden: str = ""


LIMITS: dict[str, Limits] = {
    # snippet.title ≤ 100 chars, snippet.description ≤ 5000 bytes, no < >; over 60 hashtags YouTube ignores all
    # of them, and only the first 3 show above the title: 15 keeps them meaningful.
    "youtube": Limits(title_chars=100, description_bytes=5000, max_hashtags=15, forbidden="<>"),
    # post_info.title is the whole caption, ≤ 2200 UTF-16 code units; hashtags are part of it.
    "tiktok": Limits(title_chars=2200, description_chars=0, max_hashtags=20),
    # Page video title; description is the post text.
    "facebook": Limits(title_chars=255, description_chars=5000, max_hashtags=30),
    # Zalo OA article: title ≤ 150, description ≤ 300 [2nd-hand].
    "zalo": Limits(title_chars=150, description_chars=300, max_hashtags=5),
    "local": Limits(title_chars=200, description_chars=5000, max_hashtags=30),
}

_env = Environment(
    loader=PackageLoader("loa_core", "templates"),
    autoescape=False,  # noqa: S701 — plain text for platform APIs, not HTML
    undefined=StrictUndefined,
    keep_trailing_newline=False,
)
_HASHTAG_DROP = re.compile(r"[^\w]", re.UNICODE)
_SPACES = re.compile(r"[ \t]+")


def hashtag(tag: str) -> str | None:
    """'Lễ hội Đền Hùng' → '#LễhộiĐềnHùng': letters (any script), digits and '_' only."""
    body = _HASHTAG_DROP.sub("", unicodedata.normalize("NFC", tag))
    return f"#{body}" if body else None


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, *, chars: int | None = None, utf8_bytes: int | None = None, utf16: bool = False) -> str:
    """Shorten to the limit at a word boundary, ending with '…' when something was cut."""

    def fits(candidate: str) -> bool:
        if chars is not None and (_utf16_len(candidate) if utf16 else len(candidate)) > chars:
            return False
        return utf8_bytes is None or len(candidate.encode("utf-8")) <= utf8_bytes

    if fits(text):
        return text
    # Longest prefix (in characters) that fits with the ellipsis: binary search, characters never split.
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(text[:mid].rstrip() + "…"):
            lo = mid
        else:
            hi = mid - 1
    prefix = text[:lo]
    space = prefix.rfind(" ")
    if space > lo * 0.6:  # cut at the last word boundary unless that throws away too much
        prefix = prefix[:space]
    return prefix.rstrip() + "…"


def render(channel: Channel, metadata: FootageMetadata, footage_id: str) -> PostText:
    platform = channel.platform
    limits = LIMITS.get(platform, LIMITS["local"])
    tags: list[str] = []
    for tag in metadata.tags:
        tagged = hashtag(tag)
        if tagged and tagged not in tags:
            tags.append(tagged)
    hashtags = tuple(tags[: limits.max_hashtags])
    context: dict[str, object] = {
        "title": unicodedata.normalize("NFC", metadata.title),
        "description": unicodedata.normalize("NFC", metadata.description),
        "tags": list(metadata.tags),
        "hashtags": list(hashtags),
        "series": metadata.series,
        "channel": channel.name,
        "footage_id": footage_id,
    }
    title = _render_one(channel, "title", platform, context)
    description = _render_one(channel, "description", platform, context)
    return fit(platform, title, description, hashtags, fallback_title=metadata.title)


def approved(channel: Channel, text: ApprovedText) -> PostText:
    """The text an approver wrote for the post (contracts.decisions), within the platform's limits like a rendered
    one: used as it is, not through the channel's templates (the approver saw and changed the final words)."""
    limits = LIMITS.get(channel.platform, LIMITS["local"])
    hashtags = tuple(unicodedata.normalize("NFC", h) for h in text.hashtags[: limits.max_hashtags])
    title, description = unicodedata.normalize("NFC", text.title), unicodedata.normalize("NFC", text.description)
    return fit(channel.platform, title, description, hashtags, fallback_title=title)


def fit(platform: str, title: str, description: str, hashtags: tuple[str, ...], *, fallback_title: str) -> PostText:
    """Title and description made acceptable to the platform: its forbidden characters replaced, one line of title,
    both cut to its limits at a word boundary."""
    limits = LIMITS.get(platform, LIMITS["local"])
    for ch in limits.forbidden:
        # Lookalike angle quotes keep the meaning where YouTube refuses the ASCII ones.
        title = title.replace(ch, "‹" if ch == "<" else "›")
        description = description.replace(ch, "‹" if ch == "<" else "›")
    title = cut(
        _SPACES.sub(" ", title.replace("\n", " ")).strip(), chars=limits.title_chars, utf16=platform == "tiktok"
    )
    if not title:
        title = cut(unicodedata.normalize("NFC", fallback_title), chars=limits.title_chars)
    if limits.description_chars == 0:
        description = ""
    else:
        description = cut(description.strip(), chars=limits.description_chars, utf8_bytes=limits.description_bytes)
    return PostText(title=title, description=description, hashtags=hashtags)


def _render_one(channel: Channel, part: str, platform: str, context: dict[str, object]) -> str:
    source = channel.options.get(f"{part}_template")
    if isinstance(source, str):
        template = _env.from_string(source)
    else:
        name = f"posts/{platform}_{part}.j2"
        template = _env.get_template(name if name in _env.list_templates() else f"posts/local_{part}.j2")
    return template.render(**context)
