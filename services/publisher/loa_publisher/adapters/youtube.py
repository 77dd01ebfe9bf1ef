"""YouTube Data API v3: the resumable upload protocol spoken directly over httpx.

Not google-api-python-client: it stalls after a 503 (it re-sends a consumed stream) and does not retry a dropped
connection (see PLATFORMS.md). Here every chunk is read from storage at the offset the server acknowledged, so a
retry always sends the right bytes, and the session URI lives in the ledger so a restarted publisher resumes it.

After the upload, the thumbnail (`PublishRequest.still("thumbnail")`: the frame a person picked, else transcode's
default pick) is set with thumbnails.set
(POST {base}/upload/youtube/v3/thumbnails/set?videoId=, the JPEG as the body, 50 quota units [docs:
developers.google.com/youtube/v3/docs/thumbnails/set]). The video is out by then: a refusal (a channel not verified
for custom thumbnails, the quota spent) is logged with YouTube's words and the post stands with YouTube's own.

Citizens' comments [docs: developers.google.com/youtube/v3/docs/comments]: a reply is comments.insert (part=snippet,
snippet.parentId = the thread's top comment: YouTube threads are one level deep, so a reply to a reply goes under
the top comment too; snippet.textOriginal), 50 units; a reply whose answer was lost is looked for with comments.list
(parentId, 1 unit a page) among the channel's own (channels.list mine=true, 1 unit, once per channel). Hiding is
comments.setModerationStatus (50 units) with heldForReview, and showing again is published: not rejected, which the
docs say cannot be set back to published. A comment that is gone answers 404 commentNotFound (an ItemGone). Every
call's units are counted (loa_publisher_youtube_quota_units_total).

Channel options: base_url, token_url, privacy (private|unlisted|public; default private), category_id.
Secrets: client_id, client_secret, refresh_token.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from loa_core.channels import Channel
from loa_core.contracts import utc_now
from loa_core.storage import Storage
from loa_core.streaming import RetryableError
from loa_publisher import metrics
from loa_publisher.adapters import (
    FeedbackItem,
    ItemGone,
    LivePost,
    PermanentError,
    PostResult,
    PostText,
    PublishRequest,
    QuotaExceeded,
    UploadSession,
)
from loa_publisher.adapters.http import (
    RangeReader,
    RetryPolicy,
    Transient,
    platform_message,
    stored_size,
    transient_for,
    with_backoff,
)
from loa_publisher.auth import RefresherPerChannel, RefreshTokenStore, Secrets, TokenSource, authorized_request

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://www.googleapis.com"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 — a URL, not a password
CHUNK_ALIGNMENT = 256 * 1024  # every chunk but the last is a multiple of 256 KiB [docs]
# What one upload holds in memory: the piece on the wire and the one read ahead.
PIECE = 2 * 1024 * 1024
QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded", "uploadLimitExceeded"}
# 403s that mean "slow down", not "come back tomorrow".
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
# Daily quotas reset at midnight Pacific time.
_PACIFIC = ZoneInfo("America/Los_Angeles")
_RANGE = re.compile(r"^bytes=0-(\d+)$")
# The most pages of replies read back looking for a reply whose answer was lost: a thread that pages on past this
# (a platform paging for ever) fails the reply rather than risk posting it twice.
MAX_PAGES = 50


def next_quota_reset(now: datetime) -> datetime:
    local = now.astimezone(_PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0, 5), tzinfo=_PACIFIC)
    return midnight.astimezone(UTC)


@dataclass(frozen=True)
class YouTubeUpload:
    """A resumable upload session: its URI (from `Location`) and the size it was opened for."""

    uri: str
    size: int


@dataclass(frozen=True)
class _Status:
    offset: int = 0
    resource: dict[str, Any] | None = None
    gone: bool = False


class _SessionGone(Exception):
    """404 on the session URI: it expired; start a new session."""


class YouTubeAdapter:
    platform = "youtube"

    def __init__(
        self,
        storage: Storage,
        http: httpx.AsyncClient,
        secrets: Secrets,
        token_store: RefreshTokenStore,
        *,
        chunk_size: int = 32 * 1024 * 1024,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if chunk_size <= 0 or chunk_size % CHUNK_ALIGNMENT:
            raise ValueError(f"YouTube chunk size must be a positive multiple of 256 KiB, got {chunk_size}")
        self._storage = storage
        self._http = http
        self._chunk = chunk_size
        self._policy = policy or RetryPolicy()
        self._clock = clock
        self._refreshers = RefresherPerChannel(http, secrets, token_store, self._policy)
        self._channel_ids: dict[str, str] = {}  # channel name -> its YouTube channel id (channels.list mine=true)

    def tokens(self, channel: Channel) -> TokenSource:
        token_url = str(channel.options.get("token_url", DEFAULT_TOKEN_URL))
        return self._refreshers.get(channel, token_url=token_url, form=("client_id", "client_secret"))

    async def publish(self, request: PublishRequest, session: UploadSession) -> PostResult:
        channel = request.channel
        base = str(channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        tokens = self.tokens(channel)
        size = await stored_size(self._storage, request.rendition.key)
        reader = RangeReader(self._storage, request.rendition.key, size)
        try:
            resource: dict[str, Any] | None = None
            for _ in range(3):  # a session can expire under us; three fresh sessions in a row is not bad luck
                saved = session.load(YouTubeUpload)
                if saved is not None and saved.size == size:
                    uri = saved.uri
                    status = await self._status(uri, size, tokens)
                    if status.resource is not None:
                        resource = status.resource
                        break
                    if status.gone:
                        session.clear()
                        continue
                    offset = status.offset
                else:
                    uri = await with_backoff(
                        self._policy, "start upload", lambda: self._initiate(base, request, size, tokens)
                    )
                    # Durable before the first byte: a crash from here on resumes this very session.
                    session.save(YouTubeUpload(uri=uri, size=size))
                    offset = 0
                try:
                    resource = await self._upload(uri, reader, offset, size, tokens)
                    break
                except _SessionGone:
                    session.clear()
            if resource is None:
                raise PermanentError("the upload session expired three times in a row")
        finally:
            await reader.aclose()
        video_id = resource.get("id")
        if not isinstance(video_id, str) or not video_id:
            raise PermanentError(f"upload finished without a video id: {str(resource)[:200]}")
        thumbnail = request.still("thumbnail")
        if thumbnail is not None:
            await self._set_thumbnail(base, tokens, video_id, thumbnail.key)
        return PostResult(post_id=video_id, url=f"https://www.youtube.com/watch?v={video_id}")

    # --- citizens' comments

    async def reply(self, item: FeedbackItem, text: str) -> str:
        """comments.insert: one attempt (the caller's backoff looks the reply up before trying again)."""
        base, tokens = _base(item.channel), self.tokens(item.channel)
        body = {"snippet": {"parentId": item.thread_id or item.external_id, "textOriginal": text}}
        response = await self._send(
            tokens, "POST", f"{base}/youtube/v3/comments", params={"part": "snippet"}, json=body
        )
        if response.status_code != 200:
            self._raise_for_comment(response, "reply")
        _spent("comments.insert", 50)
        reply_id = response.json().get("id")
        if not isinstance(reply_id, str) or not reply_id:
            raise PermanentError(f"reply answered without a comment id: {response.text[:200]}")
        return reply_id

    async def find_reply(self, item: FeedbackItem, text: str, since: datetime, known: frozenset[str]) -> str | None:
        """The channel's own reply with exactly `text` under the thread, published since `since` and not in `known`:
        comments.list by parentId, page by page (at most MAX_PAGES)."""
        base, tokens = _base(item.channel), self.tokens(item.channel)
        own = await self._own_channel_id(item.channel, base, tokens)
        params = {"part": "snippet", "parentId": item.thread_id or item.external_id, "maxResults": "100"}
        params["textFormat"] = "plainText"
        for _ in range(MAX_PAGES):
            response = await self._send(tokens, "GET", f"{base}/youtube/v3/comments", params=params)
            if response.status_code != 200:
                self._raise_for_comment(response, "list replies")
            _spent("comments.list", 1)
            page = response.json()
            for comment in page.get("items", []):
                snippet = comment.get("snippet", {})
                published = _parse_time(snippet.get("publishedAt"))
                if (
                    comment.get("id") not in known
                    and snippet.get("authorChannelId", {}).get("value") == own
                    and snippet.get("textOriginal") == text
                    and published is not None
                    and published >= since
                ):
                    return str(comment["id"])
            token = page.get("nextPageToken")
            if not token:
                return None
            params["pageToken"] = str(token)
        raise PermanentError(f"list replies: more than {MAX_PAGES} pages; not replying again without knowing")

    async def set_hidden(self, item: FeedbackItem, hidden: bool) -> None:
        """comments.setModerationStatus: heldForReview hides, published shows again (idempotent: one attempt)."""
        base, tokens = _base(item.channel), self.tokens(item.channel)
        status = "heldForReview" if hidden else "published"
        response = await self._send(
            tokens,
            "POST",
            f"{base}/youtube/v3/comments/setModerationStatus",
            params={"id": item.external_id, "moderationStatus": status},
        )
        if response.status_code != 204:
            self._raise_for_comment(response, "hide" if hidden else "show")
        _spent("comments.setModerationStatus", 50)

    async def _own_channel_id(self, channel: Channel, base: str, tokens: TokenSource) -> str:
        """The channel's YouTube id (channels.list mine=true), asked once per channel."""
        known = self._channel_ids.get(channel.name)
        if known is not None:
            return known
        response = await self._send(tokens, "GET", f"{base}/youtube/v3/channels", params={"part": "id", "mine": "true"})
        if response.status_code != 200:
            self._raise_for(response, "own channel")
        _spent("channels.list", 1)
        items = response.json().get("items") or []
        if not items or not items[0].get("id"):
            raise PermanentError("the signed-in account has no YouTube channel")
        self._channel_ids[channel.name] = str(items[0]["id"])
        return self._channel_ids[channel.name]

    def _raise_for_comment(self, response: httpx.Response, what: str) -> None:
        if response.status_code == 404:
            raise ItemGone(f"{what}: {platform_message(response)}")
        self._raise_for(response, what)

    async def _set_thumbnail(self, base: str, tokens: TokenSource, video_id: str, key: str) -> None:
        """thumbnails.set with the picked still; refused or failing through the backoff: logged, not raised (the
        video went out: raising would upload it again)."""
        data = await asyncio.to_thread(_read_all, self._storage, key)

        async def attempt() -> None:
            response = await self._send(
                tokens,
                "POST",
                f"{base}/upload/youtube/v3/thumbnails/set",
                params={"videoId": video_id},
                body=data,
                headers={"Content-Type": "image/jpeg"},
            )
            if response.status_code != 200:
                self._raise_for(response, "set thumbnail")
            _spent("thumbnails.set", 50)

        try:
            await with_backoff(self._policy, "set thumbnail", attempt)
        except (RetryableError, PermanentError) as exc:
            log.warning("video %s is out with YouTube's own thumbnail; Loa's was refused: %s", video_id, exc)

    # --- after publishing: videos.update and videos.delete [docs], 50 quota units each

    async def update_text(self, post: LivePost, text: PostText) -> None:
        """videos.update, part=snippet: it replaces every mutable snippet field, so the tags and the categoryId
        (required) go again with the new title and description."""
        snippet = {
            "title": text.title,
            "description": text.description,
            "tags": list(post.metadata.tags),
            "categoryId": str(post.channel.options.get("category_id", "25")),
        }
        await self._videos(
            post, "PUT", "change title", params={"part": "snippet"}, json={"id": post.post_id, "snippet": snippet}
        )

    async def unpublish(self, post: LivePost, how: str) -> None:
        """`delete`: videos.delete (a video already gone counts as deleted); `private`: videos.update, part=status,
        privacyStatus private (the other status fields are sent as at upload: the part is replaced whole)."""
        if how == "delete":
            await self._videos(post, "DELETE", "delete video", params={"id": post.post_id}, gone_ok=True)
            return
        status = {"privacyStatus": "private", "selfDeclaredMadeForKids": False}
        await self._videos(
            post, "PUT", "make private", params={"part": "status"}, json={"id": post.post_id, "status": status}
        )

    async def reschedule(self, post: LivePost, publish_at: datetime | None, cancelled: bool) -> None:
        """A video uploaded scheduled (private with publishAt) that YouTube has not shown yet: videos.update,
        part=status, with the new publishAt (private until then); cancelled: private without publishAt (never
        shown unless rescheduled); moved to now: the channel's privacy, without publishAt."""
        status: dict[str, Any] = {"privacyStatus": "private", "selfDeclaredMadeForKids": False}
        if not cancelled and publish_at is not None and publish_at > self._clock():
            status["publishAt"] = publish_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif not cancelled:
            status["privacyStatus"] = str(post.channel.options.get("privacy", "private"))
        await self._videos(
            post, "PUT", "change publishAt", params={"part": "status"}, json={"id": post.post_id, "status": status}
        )

    async def _videos(self, post: LivePost, method: str, what: str, *, gone_ok: bool = False, **kwargs: Any) -> None:
        base = str(post.channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        tokens = self.tokens(post.channel)

        async def attempt() -> None:
            response = await self._send(tokens, method, f"{base}/youtube/v3/videos", **kwargs)
            if response.status_code in (200, 204):
                return
            if response.status_code == 404 and gone_ok:
                return
            self._raise_for(response, what)

        await with_backoff(self._policy, what, attempt)

    # --- protocol steps

    async def _send(self, tokens: TokenSource, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; a 401 refreshes the token once and repeats it [docs]."""
        return await authorized_request(self._http, tokens, method, url, **kwargs)

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        transient = transient_for(response)
        if transient:
            raise transient
        reasons = _error_reasons(response) if response.status_code == 403 else set()
        if reasons & RATE_REASONS:
            raise Transient(platform_message(response))
        if reasons & QUOTA_REASONS:
            raise QuotaExceeded(f"{platform_message(response)}", next_quota_reset(self._clock()))
        raise PermanentError(f"{what}: {platform_message(response)}")

    async def _initiate(self, base: str, request: PublishRequest, size: int, tokens: TokenSource) -> str:
        options = request.channel.options
        status: dict[str, Any] = {
            "privacyStatus": str(options.get("privacy", "private")),
            "selfDeclaredMadeForKids": False,
        }
        if request.publish_at is not None and request.publish_at > self._clock():
            # publishAt needs a private video; YouTube makes it public at that time [docs].
            status["privacyStatus"] = "private"
            status["publishAt"] = request.publish_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "snippet": {
                "title": request.text.title,
                "description": request.text.description,
                "tags": list(request.metadata.tags),
                "categoryId": str(options.get("category_id", "25")),  # 25 = News & Politics
            },
            "status": status,
        }
        response = await self._send(
            tokens,
            "POST",
            f"{base}/upload/youtube/v3/videos",
            params={"uploadType": "resumable", "part": "snippet,status"},
            json=body,
            headers={"X-Upload-Content-Length": str(size), "X-Upload-Content-Type": "video/mp4"},
        )
        if response.status_code != 200:
            self._raise_for(response, "start upload")
        location = response.headers.get("location")
        if not location:
            raise PermanentError("start upload answered 200 without a Location header")
        return location

    async def _status(self, uri: str, size: int, tokens: TokenSource) -> _Status:
        return await with_backoff(self._policy, "upload status", lambda: self._query(uri, size, tokens))

    async def _query(self, uri: str, size: int, tokens: TokenSource) -> _Status:
        """Where is the session? An empty PUT with `Content-Range: bytes */size` [docs]."""
        response = await self._send(tokens, "PUT", uri, body=b"", headers={"Content-Range": f"bytes */{size}"})
        if response.status_code in (200, 201):
            return _Status(resource=response.json())
        if response.status_code == 308:
            return _Status(offset=_next_offset(response))
        if response.status_code == 404:
            return _Status(gone=True)
        self._raise_for(response, "upload status")
        raise AssertionError("unreachable")

    async def _upload(
        self, uri: str, reader: RangeReader, offset: int, size: int, tokens: TokenSource
    ) -> dict[str, Any]:
        requery = False

        async def attempt() -> dict[str, Any] | None:
            nonlocal offset, requery
            if requery:
                # After a failure we do not know what the server kept: ask, then send from there.
                status = await self._query(uri, size, tokens)
                if status.resource is not None:
                    return status.resource
                if status.gone:
                    raise _SessionGone
                offset = status.offset
                requery = False
            first, end = offset, min(offset + self._chunk, size)
            try:
                # The chunk is streamed from storage piece by piece: memory does not grow with the chunk size,
                # and a retry streams it again from the offset the server acknowledged.
                response = await self._send(
                    tokens,
                    "PUT",
                    uri,
                    body=lambda: reader.stream(first, PIECE, end),
                    headers={
                        "Content-Range": f"bytes {first}-{end - 1}/{size}",
                        "Content-Type": "video/mp4",
                        "Content-Length": str(end - first),
                    },
                )
            except httpx.TransportError:
                requery = True
                raise
            if response.status_code in (200, 201):
                return dict(response.json())
            if response.status_code == 308:
                offset = _next_offset(response)
                return None
            if response.status_code == 404:
                raise _SessionGone
            requery = True
            self._raise_for(response, "upload chunk")
            raise AssertionError("unreachable")

        while True:
            # The backoff budget is per chunk: progress resets it.
            resource = await with_backoff(self._policy, "upload chunk", attempt)
            if resource is not None:
                return resource


def _base(channel: Channel) -> str:
    return str(channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")


def _spent(call: str, units: int) -> None:
    metrics.YOUTUBE_QUOTA_UNITS.labels(call).inc(units)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _read_all(storage: Storage, key: str) -> bytes:
    with storage.open_read(key) as stream:
        return stream.read()


def _next_offset(response: httpx.Response) -> int:
    """308's Range header says what the server has; none means nothing yet [docs]."""
    value = response.headers.get("range")
    if not value:
        return 0
    match = _RANGE.match(value.strip())
    if not match:
        raise Transient(f"unreadable Range header {value!r}")
    return int(match.group(1)) + 1


def _error_reasons(response: httpx.Response) -> set[str]:
    try:
        errors = response.json().get("error", {}).get("errors", [])
    except (ValueError, AttributeError):
        return set()
    return {str(e.get("reason")) for e in errors if isinstance(e, dict)}
