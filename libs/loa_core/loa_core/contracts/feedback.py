"""The citizens' side: comments and messages a ward's channels receive, what its people do about each, and replies.

Three events, one inbox:

- `FeedbackReceived` (topic feedback.received): one comment under a post, or one message to the ward's account,
  as the platform gave it. Metrics collects them (it polls platforms for figures already, and takes the platforms'
  webhooks) and projects them into each ward's inbox. Its `item_id` is derived from the channel and the platform's
  own id (`feedback_item_id`), so the same comment seen twice (a webhook and a poll, a poll redone after a restart)
  is one item: collection is at-least-once, the inbox is exactly-once by id.
- `FeedbackAction` (topic feedback.actions): a person's act on an item, from ingest, which records it in its audit
  log first (the outbox, like posts.actions): assign it, tag its topic, mark it handled (or reopen it), hide it on
  the platform (or show it again), reply to it. Metrics applies every kind to the inbox; the publisher does the
  platform's part of `reply`, `hide` and `unhide`, once per action id (its ledger), as it posts videos.
- `FeedbackDone` (topic feedback.done): what the publisher's platform call did for one action: `replied` (with
  the reply's platform id and text, shown in the thread), `hidden`, `unhidden`, or `failed` with the reason.

What each platform's API allows (`FEEDBACK_ABILITIES`) is a convention both sides apply: ingest offers only what
the platform can do, and says where a person does the rest by hand.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import StringConstraints, model_validator

from loa_core.contracts.base import DEFAULT_WARD, ChannelName, Event, FootageId, Id, WardId

FeedbackKind = Literal["comment", "message"]
ActionKind = Literal["assign", "tag", "handled", "reopen", "hide", "unhide", "reply"]
DoneState = Literal["replied", "hidden", "unhidden", "failed"]
# What a platform's API lets Loa do with feedback: collect comments, collect messages, reply, hide.
Ability = Literal["comments", "messages", "reply", "hide"]

# The longest text Loa keeps of one comment or message, in characters: platforms cap theirs lower (YouTube 10,000,
# Facebook 8,000, Zalo 2,000), so a longer one is a broken or hostile input; it is cut (and marked), not refused,
# so the item still reaches a person.
MAX_TEXT: Final = 10_000
MAX_REPLY: Final = 2_000
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(max_length=200)]
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://")]
Who = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Topic = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
ReplyText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_REPLY)]

# What each platform's API offers (checked against the official docs; see docs/decisions for the sources):
#   youtube: commentThreads.list (comments), comments.insert with parentId (reply),
#            comments.setModerationStatus heldForReview/published (hide, unhide);
#   facebook: GET /{video-id}/comments and the Page webhook `feed` field (comments),
#             POST /{comment-id}/comments (reply), POST /{comment-id} is_hidden (hide, unhide);
#   zalo: the OA webhook's user_send_* events (messages), POST /v3.0/oa/message/cs (reply, within the
#         consultation window); no API for article comments, no hiding;
#   tiktok: comments only through the API for Business (business accounts); the Content Posting and Display APIs
#           Loa uses have none, so a TikTok channel collects nothing and its page says so;
#   local: the embedded target, which has no audience.
FEEDBACK_ABILITIES: Final[dict[str, frozenset[Ability]]] = {
    "youtube": frozenset({"comments", "reply", "hide"}),
    "facebook": frozenset({"comments", "reply", "hide"}),
    "zalo": frozenset({"messages", "reply"}),
    "tiktok": frozenset(),
    "local": frozenset(),
}


def can(platform: str, ability: Ability) -> bool:
    return ability in FEEDBACK_ABILITIES.get(platform, frozenset())


_ITEM_NAMESPACE: Final = uuid.UUID("6f1c2a57-1c1e-4c5e-9a59-6c6f612d6662")


def feedback_item_id(channel: str, external_id: str) -> str:
    """The item's id: the same comment on the same channel is always the same item, however often it is seen."""
    return uuid.uuid5(_ITEM_NAMESPACE, f"{channel}\x1f{external_id}").hex


def clean_text(raw: str, limit: int = MAX_TEXT) -> tuple[str, bool]:
    """A platform's text as Loa keeps it: NFC (Vietnamese composed one way, so search and rules match), control
    characters other than newline and tab removed, cut to `limit`. Returns (text, whether it was cut)."""
    text = unicodedata.normalize("NFC", raw)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    if len(text) > limit:
        return text[:limit], True
    return text, False


class FeedbackReceived(Event):
    """One comment under a ward's post, or one message to its account. Key: channel. `item_id` =
    feedback_item_id(channel, external_id). `thread_id`: the top comment's platform id, for a reply in a thread
    (None for a top comment or a message). `post_id`/`footage_id`: the post it is under, when Loa made that post.
    `by_channel`: written by the channel itself (a reply the ward made outside Loa), shown in the thread but never
    an open item. `text` went through `clean_text`; `truncated` says it was cut."""

    item_id: Id
    ward: WardId = DEFAULT_WARD
    channel: ChannelName
    platform: str
    kind: FeedbackKind
    external_id: ExternalId
    thread_id: ExternalId | None = None
    post_id: ExternalId | None = None
    footage_id: FootageId | None = None
    author_name: Name = ""
    author_id: ExternalId | None = None
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)]
    truncated: bool = False
    url: Url | None = None
    written_at: datetime
    by_channel: bool = False


class FeedbackAction(Event):
    """A person's act on one inbox item. Key: item_id. `event_id` is the action id (the publisher acts on a reply
    or a hide once per id). `external_id`/`thread_id` name the item on the platform, so the publisher needs no
    inbox of its own. `assign`: `assignee` (an account id, None to unassign); `tag`: `topic`; `reply`: `text`.
    `by`: the account that acted (never a token). `author_id`: the item's author on the platform (the item's own
    `author_id`), whom a reply to a message is sent to (Zalo's recipient user_id). Every action is also in ingest's
    audit log."""

    item_id: Id
    ward: WardId = DEFAULT_WARD
    channel: ChannelName
    external_id: ExternalId
    thread_id: ExternalId | None = None
    author_id: ExternalId | None = None
    action: ActionKind
    by: Who
    assignee: Who | None = None
    topic: Topic | None = None
    text: ReplyText | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackAction:
        if (self.action == "reply") != (self.text is not None):
            raise ValueError("a reply carries its text, and only a reply does")
        if self.action != "assign" and self.assignee is not None:
            raise ValueError("only an assign names an assignee")
        if (self.action == "tag") != (self.topic is not None):
            raise ValueError("a tag names its topic, and only a tag does")
        return self


class FeedbackDone(Event):
    """What the publisher's platform call did for one action. Key: item_id. `action_id`: the FeedbackAction's
    event_id. `replied`: `reply_id` (the reply's platform id) and `text`; `failed`: `reason` (the platform's words,
    or why it was not tried, e.g. the comment was deleted). The same action announced again repeats the event id."""

    item_id: Id
    ward: WardId = DEFAULT_WARD
    channel: ChannelName
    action_id: Id
    state: DoneState
    reply_id: ExternalId | None = None
    text: ReplyText | None = None
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
