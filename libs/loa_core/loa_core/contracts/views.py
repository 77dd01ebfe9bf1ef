"""The footage status view: what metrics serves (`GET /footage`, `GET /footage/{id}`), ingest relays to the page
and `loa status` reads. A response contract: versioned and read by the evolution rule like an event (readers
ignore unknown fields and check `schema_version` with `from_bytes`), so metrics can add a field without breaking
an older CLI, and a field renamed on one side fails the other's tests instead of a user's page.

Times are UTC. The nested models are plain contracts: a breaking change to any of them raises FootageView's
version (and FootageList's, which carries it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from loa_core.contracts.base import DEFAULT_WARD, ChannelName, Contract, FootageId, ProfileName, Versioned, WardId
from loa_core.contracts.status import FootageStatus


class PostView(Contract):
    """One post of one cut on one channel, with the platform's latest figures (None until first polled)."""

    channel: ChannelName
    profile: ProfileName
    platform: str
    post_id: str | None
    url: str | None
    published_at: datetime | None
    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    stats_at: datetime | None = None  # when the platform last answered for this post
    # published, or after a person's action (posts.changed): edited, unpublished (taken down: no longer polled).
    state: Literal["published", "edited", "unpublished"] = "published"


class FailureView(Contract):
    """A failure recorded for the footage. `resolved`: a later success superseded it (a post `loa retry` published,
    a transcode redone); it stays listed so people see what happened, but it no longer makes the footage fail."""

    stage: str  # "publish", or the service that dead-lettered a record ("transcode", "publisher", …)
    channel: ChannelName | None
    reason: str
    at: datetime
    resolved: bool


class RenditionView(Contract):
    profile: ProfileName
    key: str
    width: int
    height: int
    duration_s: float
    size_bytes: int | None = None  # absent from renditions recorded by metrics before it kept sizes
    sha256: str | None = None  # what an approval names (contracts.decisions); absent from cuts made before
    # The seal: the cut's fingerprint is kept, so anyone can check a copy of it (the public page /verify, `loa
    # verify`); False for cuts made before fingerprints.
    fingerprinted: bool = False


class ApprovalView(Contract):
    """Where one expected post to a channel that requires approval stands with the approvers, until it is out:
    `awaiting` (no decision on exactly its cut and text), `approved` (it goes out at its time), `rejected` (with
    the approver's reason). `by`/`decided_at`: the newest decision on the footage's post to the channel, if any."""

    channel: ChannelName
    profile: ProfileName
    state: Literal["awaiting", "approved", "rejected"]
    reason: str | None = None
    by: str | None = None
    decided_at: datetime | None = None


class UploadedStage(Contract):
    at: datetime | None


class TranscodedStage(Contract):
    at: datetime | None
    renditions: tuple[RenditionView, ...] = ()


class PublishedStage(Contract):
    posts: tuple[PostView, ...] = ()
    expected: int = Field(ge=0)  # how many posts the footage's channels and cuts call for
    # The expected posts not out yet whose channels require approval, and where each stands.
    approvals: tuple[ApprovalView, ...] = ()


class Stages(Contract):
    uploaded: UploadedStage
    transcoded: TranscodedStage
    published: PublishedStage


class FootageView(Versioned):
    """Where one footage stands. Fields are None while only a later stage's events have been seen."""

    footage_id: FootageId
    # The ward the footage belongs to (what a district admin's view shows; a ward's own people see only theirs).
    ward: WardId = DEFAULT_WARD
    title: str | None
    series: str | None
    source: Literal["upload", "livestream"] | None
    channels: tuple[ChannelName, ...] = ()
    status: FootageStatus
    stages: Stages
    errors: tuple[FailureView, ...] = ()
    # The fingerprint of the footage's own text (`PostText.of(metadata).sha256()`, from its renditions event): what
    # an approval that keeps the text names. None until transcoded.
    text_sha256: str | None = None


class FootageList(Versioned):
    """A page of footage views, newest first."""

    items: tuple[FootageView, ...]
    limit: int
    offset: int


# -- the citizens' inbox (metrics' GET /inbox and /inbox/{item_id}, relayed by ingest to its page) ---------------------


class ReplyView(Contract):
    """One reply in an item's thread: the ward's, sent from Loa (`action_id`: the reply's FeedbackAction, `by` its
    account; `pending` until the publisher says it is `posted` or `failed`, with the reason), or written on the
    platform outside Loa (`action_id` None, `posted`, `author_name` as the platform shows it)."""

    action_id: str | None = None
    text: str
    by: str | None = None
    author_name: str = ""
    at: datetime
    state: Literal["pending", "posted", "failed"]
    reason: str | None = None
    reply_id: str | None = None  # the reply's own id on the platform, once posted


class InboxItem(Versioned):
    """One comment or message in a ward's inbox and what the ward did about it.

    `topic`: a person's tag (`topic_by` "person"), else what the ward's rules found in the text (`topic_by` "rule"),
    else None. `due_at`: when the ward's response-time target runs out (`written_at` + target); `overdue`: it ran
    out and the item is neither handled nor answered. `hidden`: the newest hide/unhide asked hid it (`hide_state`:
    where that stands on the platform, `hide_reason`: why it failed)."""

    item_id: str
    ward: WardId = DEFAULT_WARD
    channel: ChannelName
    platform: str
    kind: Literal["comment", "message"]
    external_id: str
    thread_id: str | None = None
    post_id: str | None = None
    footage_id: str | None = None
    post_title: str | None = None  # the title of the footage the comment is under, when Loa posted it
    author_name: str = ""
    author_id: str | None = None  # the author's platform id: whom a reply to a message goes to (Zalo's user_id)
    text: str
    truncated: bool = False
    url: str | None = None
    written_at: datetime
    topic: str | None = None
    topic_by: Literal["rule", "person"] | None = None
    assignee: str | None = None  # an account id
    handled: bool = False
    handled_at: datetime | None = None
    hidden: bool = False
    hide_state: Literal["pending", "done", "failed"] | None = None
    hide_reason: str | None = None
    first_reply_at: datetime | None = None
    due_at: datetime | None = None
    overdue: bool = False
    replies: tuple[ReplyView, ...] = ()


class InboxList(Versioned):
    """A page of a ward's inbox, newest first, with the ward's topics (what a tag may name) and its response-time
    target in hours, and how many of its items are open and overdue (of the whole inbox, not the page)."""

    items: tuple[InboxItem, ...]
    limit: int
    offset: int
    topics: tuple[str, ...] = ()
    departments: dict[str, str] = Field(
        default_factory=dict
    )  # topic -> the department it goes to, as the ward names it
    target_hours: int = 48
    open: int = 0
    overdue: int = 0
