"""Zalo Official Account: an article with a video. [2nd-hand protocol, from community SDKs; see PLATFORMS.md]

Steps: `POST {base}/v2.0/article/upload_video/preparevideo` (multipart `file`, header `access_token`, ≤ 50 MB)
→ token; `GET …/upload_video/verify?token=` until status 1 (ready; 2/3 processing, 4 failed) → video_id;
`POST {base}/v2.0/article/create` (type video, title ≤ 150, description ≤ 300, video_id) → token;
`POST {base}/v2.0/article/verify` → the article id. Errors come as HTTP 200 with `error` ≠ 0; -216/-124 mean the
access token is invalid or expired (refresh once).

Zalo has no resumable upload: a crash mid-upload sends the (≤ 50 MB) file again, streamed from storage as a
multipart body built here with its exact length. Each later step's result is saved in the ledger, and an article
being created is looked up among the OA's recent articles before creating it again.

Removal: `POST {base}/v2.0/article/remove` with `{"id": article_id}` (zaloplatform/zalo-java-sdk RemoveArticle);
an article already gone (error -230 on the emulator: the real code is unconfirmed) counts as removed. No endpoint to
change an article's text was found: an edit is refused before it reaches the publisher.

OAuth v4: `POST https://oauth.zaloapp.com/v4/oa/access_token` (header secret_key; app_id, grant_type=refresh_token,
refresh_token). The refresh token rotates on every refresh: the new one is stored in the ledger at once.

Citizens' messages [2nd-hand: zaloplatform/zalo-java-sdk SendQuoteCSMessage; the 48-hour rule from Zalo OA's help
centre, zalooa.freshdesk.com "Các loại tin của Zalo Official Account"]: a reply is a consultation message, `POST
{base}/v3.0/oa/message/cs` with `{"recipient": {"user_id": author}, "message": {"text": …}}` → `data.message_id`.
Zalo takes it only within 48 hours of the citizen's last message to the OA (8 replies in that window); outside it the
reply fails with Zalo's words and why (WINDOW_CLOSED is the emulator's code: the real one is unconfirmed). A reply
whose answer was lost is looked for in `GET {base}/v2.0/oa/conversation?data={"user_id", "offset", "count"}` among
the OA's own messages (src 0). Zalo has no API to hide a message.

Channel options: base_url, token_url, oa_url (link shown for posts), cover_url (optional article cover).
Secrets: app_id, secret_key, refresh_token.
"""

from __future__ import annotations

