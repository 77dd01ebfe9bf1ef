"""Where a footage is, in one word (pure functions over what the projection stored)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loa_core.channels import Channel

# The statuses GET /footage?status= accepts, in pipeline order.
STATUSES = ("unknown", "uploaded", "transcoded", "publishing", "published", "failed")
# Statuses of footage still on its way through the pipeline.
WAITING = ("uploaded", "transcoded", "publishing")


def footage_status(
    row: Mapping[str, Any],
    posts: list[dict[str, Any]],
    failures: list[dict[str, Any]],
    expected_posts: set[tuple[str, str]],
) -> str:
    """One word for where a footage is: failed, published, publishing, transcoded, uploaded."""
    if failures:
        return "failed"
    published = {(p["channel"], p["profile"]) for p in posts}
    if row.get("transcoded_at") and expected_posts and expected_posts <= published:
        return "published"
    if published:
        return "publishing"
    if row.get("transcoded_at"):
        return "transcoded"
    return "uploaded" if row.get("uploaded_at") else "unknown"


def expected_posts_for(
    channel_names: list[str], renditions: list[dict[str, Any]], channels: Mapping[str, Channel]
) -> set[tuple[str, str]]:
    """The (channel, cut) posts a footage calls for: every configured channel's profiles that were produced."""
    produced = {r["profile"] for r in renditions}
    return {(name, p) for name in channel_names if name in channels for p in channels[name].profiles if p in produced}
