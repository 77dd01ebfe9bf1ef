"""Where a footage is, in one word (pure functions over what the projection stored)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loa_core.channels import Channel
from loa_core.contracts import FootageStatus


def footage_status(
    row: Mapping[str, Any],
    posts: list[dict[str, Any]],
    failures: list[dict[str, Any]],
    expected_posts: set[tuple[str, str]],
) -> FootageStatus:
    """One word for where a footage is: failed, published, publishing, transcoded, uploaded."""
    if failures:
        return FootageStatus.FAILED
    published = {(p["channel"], p["profile"]) for p in posts}
    if row.get("transcoded_at") and expected_posts and expected_posts <= published:
        return FootageStatus.PUBLISHED
    if published:
        return FootageStatus.PUBLISHING
    if row.get("transcoded_at"):
        return FootageStatus.TRANSCODED
    return FootageStatus.UPLOADED if row.get("uploaded_at") else FootageStatus.UNKNOWN


def expected_posts_for(
    channel_names: list[str], renditions: list[dict[str, Any]], channels: Mapping[str, Channel]
) -> set[tuple[str, str]]:
    """The (channel, cut) posts a footage calls for: every configured channel's profiles that were produced."""
    produced = {r["profile"] for r in renditions}
    return {(name, p) for name in channel_names if name in channels for p in channels[name].profiles if p in produced}