import asyncio
import json
import secrets as random_tokens
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from loa_core.channels import Channel
from loa_core.storage import Storage
from loa_publisher.adapters import (
    FeedbackItem,
    LivePost,
    PermanentError,
    PostResult,
    PublishRequest,
    RetryableError,
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

DEFAULT_BASE_URL = "https://openapi.zalo.me"
DEFAULT_TOKEN_URL = "https://oauth.zaloapp.com/v4/oa/access_token"  # noqa: S105 — a URL
MAX_VIDEO_BYTES = 50 * 1024 * 1024
TOKEN_ERRORS = {-216, -124}
RATE_ERRORS = {-32}  # "exceeded rate limit"
ARTICLE_GONE = -230
# A consultation message outside the window (48 h after the citizen's last message, 8 replies): the emulator's code.
WINDOW_CLOSED = -224
WINDOW_RULE = (
    "Zalo accepts a reply only within 48 hours of the citizen's last message to the OA (at most 8 replies): answer"
    " in the Zalo OA app, or wait for the citizen to write again / Zalo chỉ cho phép trả lời trong vòng 48 giờ kể từ"
    " tin nhắn gần nhất của người dân gửi OA (tối đa 8 tin): hãy trả lời trong ứng dụng Zalo OA, hoặc chờ người dân"
    " nhắn lại"
)
NO_RECIPIENT = "the message has no author id to reply to / tin nhắn không có mã người gửi để trả lời"
# The newest messages of a conversation read back looking for a reply whose answer was lost.
CONVERSATION_COUNT = 10  # the emulator's code for an article that does not exist (the real one is unconfirmed)


def _zalo_error(response: httpx.Response) -> int | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return int(error) if isinstance(error, int) else None


@dataclass(frozen=True)
class ZaloUpload:
    """Each step's result, saved as it comes: the upload token, the processed video's id, whether creating began."""

    size: int
    upload_token: str | None = None
    video_id: str | None = None
    creating: bool = False  # the article may exist: look before creating it again


class ZaloAdapter:
    platform = "zalo"

    def __init__(
        self,
        storage: Storage,
        http: httpx.AsyncClient,
        secrets: Secrets,
        token_store: RefreshTokenStore,
        *,
        policy: RetryPolicy | None = None,
        poll_s: float = 5.0,
        poll_timeout_s: float = 3600.0,
    ) -> None:
        self._storage = storage
        self._http = http
        self._policy = policy or RetryPolicy()
        self._poll_s = poll_s
        self._poll_timeout_s = poll_timeout_s
        self._refreshers = RefresherPerChannel(http, secrets, token_store, self._policy)

    def tokens(self, channel: Channel) -> TokenSource:
        token_url = str(channel.options.get("token_url", DEFAULT_TOKEN_URL))
        # Zalo sends the app's secret in a `secret_key` header rather than in the form.
        return self._refreshers.get(channel, token_url=token_url, form=("app_id",), headers=("secret_key",))

    async def publish(self, request: PublishRequest, session: UploadSession) -> PostResult:
        channel = request.channel
        base = str(channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        tokens = self.tokens(channel)
        size = await stored_size(self._storage, request.rendition.key)
        if size > MAX_VIDEO_BYTES:
            raise PermanentError(f"the {request.rendition.profile!r} cut is {size} bytes; Zalo takes ≤ 50 MB")
        saved = session.load(ZaloUpload)
        if saved is None or saved.size != size:
            saved = ZaloUpload(size=size)
        video_id = saved.video_id
        if video_id is None:
            upload_token = saved.upload_token
            if upload_token is None:
                upload_token = await self._prepare(base, tokens, request, size)
                saved = replace(saved, upload_token=upload_token)
                session.save(saved)
            video_id = await self._wait_ready(base, tokens, upload_token)
            saved = replace(saved, video_id=video_id)
            session.save(saved)
        if saved.creating:
            found = await self._find_article(base, tokens, request)
            if found:
                return self._result(channel, found)
        session.save(replace(saved, creating=True))
        article_id = await self._create(base, tokens, request, video_id)
        return self._result(channel, article_id)

    async def unpublish(self, post: LivePost, how: str) -> None:
        if how != "delete":
            raise PermanentError(f"a Zalo article can only be removed, not made {how!r}")
        base = str(post.channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        body = {"id": post.post_id}
        await self._api(
            self.tokens(post.channel),
            "POST",
            f"{base}/v2.0/article/remove",
            "remove article",
            json=body,
            done_on={ARTICLE_GONE},
        )

    # --- citizens' messages

    async def reply(self, item: FeedbackItem, text: str) -> str:
        """One consultation message (the caller's backoff looks the reply up before trying again)."""
        if not item.author_id:
            raise PermanentError(NO_RECIPIENT)
        base = str(item.channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        body = {"recipient": {"user_id": item.author_id}, "message": {"text": text}}
        response = await authorized_request(
            self._http,
            self.tokens(item.channel),
            "POST",
            f"{base}/v3.0/oa/message/cs",
            header="access_token",
            scheme="",
            unauthorized=lambda r: _zalo_error(r) in TOKEN_ERRORS,
            json=body,
        )
        transient = transient_for(response)
        if transient:
            raise transient
        code = _zalo_error(response)
        if code in RATE_ERRORS:
            raise Transient(platform_message(response))
        if code == WINDOW_CLOSED:
            raise PermanentError(f"{WINDOW_RULE}: {platform_message(response)}")
        if response.status_code != 200 or code != 0:
            raise PermanentError(f"reply: {platform_message(response)}")
        message_id = (response.json().get("data") or {}).get("message_id")
        if not message_id:
            raise PermanentError(f"reply answered without a message id: {response.text[:200]}")
        return str(message_id)

    async def find_reply(self, item: FeedbackItem, text: str, since: datetime, known: frozenset[str]) -> str | None:
        if not item.author_id:
            return None
        base = str(item.channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        query = {"user_id": item.author_id, "offset": 0, "count": CONVERSATION_COUNT}
        data = await self._api(
            self.tokens(item.channel),
            "GET",
            f"{base}/v2.0/oa/conversation",
            "list conversation",
            params={"data": json.dumps(query)},
            listing=True,
        )
        for message in data.get("messages", []):
            sent = message.get("time")
            when = datetime.fromtimestamp(sent / 1000, UTC) if isinstance(sent, int) else None
            if (
                message.get("src") == 0
                and str(message.get("message_id")) not in known
                and message.get("message") == text
                and when is not None
                and when >= since
            ):
                return str(message["message_id"])
        return None

    def _result(self, channel: Channel, article_id: str) -> PostResult:
        oa_url = str(channel.options.get("oa_url", "https://zalo.me")).rstrip("/")
        return PostResult(post_id=article_id, url=f"{oa_url}#article-{article_id}")

    async def _api(
        self,
        tokens: TokenSource,
        method: str,
        url: str,
        what: str,
        done_on: set[int] | None = None,
        listing: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One API call with backoff: `data` when `error` is 0 (or one of `done_on`); the error classified
        otherwise. `listing`: `data` is a list, returned as {"messages": data}."""

        async def attempt() -> dict[str, Any]:
            response = await authorized_request(
                self._http,
                tokens,
                method,
                url,
                header="access_token",
                scheme="",
                unauthorized=lambda r: _zalo_error(r) in TOKEN_ERRORS,
                **kwargs,
            )
            transient = transient_for(response)
            if transient:
                raise transient
            code = _zalo_error(response)
            if response.status_code == 200 and (code == 0 or code in (done_on or set())):
                data = response.json().get("data")
                if listing:
                    return {"messages": list(data or [])}
                return dict(data or {})
            if code in RATE_ERRORS:
                raise Transient(platform_message(response))
            raise PermanentError(f"{what}: {platform_message(response)}")

        return await with_backoff(self._policy, what, attempt)

    async def _prepare(self, base: str, tokens: TokenSource, request: PublishRequest, size: int) -> str:
        boundary = f"loa-{random_tokens.token_hex(12)}"
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{request.footage_id}.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> AsyncIterator[bytes]:
            async def stream() -> AsyncIterator[bytes]:
                reader = RangeReader(self._storage, request.rendition.key, size)
                try:
                    yield head
                    async for piece in reader.stream(0):
                        yield piece
                    yield tail
                finally:
                    await reader.aclose()

            return stream()

        data = await self._api(
            tokens,
            "POST",
            f"{base}/v2.0/article/upload_video/preparevideo",
            "upload video",
            body=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
            },
        )
        token = data.get("token")
        if not token:
            raise PermanentError(f"upload video answered without a token: {str(data)[:200]}")
        return str(token)

    async def _wait_ready(self, base: str, tokens: TokenSource, upload_token: str) -> str:
        deadline = time.monotonic() + self._poll_timeout_s
        while True:
            data = await self._api(
                tokens,
                "GET",
                f"{base}/v2.0/article/upload_video/verify",
                "video status",
                params={"token": upload_token},
            )
            status = data.get("status")
            if status == 1 and data.get("video_id"):
                return str(data["video_id"])
            if status == 4:
                raise PermanentError(f"video processing failed: {data.get('status_message', 'no reason given')}")
            if time.monotonic() > deadline:
                raise RetryableError(f"video still processing after {self._poll_timeout_s:.0f} s")
            await asyncio.sleep(self._poll_s)

    async def _create(self, base: str, tokens: TokenSource, request: PublishRequest, video_id: str) -> str:
        article: dict[str, Any] = {
            "type": "video",
            "title": request.text.title,
            "description": request.text.description,
            "video_id": video_id,
            "status": "show",
            "comment": "show",
        }
        cover = request.channel.options.get("cover_url")
        if cover:
            article["avatar"] = str(cover)
        created = await self._api(tokens, "POST", f"{base}/v2.0/article/create", "create article", json=article)
        token = created.get("token")
        if not token:
            raise PermanentError(f"create article answered without a token: {str(created)[:200]}")
        verified = await self._api(
            tokens, "POST", f"{base}/v2.0/article/verify", "verify article", json={"token": str(token)}
        )
        if not verified.get("id"):
            raise PermanentError(f"verify article answered without an id: {str(verified)[:200]}")
        return str(verified["id"])

    async def _find_article(self, base: str, tokens: TokenSource, request: PublishRequest) -> str | None:
        data = await self._api(
            tokens,
            "GET",
            f"{base}/v2.0/article/getslice",
            "list articles",
            params={"offset": "0", "limit": "20", "type": "video"},
        )
        for article in data.get("medias", []):
            if article.get("title") == request.text.title:
                return str(article["id"])
        return None
