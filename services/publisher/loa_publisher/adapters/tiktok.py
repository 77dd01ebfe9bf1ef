"""TikTok Content Posting API: direct post or inbox upload, FILE_UPLOAD in chunks, status polled to the end.

Steps [docs]: creator_info (privacy levels allowed, longest video) → init (direct `video/init/` or inbox
`inbox/video/init/`) → PUT each chunk to upload_url with Content-Range → status/fetch until final.
Chunk rules: 5–64 MB chunks in order, the last absorbs the remainder (≤ 128 MB), total_chunk_count =
floor(size / chunk_size); a file no larger than one chunk goes whole. Each chunk is streamed from storage, so
memory stays at one read-ahead piece whatever the chunk size.

Resume: the publish (`TikTokUpload`) is saved before the first chunk. After a crash TikTok is asked first
(status/fetch), however old the upload_url: a publish whose upload completed is followed to its end, never posted
again; an unfinished one continues at the chunk `uploaded_bytes` points to while its URL lives. Only a publish
TikTok reports FAILED, or one that never completed its upload, is started again (`resume`).

Channel options: base_url, mode (direct|inbox; default direct), privacy_level (default SELF_ONLY: unaudited
apps may only post privately), disable_comment/duet/stitch. Secrets: client_key, client_secret, refresh_token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from loa_core.channels import Channel
from loa_core.contracts import utc_now
from loa_core.storage import Storage
from loa_publisher.adapters import (
    PermanentError,
    PostResult,
    PublishRequest,
    QuotaExceeded,
    RetryableError,
    UploadSession,
)
from loa_publisher.adapters.http import (
    RangeReader,
    RetryPolicy,
    platform_message,
    stored_size,
    transient_for,
    with_backoff,
)
from loa_publisher.auth import RefresherPerChannel, RefreshTokenStore, Secrets, TokenSource, authorized_request

DEFAULT_BASE_URL = "https://open.tiktokapis.com"
MB = 1024 * 1024
MIN_CHUNK, MAX_CHUNK = 5 * MB, 64 * MB
UPLOAD_URL_LIFETIME = timedelta(hours=1)  # [docs]
FINAL_DIRECT = "PUBLISH_COMPLETE"
FINAL_INBOX = "SEND_TO_USER_INBOX"


MAX_CHUNKS = 1000


def check_chunk_setting(preferred: int) -> None:
    """The configured chunk size must be one TikTok allows for a chunk (5–64 MB)."""
    if not MIN_CHUNK <= preferred <= MAX_CHUNK:
        raise ValueError(f"TikTok chunk size must be 5–64 MiB ({MIN_CHUNK}–{MAX_CHUNK} bytes), got {preferred}")


@dataclass(frozen=True)
class ChunkPlan:
    """How a file goes up: `count` chunks of `chunk_size` bytes, the last one absorbing the remainder."""

    size: int
    chunk_size: int
    count: int

    def chunk(self, index: int) -> tuple[int, int]:
        """First and last byte (inclusive) of chunk `index`."""
        first = index * self.chunk_size
        last = self.size - 1 if index == self.count - 1 else first + self.chunk_size - 1
        return first, last


def plan_chunks(size: int, preferred: int) -> ChunkPlan:
    """The FILE_UPLOAD plan for a file of `size` bytes, as close to `preferred` chunks as TikTok's rules allow.

    Rules [docs, media transfer guide]: chunks of 5–64 MB; total_chunk_count = floor(size / chunk_size), so the
    last chunk absorbs the remainder (up to 128 MB); a file under 5 MB goes whole (chunk_size = size); a file over
    64 MB goes in several chunks; 1–1000 chunks. A file that fits in one allowed chunk goes whole; a preferred size
    that would leave a file over 64 MB in one chunk is halved for it; one that needs more than 1000 chunks grows.
    """
    check_chunk_setting(preferred)
    if size < 1:
        raise PermanentError("the cut is empty")
    if size <= MAX_CHUNK and size < 2 * preferred:
        return ChunkPlan(size, size, 1)  # under 5 MB, or within one chunk: whole
    # The smallest chunk that keeps floor(size / chunk) within 1000.
    chunk = max(preferred, size // (MAX_CHUNKS + 1) + 1)
    if chunk > MAX_CHUNK:
        raise PermanentError(f"the cut is {size} bytes; TikTok takes at most {MAX_CHUNKS} chunks of 64 MiB")
    if size < 2 * chunk:
        chunk = size // 2  # over 64 MB (else it went whole above) but under two chunks: two halves
    return ChunkPlan(size, chunk, size // chunk)


@dataclass(frozen=True)
class TikTokUpload:
    """A publish being uploaded: saved in the ledger before its first chunk, `uploaded` once TikTok has them all."""

    publish_id: str
    upload_url: str
    size: int
    chunk_size: int
    count: int
    mode: str  # direct | inbox
    username: str
    expires_at: datetime  # when the upload_url dies (a minute early)
    uploaded: bool = False

    @property
    def plan(self) -> ChunkPlan:
        return ChunkPlan(self.size, self.chunk_size, self.count)


@dataclass(frozen=True)
class Poll:
    """TikTok has the whole file: follow this publish to its end. Never upload it again."""


@dataclass(frozen=True)
class Continue:
    """The upload stopped part-way and its URL still lives: send from chunk `index` on."""

    index: int


@dataclass(frozen=True)
class StartAgain:
    """This publish can never be posted: a new one may be started."""

    why: str


Resume = Poll | Continue | StartAgain
UPLOADING = "PROCESSING_UPLOAD"


def resume(saved: TikTokUpload, status: dict[str, Any], size: int, now: datetime) -> Resume:
    """What to do with a publish found in the ledger, from TikTok's status/fetch answer (pure).

    Only a publish TikTok reports as FAILED, or one whose upload never completed, may be started again: anything
    else may already be (or become) a post, and a second publish would post the video twice.
    """
    state = status.get("status")
    uploaded = int(status.get("uploaded_bytes") or 0)
    if state == "FAILED":
        return StartAgain(f"TikTok reports the publish failed: {status.get('fail_reason') or 'no reason given'}")
    if state not in (None, UPLOADING) or uploaded >= saved.size:
        return Poll()
    if now >= saved.expires_at:
        return StartAgain("the upload never completed and its URL has expired")
    if saved.size != size:
        return StartAgain("the cut changed size since the upload began")
    return Continue(min(uploaded // saved.chunk_size, saved.count))


class _UploadUrlGone(Exception):
    """404 on the upload_url: expired or unknown."""


class TikTokAdapter:
    platform = "tiktok"

    def __init__(
        self,
        storage: Storage,
        http: httpx.AsyncClient,
        secrets: Secrets,
        token_store: RefreshTokenStore,
        *,
        chunk_size: int = 10 * MB,
        policy: RetryPolicy | None = None,
        poll_s: float = 5.0,
        poll_timeout_s: float = 3600.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        check_chunk_setting(chunk_size)
        self._storage = storage
        self._http = http
        self._chunk = chunk_size
        self._policy = policy or RetryPolicy()
        self._poll_s = poll_s
        self._poll_timeout_s = poll_timeout_s
        self._clock = clock
        self._refreshers = RefresherPerChannel(http, secrets, token_store, self._policy)

    def tokens(self, channel: Channel) -> TokenSource:
        base = str(channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        token_url = str(channel.options.get("token_url", f"{base}/v2/oauth/token/"))
        return self._refreshers.get(channel, token_url=token_url, form=("client_key", "client_secret"))

    async def publish(self, request: PublishRequest, session: UploadSession) -> PostResult:
        channel = request.channel
        base = str(channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        tokens = self.tokens(channel)
        key = request.rendition.key
        size = await stored_size(self._storage, key)
        saved = session.load(TikTokUpload)
        if saved is not None:
            # Ask TikTok before anything else: a crash after the last chunk (before the ledger heard of it) left a
            # publish that is complete, however old its upload_url.
            step: Resume = Poll()
            if not saved.uploaded:
                step = resume(saved, await self._status(tokens, base, saved), size, self._clock())
            if isinstance(step, Poll):
                return await self._poll(tokens, base, saved)
            if isinstance(step, Continue):
                try:
                    await self._upload(key, saved, step.index)
                except _UploadUrlGone:
                    pass  # died under us before the last chunk: never complete, so it cannot be posted
                else:
                    session.save(replace(saved, uploaded=True))
                    return await self._poll(tokens, base, saved)
            session.clear()
        for _ in range(2):
            upload = await self._start(request, tokens, base, size)
            session.save(upload)  # durable before the first chunk
            try:
                await self._upload(key, upload, 0)
            except _UploadUrlGone:
                # The upload_url died before the last chunk: that publish can never finish, so start a new one.
                session.clear()
                continue
            session.save(replace(upload, uploaded=True))
            return await self._poll(tokens, base, upload)
        raise PermanentError("the upload URL expired twice in a row")

    async def _start(self, request: PublishRequest, tokens: TokenSource, base: str, size: int) -> TikTokUpload:
        creator = await self._call(tokens, base, "/v2/post/publish/creator_info/query/", {}, "creator info")
        mode, plan, body = self._init_body(request, creator, size)
        path = "/v2/post/publish/inbox/video/init/" if mode == "inbox" else "/v2/post/publish/video/init/"
        data = await self._call(tokens, base, path, body, "init")
        return TikTokUpload(
            publish_id=str(data["publish_id"]),
            upload_url=str(data["upload_url"]),
            size=size,
            chunk_size=plan.chunk_size,
            count=plan.count,
            mode=mode,
            username=str(creator.get("creator_username", "")),
            expires_at=self._clock() + UPLOAD_URL_LIFETIME - timedelta(minutes=1),
        )

    def _init_body(
        self, request: PublishRequest, creator: dict[str, Any], size: int
    ) -> tuple[str, ChunkPlan, dict[str, Any]]:
        options = request.channel.options
        max_s = creator.get("max_video_post_duration_sec")
        if isinstance(max_s, int | float) and request.rendition.duration_s > max_s:
            raise PermanentError(
                f"the cut lasts {request.rendition.duration_s:.0f} s; this creator may post at most {max_s} s"
            )
        plan = plan_chunks(size, self._chunk)
        source = {
            "source": "FILE_UPLOAD",
            "video_size": size,
            "chunk_size": plan.chunk_size,
            "total_chunk_count": plan.count,
        }
        mode = str(options.get("mode", "direct"))
        if mode == "inbox":
            return mode, plan, {"source_info": source}
        if mode != "direct":
            raise PermanentError(f"channel option mode must be direct or inbox, not {mode!r}")
        privacy = str(options.get("privacy_level", "SELF_ONLY"))
        allowed = creator.get("privacy_level_options") or []
        if privacy not in allowed:
            raise PermanentError(f"privacy level {privacy} is not offered to this creator (offered: {allowed})")
        post_info = {
            "title": request.text.title,
            "privacy_level": privacy,
            # A creator who disabled comments/duets/stitches keeps them disabled [docs: creator_info].
            "disable_comment": bool(options.get("disable_comment", False)) or bool(creator.get("comment_disabled")),
            "disable_duet": bool(options.get("disable_duet", False)) or bool(creator.get("duet_disabled")),
            "disable_stitch": bool(options.get("disable_stitch", False)) or bool(creator.get("stitch_disabled")),
        }
        cover_ms = cover_timestamp_ms(request)
        if cover_ms is not None:
            post_info["video_cover_timestamp_ms"] = cover_ms
        return mode, plan, {"post_info": post_info, "source_info": source}

    async def _call(self, tokens: TokenSource, base: str, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        """A JSON POST to the API: `data` on success; the error envelope classified otherwise."""

        async def attempt() -> dict[str, Any]:
            response = await authorized_request(
                self._http,
                tokens,
                "POST",
                f"{base}{path}",
                json=body,
                headers={"Content-Type": "application/json; charset=UTF-8"},
            )
            transient = transient_for(response)
            if transient:
                raise transient
            try:
                envelope = response.json()
            except ValueError:
                envelope = {}
            code = str(envelope.get("error", {}).get("code", ""))
            if response.status_code == 200 and code == "ok":
                return dict(envelope.get("data") or {})
            if code in ("spam_risk_too_many_posts", "spam_risk_too_many_pending_share"):
                # The creator's daily cap: come back later, it is not a failure.
                raise QuotaExceeded(f"{what}: {platform_message(response)}", self._clock() + timedelta(hours=6))
            raise PermanentError(f"{what}: {platform_message(response)}")

        return await with_backoff(self._policy, what, attempt)

    async def _status(self, tokens: TokenSource, base: str, upload: TikTokUpload) -> dict[str, Any]:
        body = {"publish_id": upload.publish_id}
        return await self._call(tokens, base, "/v2/post/publish/status/fetch/", body, "status")

    async def _upload(self, key: str, upload: TikTokUpload, start: int) -> None:
        size, count, plan, url = upload.size, upload.count, upload.plan, upload.upload_url
        reader = RangeReader(self._storage, key, size)
        try:
            for index in range(start, count):
                first, last = plan.chunk(index)

                async def body(first: int = first, last: int = last) -> AsyncIterator[bytes]:
                    offset = first
                    while offset <= last:
                        piece = await reader.read(offset, min(MB, last + 1 - offset))
                        offset += len(piece)
                        yield piece

                async def attempt(first: int = first, last: int = last, body: Any = body, index: int = index) -> None:
                    # The upload_url carries its own authorization: no token on chunk PUTs [docs].
                    response = await self._http.put(
                        url,
                        content=body(),
                        headers={
                            "Content-Type": "video/mp4",
                            "Content-Length": str(last - first + 1),
                            "Content-Range": f"bytes {first}-{last}/{size}",
                        },
                    )
                    if response.status_code in (200, 201, 206):
                        return
                    transient = transient_for(response)
                    if transient:
                        raise transient
                    if response.status_code == 404:
                        raise _UploadUrlGone
                    raise PermanentError(f"upload chunk {index + 1}/{count}: {platform_message(response)}")

                await with_backoff(self._policy, "upload chunk", attempt)
        finally:
            await reader.aclose()

    async def _poll(self, tokens: TokenSource, base: str, upload: TikTokUpload) -> PostResult:
        publish_id, username = upload.publish_id, upload.username
        final = FINAL_INBOX if upload.mode == "inbox" else FINAL_DIRECT
        deadline = time.monotonic() + self._poll_timeout_s  # elapsed time, not the wall clock
        while True:
            status = await self._status(tokens, base, upload)
            state = status.get("status")
            if state == "FAILED":
                raise PermanentError(f"processing failed: {status.get('fail_reason', 'no reason given')}")
            if state == final or (final == FINAL_INBOX and state == FINAL_DIRECT):
                public = status.get("publicaly_available_post_id") or []  # sic, the API's spelling
                if public:
                    post_id = str(public[0])
                    return PostResult(post_id=post_id, url=f"https://www.tiktok.com/@{username}/video/{post_id}")
                # Private or in the creator's inbox: no public id exists (yet); the publish id names it.
                return PostResult(post_id=publish_id, url=f"https://www.tiktok.com/@{username}")
            if time.monotonic() > deadline:
                # Held and polled again later; the session says the upload is done.
                raise RetryableError(f"still {state} after {self._poll_timeout_s:.0f} s")
            await asyncio.sleep(self._poll_s)


def cover_timestamp_ms(request: PublishRequest) -> int | None:
    """The cover still's frame (the picked one, else transcode's default pick) as TikTok's
    `post_info.video_cover_timestamp_ms` (pure): its time in the footage, in milliseconds, within the cut. None when
    no cover was made, when the still does not say its time, or when
    the channel puts an intro before the footage (the cut's time would be off by the intro, which is not known
    here): TikTok then takes its default frame."""
    cover = request.still("cover")
    if cover is None or cover.at_s is None or request.channel.intro_key is not None:
        return None
    return min(round(cover.at_s * 1000), max(0, round(request.rendition.duration_s * 1000) - 1))
