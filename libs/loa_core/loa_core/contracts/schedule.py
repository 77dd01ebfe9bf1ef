"""Schedule changes: a person moves or cancels one footage's post to one channel before it goes out.

A `PostSchedule` (topic posts.schedule, from ingest, which records it in its audit log first) replaces the post's
publish time (`FootageMetadata.publish_at[channel]`) with `publish_at` (None: as soon as it can), or `cancelled` it:
the publisher never posts it unless a later change reschedules it. The newest change per (footage, channel) wins
(by `occurred_at`, then `event_id`), whether it arrives before or after the cuts. The publisher holds the post
until the new time; YouTube (which schedules natively) gets the new time as `publishAt` if the video is not yet
uploaded. A post that already went out is not changed by it (edit or unpublish it instead: contracts.actions).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, StringConstraints, model_validator

from loa_core.contracts.base import DEFAULT_WARD, ChannelName, Event, FootageId, WardId


class PostSchedule(Event):
    """Move (`publish_at`) or cancel (`cancelled`) one footage's post to one channel. Key: footage_id.
    `by`: the account that asked (or token:<id> for a token without one; never a token)."""

    footage_id: FootageId
    ward: WardId = DEFAULT_WARD
    channel: ChannelName
    by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    publish_at: AwareDatetime | None = None
    cancelled: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> PostSchedule:
        if self.cancelled and self.publish_at is not None:
            raise ValueError("a cancelled post has no publish time")
        return self
