"""Fixing what went out: a person's request to change or take down a published post, and what came of it.

A `PostAction` (topic posts.actions, from ingest, which records it in its audit log first) asks the publisher to
change the title and description of one footage's published post on one channel (`edit`) or to take it down
(`unpublish`: `delete` it, or make it `private` where the platform has both). Its `event_id` is the action's id, the
idempotency key: the publisher's ledger acts on each id once, so a redelivered action never acts twice, and an
action cut short by a crash is done again (each platform call is idempotent: the same text set again, a deleted
video already gone).

The publisher answers each action on each post with a `PostChanged` (topic posts.changed): the post `edited`
(with its new text), `unpublished`, or `failed` (the platform's words, or why it was not tried). Metrics shows the
post as it now is.

Which platforms offer what (`PLATFORM_ACTIONS`) is a convention both sides apply: ingest refuses an action a
platform has no API for and links to where a person does it by hand (`MANUAL_ACTION_URLS`).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import StringConstraints, model_validator

from loa_core.contracts.base import DEFAULT_WARD, ChannelName, Event, FootageId, Id, ProfileName, WardId
from loa_core.contracts.events import Title

ActionKind = Literal["edit", "unpublish"]
# How a post is taken down: deleted for good, or hidden (YouTube privacyStatus=private).
Unpublish = Literal["delete", "private"]
Description = Annotated[str, StringConstraints(max_length=5000)]
Who = Annotated[str, StringConstraints(min_length=1, max_length=200)]

# What each platform's API lets Loa do to a published post (platform → the action kinds, and ways to unpublish).
#   youtube: videos.update (snippet) and videos.delete, or videos.update status.privacyStatus=private;
#   facebook: POST /{video-id} (name, description) and DELETE /{video-id};
#   zalo: POST /v2.0/article/remove (no article edit endpoint was found);
#   tiktok: none (the Content Posting API has no edit or delete); local: the embedded target.
PLATFORM_ACTIONS: Final[dict[str, dict[ActionKind, tuple[Unpublish, ...]]]] = {
    "youtube": {"edit": (), "unpublish": ("delete", "private")},
    "facebook": {"edit": (), "unpublish": ("delete",)},
    "zalo": {"unpublish": ("delete",)},
    "tiktok": {},
    "local": {},
}
# Where a person changes or removes a post by hand on a platform whose API cannot.
MANUAL_ACTION_URLS: Final[dict[str, str]] = {
    "tiktok": "https://www.tiktok.com/tiktokstudio/content",
}


def allows(platform: str, action: ActionKind, unpublish: Unpublish | None = None) -> bool:
    """Whether Loa can do `action` (and this way of unpublishing) on `platform` through its API."""
    kinds = PLATFORM_ACTIONS.get(platform, {})
    if action not in kinds:
        return False
    return action == "edit" or unpublish is None or unpublish in kinds[action]


class PostAction(Event):
    """Change (`edit`: `title`, `description`) or take down (`unpublish`: `how`) one footage's published post to one
    channel. Key: footage_id. `event_id` is the action id (the publisher acts on it once). `by`: the account that
    asked (or token:<id> for a token without one; never a token). Every action is also in ingest's audit log."""

    footage_id: FootageId
    ward: WardId = DEFAULT_WARD
    channel: ChannelName
    action: ActionKind
    by: Who
    title: Title | None = None
    description: Description | None = None
    how: Unpublish | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PostAction:
        if self.action == "edit" and (self.title is None or self.how is not None):
            raise ValueError("an edit names the new title (and description), nothing else")
        if self.action == "unpublish" and (self.how is None or self.title is not None or self.description is not None):
            raise ValueError("an unpublish says how (delete or private), nothing else")
        return self


ChangeState = Literal["edited", "unpublished", "failed"]


class PostChanged(Event):
    """What one action did to one post (one cut on one channel). Key: footage_id. `action_id`: the PostAction's
    event_id. `state`: edited (with the text now on the platform), unpublished (`how`), or failed (`reason`: the
    platform's words, or why it was not tried). The same action announced again repeats the same event id."""

    footage_id: FootageId
    ward: WardId = DEFAULT_WARD
    channel: ChannelName
    platform: str
    profile: ProfileName
    post_id: str | None = None
    action_id: Id
    state: ChangeState
    title: Title | None = None
    description: Description | None = None
    how: Unpublish | None = None
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
