"""Where a footage is, in one word (pure functions over what the projection stored).

A footage is failed while one of its failures stands: a failure stands until a later outcome supersedes it, so
a post that failed and was then published (`loa retry`) is published. "Later" is the events' own time, never
their arrival: every topic is consumed on its own, a replay reads one topic before another, and a redelivered
old event must not undo a newer outcome. Times are UTC ISO strings (`store.ts`), so text order is time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from loa_core.channels import Channel
from loa_core.contracts import FootageStatus
from loa_core.contracts.topics import PUBLISHER, TRANSCODE

# The stage recorded for a post that failed (posts.failed); a dead letter's stage is the service that wrote it.
PUBLISH = "publish"


@dataclass(frozen=True)
class Publication:
    channel: str
    profile: str
    at: str  # when the publisher announced it


@dataclass(frozen=True)
class Failure:
    stage: str  # PUBLISH, or the service that dead-lettered a record of the footage
    channel: str | None  # the channel of a failed post (posts.failed names the channel, not the cut)
    at: str


def stands(
    failure: Failure, row: Mapping[str, Any], publications: Iterable[Publication], expected: set[tuple[str, str]]
) -> bool:
    """Whether no later outcome has superseded this failure.

    - A failed post is superseded when its channel published after it and every post the footage expects on
      that channel is live (the failure does not say which cut failed; a live post never fails again).
    - A dead letter is superseded when the service that wrote it succeeded for the footage afterwards:
      transcode by a later renditions.ready, the publisher by a later post. Any other service's stands.
    """
    later = [p for p in publications if p.at > failure.at]
    if failure.stage == PUBLISH:
        live = {(p.channel, p.profile) for p in publications}
        expected_here = {post for post in expected if post[0] == failure.channel}
        return not (any(p.channel == failure.channel for p in later) and expected_here <= live)
    if failure.stage == TRANSCODE:
        return not (row.get("transcoded_at") and row["transcoded_at"] > failure.at)
    if failure.stage == PUBLISHER:
        return not later
    return True


def footage_status(
    row: Mapping[str, Any],
    publications: list[Publication],
    failures: list[Failure],
    expected_posts: set[tuple[str, str]],
) -> FootageStatus:
    """One word for where a footage is: failed, published, publishing, transcoded, uploaded."""
    if any(stands(f, row, publications, expected_posts) for f in failures):
        return FootageStatus.FAILED
    published = {(p.channel, p.profile) for p in publications}
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
