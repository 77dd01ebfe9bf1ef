"""One small interface for every platform; each adapter lives in its own module.

An adapter gets a `PublishRequest` (what to post, already rendered for its platform) and an `UploadSession`
(its slot in the ledger) and returns a `PostResult`. It saves whatever it needs to resume an upload in the
session *before* sending bytes to it, and on a second call with saved data it resumes instead of starting over.
Where the platform's API allows it, an adapter also changes a post that went out: `update_text` (`EditsText`) and
`unpublish` (`Unpublishes`, how: delete or private), each idempotent (the same text set again is the same post; a
post already deleted counts as deleted), so an action repeated after a crash is harmless.
It says what went wrong with one of three exceptions: `RetryableError` (try again soon), `QuotaExceeded`
(try again at a given time; not a failure) or `PermanentError` (the platform's own message; a person must act).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, is_dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import TypeAdapter, ValidationError

from loa_core.channels import Channel
from loa_core.contracts import FootageMetadata, Image, Rendition
from loa_core.posttext import PostText
from loa_core.streaming import PermanentError, RetryableError

__all__ = [
    "Adapter",
    "EditsText",
    "FeedbackItem",
    "ItemGone",
    "LivePost",
    "Moderates",
    "PermanentError",
    "PostResult",
    "PostText",
    "PublishRequest",
    "QuotaExceeded",
    "Replies",
    "RetryableError",
    "Unpublishes",
    "UploadSession",
]


class QuotaExceeded(RetryableError):
    """The platform's quota is spent until `retry_at`: the post is held until then, not failed."""

    def __init__(self, message: str, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


@dataclass(frozen=True)
class PublishRequest:
    footage_id: str
    channel: Channel
    rendition: Rendition
    metadata: FootageMetadata
    text: PostText
    # When the post should go public. Adapters that can schedule on the platform (YouTube publishAt) use it;
    # the others are only called once it has passed.
    publish_at: datetime | None = None
    # The footage's stills and the candidate frame a person picked (None: transcode's default pick).
    images: tuple[Image, ...] = ()
    frame: int | None = None

    def picked(self, kind: str) -> Image | None:
        """The still of `kind` (thumbnail, cover) at the frame a person picked, if one was and it was made."""
        if self.frame is None:
            return None
        return next((i for i in self.images if i.kind == f"{kind}-{self.frame}"), None)

    def still(self, kind: str) -> Image | None:
        """The still of `kind` to give the platform: the picked frame's, else transcode's default pick (a sharp,
        non-black frame: better than a platform's first or middle frame); None when neither was made."""
        if self.frame is not None:
            return self.picked(kind)
        return next((i for i in self.images if i.kind == kind), None)


@dataclass(frozen=True)
class PostResult:
    post_id: str
    url: str


S = TypeVar("S")


@dataclass
class UploadSession:
    """The adapter's durable resume data for one post, kept in the ledger as JSON.

    Each adapter keeps a frozen dataclass of its own (`YouTubeUpload`, `TikTokUpload`, …): `load` reads it back,
    `save` writes it to the ledger before returning. Stored data that is not the adapter's shape is never dropped
    silently (dropping it could post twice): it is a PermanentError, and `loa retry` starts afresh.
    """

    data: dict[str, Any] | None
    _save: Callable[[dict[str, Any]], None] = field(repr=False)
    _clear: Callable[[], None] = field(repr=False)

    def load(self, kind: type[S]) -> S | None:
        if self.data is None:
            return None
        try:
            return TypeAdapter(kind).validate_python(self.data)
        except ValidationError as exc:
            raise PermanentError(
                f"the stored upload session is not a {kind.__name__} ({exc.error_count()} problems); check the "
                "platform for a post before `loa retry`, which starts a new upload"
            ) from exc

    def save(self, value: object) -> None:
        if not is_dataclass(value) or isinstance(value, type):
            raise TypeError(f"an upload session is a frozen dataclass, not {type(value).__name__}")
        data = TypeAdapter(type(value)).dump_python(value, mode="json")
        self._save(data)
        self.data = data

    def clear(self) -> None:
        self._clear()
        self.data = None


class Adapter(Protocol):
    platform: str

    async def publish(self, request: PublishRequest, session: UploadSession) -> PostResult: ...


@dataclass(frozen=True)
class LivePost:
    """A post that went out, as an action on it needs it: the channel, the platform's id for it, and the footage's
    metadata it was made from (YouTube's videos.update replaces every field of a part: the tags are sent again)."""

    channel: Channel
    post_id: str
    metadata: FootageMetadata


@runtime_checkable
class Reschedules(Protocol):
    """A platform that schedules a post itself (YouTube's publishAt) and lets Loa move or cancel that time after the
    upload, before the platform shows it."""

    async def reschedule(self, post: LivePost, publish_at: datetime | None, cancelled: bool) -> None: ...


@runtime_checkable
class EditsText(Protocol):
    async def update_text(self, post: LivePost, text: PostText) -> None: ...


@runtime_checkable
class Unpublishes(Protocol):
    async def unpublish(self, post: LivePost, how: str) -> None: ...


# --- citizens' comments and messages (feedback.actions): replies, hiding


class ItemGone(PermanentError):
    """The comment or message is no longer on the platform (its author or a moderator deleted it): nothing to answer
    or hide, never worth a retry."""


@dataclass(frozen=True)
class FeedbackItem:
    """A comment or message on the platform, as an act on it needs it: the channel, the platform's id for it, the
    top comment of its thread (None for a top comment or a message) and its author's platform id."""

    channel: Channel
    external_id: str
    thread_id: str | None = None
    author_id: str | None = None


@runtime_checkable
class Replies(Protocol):
    """A platform whose API answers a comment or message. `reply` posts `text` once and returns the reply's platform
    id; `find_reply` reads the thread back for a reply by the channel with exactly `text`, written at or after
    `since` and not one of `known` (replies other actions made): how a reply whose answer was lost (a crash, a dropped
    connection) is found instead of being posted again."""

    async def reply(self, item: FeedbackItem, text: str) -> str: ...

    async def find_reply(self, item: FeedbackItem, text: str, since: datetime, known: frozenset[str]) -> str | None: ...


@runtime_checkable
class Moderates(Protocol):
    """A platform whose API hides a comment from the public and shows it again; repeating either is harmless."""

    async def set_hidden(self, item: FeedbackItem, hidden: bool) -> None: ...
