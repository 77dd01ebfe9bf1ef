"""Facebook Page video through the Graph API's Resumable Upload API, then `/{page-id}/videos`.

Steps [docs]: `POST /{v}/{app-id}/uploads?file_name&file_length&file_type` → `upload:<id>` (saved in the ledger);
`POST /{v}/upload:<id>` with `Authorization: OAuth <user token>`, `file_offset: N` and the bytes from N, streamed
from storage → `{"h": handle}`; after an interruption `GET /{v}/upload:<id>` → `file_offset` to go on from.
Publish: `POST /{v}/{page-id}/videos` with the Page token, title, description and
`fbuploader_video_file_chunk=<handle>` → the video id.

Then the thumbnail (`PublishRequest.still("thumbnail")`: the picked frame's, else transcode's default pick) [docs:
developers.facebook.com/docs/graph-api/reference/video/thumbnails]: `POST /{v}/{video-id}/thumbnails`, multipart
with the image as `source` (≤ 10 MB) and `is_preferred=true`, Page token. The video is out by then: a refusal is
logged with Facebook's words and the video keeps Facebook's own thumbnail.

The publish call is not idempotent, so the ledger records "publishing" before it; a post resumed in that state
first looks for the video among the Page's recent videos (by title and description) before publishing again.

After publishing [docs: Graph API Video node, developers.facebook.com/docs/graph-api/reference/video]: `POST /{v}/
{video-id}` with the Page token, `name` (the title) and `description` changes the text; `DELETE /{v}/{video-id}`
deletes the video (one already gone counts as deleted).

Citizens' comments [docs: developers.facebook.com/docs/graph-api/reference/object/comments, …/reference/comment]:
a reply is `POST /{v}/{comment-id}/comments` with the Page token and `message` (to the thread's top comment: a reply
to a reply goes under it too, as Facebook shows them) → the reply's id; a reply whose answer was lost is looked for
with `GET /{v}/{comment-id}/comments?fields=id,message,from,created_time` among the Page's own (from.id = page_id);
hiding is `POST /{v}/{comment-id}` with `is_hidden=true` (false shows it again) → `{"success": true}`. A comment
that is gone is error 100 (an ItemGone).

A vertical (9:16) cut goes as a Reel where Facebook takes it [docs: developers.facebook.com/docs/video-api/guides/
reels-publishing: 9:16, at least 540×960, 24–60 fps, 3–90 s; 30 API-published reels per Page in a moving 24 hours,
which Meta asks apps to enforce too]: `reel_or_video` decides (pure) from the cut and the Page's reels of the last 24
hours in the ledger; a cut that is too long or too small, or a Page whose 30 are spent, goes as a plain Page video
(said in the log), never refused. A reel has three phases on graph.facebook.com (channel option reels_base_url):
`POST /{v}/{page-id}/video_reels` upload_phase=start → video_id and upload_url (saved in the ledger, and the reel
counted); `POST {upload_url}` (rupload.facebook.com/video-upload/{v}/{video-id}) with `Authorization: OAuth <Page
token>`, `offset` and `file_size` headers and the bytes from offset, resumed after `GET /{v}/{video-id}?fields=status`
says status.uploading_phase.bytes_transferred [the rupload headers 2nd-hand: trypostit/trypost#32; the status
fields as the guide shows them]; `POST /{v}/{page-id}/video_reels` upload_phase=finish, video_id,
video_state=PUBLISHED and the description (the title, then the description). A reel being published is looked up
(publishing_phase) before finishing again. The frame rate is not in the renditions event: transcode's vertical
profile keeps the source's rate up to 60 fps, so a source under 24 fps would be refused by Facebook (said then).

Channel options: base_url (https://graph-video.facebook.com), reels_base_url (https://graph.facebook.com), version
(v21.0), app_id, page_id, reels (default true: vertical cuts as Reels).
Secrets: user_token (app admin, for the upload session), page_token (posts on the Page).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from loa_core.channels import Channel
from loa_core.contracts import utc_now
from loa_core.storage import Storage
from loa_core.streaming import RetryableError
from loa_publisher.adapters import (
    FeedbackItem,
    ItemGone,
    LivePost,
    PermanentError,
    PostResult,
    PostText,
    PublishRequest,
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
from loa_publisher.auth import Secrets, StaticToken, TokenRejected, TokenSource, authorized_request

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://graph-video.facebook.com"
DEFAULT_REELS_BASE_URL = "https://graph.facebook.com"  # the reels guide: "Be sure the host is graph.facebook.com"
DEFAULT_VERSION = "v21.0"

# Reels [docs]: 3–90 s, 9:16, at least 540×960; 30 API-published reels per Page in a moving 24 hours.
REEL_MIN_S, REEL_MAX_S = 3.0, 90.0
REEL_MIN_WIDTH, REEL_MIN_HEIGHT = 540, 960
REELS_PER_DAY = 30
REELS_WINDOW = timedelta(hours=24)


class ReelLog(Protocol):
    """Where the Page's reels are counted (the ledger)."""

    def reels_since(self, page_id: str, since: datetime) -> int: ...

    def record_reel(self, page_id: str, video_id: str) -> None: ...


def reel_or_video(width: int, height: int, duration_s: float, *, reels_last_24h: int) -> tuple[bool, str]:
    """Whether a cut goes as a Reel (pure), and why not when it does not: a 9:16 cut of 3–90 s and at least 540×960,
    while the Page has reels left in its moving 24 hours. Anything else is a plain Page video."""
    if abs(width * 16 - height * 9) > height * 16 // 100:  # 9:16 within 1 %
        return False, "not a vertical 9:16 cut"
    if not REEL_MIN_S <= duration_s <= REEL_MAX_S:
        return False, f"{duration_s:.1f} s is outside a Reel's {REEL_MIN_S:.0f}-{REEL_MAX_S:.0f} s"
    if width < REEL_MIN_WIDTH or height < REEL_MIN_HEIGHT:
        return False, f"{width}x{height} is below a Reel's {REEL_MIN_WIDTH}x{REEL_MIN_HEIGHT}"
    if reels_last_24h >= REELS_PER_DAY:
        return False, f"the Page's {REELS_PER_DAY} reels of the last 24 hours are spent"
    return True, ""


@dataclass(frozen=True)
class FacebookUpload:
    """A resumable upload session (`upload:<id>`), then its file handle, then whether publishing began."""

    upload_id: str
    size: int
    handle: str | None = None
    publishing: bool = False  # the publish call may have gone through: look before publishing again


@dataclass(frozen=True)
class FacebookReel:
    """A Reel's upload session (video id and upload URL from the start phase), then whether publishing began."""

    video_id: str
    upload_url: str
    size: int
    uploaded: bool = False
    publishing: bool = False  # the finish call may have gone through: look before finishing again


class FacebookAdapter:
    platform = "facebook"

    def __init__(
        self,
        storage: Storage,
        http: httpx.AsyncClient,
        secrets: Secrets,
        *,
        policy: RetryPolicy | None = None,
        reels: ReelLog | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._storage = storage
        self._http = http
        self._secrets = secrets
        self._policy = policy or RetryPolicy()
        self._reels = reels  # None: no reels (every cut a Page video)
        self._clock = clock

    def _option(self, channel: Channel, name: str) -> str:
        value = channel.options.get(name)
        if value is None or value == "":
            raise PermanentError(f"channel {channel.name!r} needs the option {name!r}")
        return str(value)

    async def publish(self, request: PublishRequest, session: UploadSession) -> PostResult:
        try:
            return await self._post(request, session)
        except TokenRejected as rejected:
            raise await self._secrets.lost(request.channel, rejected) from None

    async def update_text(self, post: LivePost, text: PostText) -> None:
        await self._change(post, "POST", "change text", {"name": text.title, "description": text.description})

    async def unpublish(self, post: LivePost, how: str) -> None:
        if how != "delete":
            raise PermanentError(f"a Page video can only be deleted, not made {how!r}")
        await self._change(post, "DELETE", "delete video", {})

    async def _change(self, post: LivePost, method: str, what: str, fields: dict[str, str]) -> None:
        channel = post.channel
        base = str(channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        url = f"{base}/{channel.options.get('version', DEFAULT_VERSION)}/{post.post_id}"
        try:
            page = StaticToken(channel.name, (await self._secrets.of(channel, ("page_token",)))["page_token"])

            async def attempt() -> None:
                token = await page.token()
                if method == "DELETE":
                    response = await self._http.request(method, url, params={"access_token": token})
                else:
                    response = await self._http.request(method, url, data={"access_token": token, **fields})
                if method == "DELETE" and _graph_code(response) == NO_SUCH_OBJECT:
                    return  # already gone: deleted
                body = await self._json(response, what)
                if body.get("success") is not True:
                    raise PermanentError(f"{what}: answered without success: {str(body)[:200]}")

            await with_backoff(self._policy, what, attempt)
        except TokenRejected as rejected:
            raise await self._secrets.lost(channel, rejected) from None

    # --- citizens' comments

    async def reply(self, item: FeedbackItem, text: str) -> str:
        """One attempt (the caller's backoff looks the reply up before trying again)."""
        graph, page = await self._graph_and_page(item.channel)
        target = item.thread_id or item.external_id
        try:
            response = await self._http.post(
                f"{graph}/{target}/comments", data={"access_token": await page.token(), "message": text}
            )
            body = await self._comment_json(response, "reply")
        except TokenRejected as rejected:
            raise await self._secrets.lost(item.channel, rejected) from None
        if not body.get("id"):
            raise PermanentError(f"reply answered without a comment id: {str(body)[:200]}")
        return str(body["id"])

    async def find_reply(self, item: FeedbackItem, text: str, since: datetime, known: frozenset[str]) -> str | None:
        graph, page = await self._graph_and_page(item.channel)
        page_id = self._option(item.channel, "page_id")
        target = item.thread_id or item.external_id
        params = {"fields": "id,message,from,created_time", "filter": "stream", "limit": "100"}
        try:
            for _ in range(MAX_PAGES):
                response = await self._http.get(
                    f"{graph}/{target}/comments", params={**params, "access_token": await page.token()}
                )
                listing = await self._comment_json(response, "list replies")
                for comment in listing.get("data", []):
                    created = _graph_time(comment.get("created_time"))
                    if (
                        comment.get("id") not in known
                        and (comment.get("from") or {}).get("id") == page_id
                        and comment.get("message") == text
                        and created is not None
                        and created >= since
                    ):
                        return str(comment["id"])
                after = (listing.get("paging") or {}).get("cursors", {}).get("after")
                if not (listing.get("paging") or {}).get("next") or not after:
                    return None
                params["after"] = str(after)
        except TokenRejected as rejected:
            raise await self._secrets.lost(item.channel, rejected) from None
        raise PermanentError(f"list replies: more than {MAX_PAGES} pages; not replying again without knowing")

    async def set_hidden(self, item: FeedbackItem, hidden: bool) -> None:
        graph, page = await self._graph_and_page(item.channel)
        try:
            response = await self._http.post(
                f"{graph}/{item.external_id}",
                data={"access_token": await page.token(), "is_hidden": "true" if hidden else "false"},
            )
            body = await self._comment_json(response, "hide" if hidden else "show")
        except TokenRejected as rejected:
            raise await self._secrets.lost(item.channel, rejected) from None
        if body.get("success") is not True:
            raise PermanentError(f"{'hide' if hidden else 'show'}: answered without success: {str(body)[:200]}")

    async def _graph_and_page(self, channel: Channel) -> tuple[str, TokenSource]:
        base = str(channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        graph = f"{base}/{channel.options.get('version', DEFAULT_VERSION)}"
        page = StaticToken(channel.name, (await self._secrets.of(channel, ("page_token",)))["page_token"])
        return graph, page

    async def _comment_json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code != 200 and _graph_code(response) == NO_SUCH_OBJECT:
            raise ItemGone(f"{what}: {platform_message(response)}")
        return await self._json(response, what)

    async def _post(self, request: PublishRequest, session: UploadSession) -> PostResult:
        if session.data is not None and "upload_url" in session.data:
            return await self._reel(request, session)  # begun as a reel: it goes on as one
        if session.data is None and self._as_reel(request):
            return await self._reel(request, session)
        return await self._video(request, session)

    def _as_reel(self, request: PublishRequest) -> bool:
        channel, cut = request.channel, request.rendition
        if self._reels is None or channel.options.get("reels", True) is False:
            return False
        page_id = self._option(channel, "page_id")
        spent = self._reels.reels_since(page_id, self._clock() - REELS_WINDOW)
        reel, why = reel_or_video(cut.width, cut.height, cut.duration_s, reels_last_24h=spent)
        if not reel and cut.height > cut.width:
            log.info("%s: the vertical cut goes as a Page video: %s", request.footage_id, why)
        return reel

    async def _reel(self, request: PublishRequest, session: UploadSession) -> PostResult:
        channel = request.channel
        assert self._reels is not None
        reels_base = str(channel.options.get("reels_base_url", DEFAULT_REELS_BASE_URL)).rstrip("/")
        graph = f"{reels_base}/{channel.options.get('version', DEFAULT_VERSION)}"
        page_id = self._option(channel, "page_id")
        page = StaticToken(channel.name, (await self._secrets.of(channel, ("page_token",)))["page_token"])
        size = await stored_size(self._storage, request.rendition.key)
        saved = session.load(FacebookReel)
        if saved is None or saved.size != size:
            video_id, upload_url = await self._reel_start(graph, page_id, page)
            saved = FacebookReel(video_id=video_id, upload_url=upload_url, size=size)
            session.save(saved)  # durable before the first byte
            self._reels.record_reel(page_id, video_id)
        if not saved.uploaded:
            await self._reel_upload(graph, saved, page, request)
            saved = replace(saved, uploaded=True)
            session.save(saved)
        url = f"https://www.facebook.com/reel/{saved.video_id}"
        if saved.publishing and await self._reel_published(graph, saved.video_id, page):
            return PostResult(post_id=saved.video_id, url=url)
        session.save(replace(saved, publishing=True))
        await self._reel_finish(graph, page_id, page, saved.video_id, request)
        return PostResult(post_id=saved.video_id, url=url)

    async def _reel_start(self, graph: str, page_id: str, page: TokenSource) -> tuple[str, str]:
        async def attempt() -> tuple[str, str]:
            response = await self._http.post(
                f"{graph}/{page_id}/video_reels", data={"upload_phase": "start", "access_token": await page.token()}
            )
            body = await self._json(response, "start reel")
            if not body.get("video_id") or not body.get("upload_url"):
                raise PermanentError(f"start reel answered without a video id and upload URL: {str(body)[:200]}")
            return str(body["video_id"]), str(body["upload_url"])

        return await with_backoff(self._policy, "start reel", attempt)

    async def _reel_status(self, graph: str, video_id: str, page: TokenSource) -> dict[str, Any]:
        response = await self._http.get(
            f"{graph}/{video_id}", params={"fields": "status", "access_token": await page.token()}
        )
        return dict((await self._json(response, "reel status")).get("status") or {})

    async def _reel_upload(self, graph: str, reel: FacebookReel, page: TokenSource, request: PublishRequest) -> None:
        reader = RangeReader(self._storage, request.rendition.key, reel.size)
        offset: int | None = None

        async def attempt() -> None:
            nonlocal offset
            if offset is None:
                # Where the upload stands (0 for a new one): the source of truth after any interruption.
                status = await self._reel_status(graph, reel.video_id, page)
                offset = int((status.get("uploading_phase") or {}).get("bytes_transferred", 0))
            start = offset
            if start >= reel.size:
                return
            try:
                response = await authorized_request(
                    self._http,
                    page,
                    "POST",
                    reel.upload_url,
                    scheme="OAuth ",
                    body=lambda: reader.stream(start),
                    headers={
                        "offset": str(start),
                        "file_size": str(reel.size),
                        "Content-Length": str(reel.size - start),
                    },
                )
                body = await self._json(response, "upload reel")
            except Exception:
                offset = None  # ask again before the next attempt
                raise
            if body.get("success") is not True:
                offset = None
                raise PermanentError(f"upload reel answered without success: {str(body)[:200]}")

        try:
            await with_backoff(self._policy, "upload reel", attempt)
        finally:
            await reader.aclose()

    async def _reel_published(self, graph: str, video_id: str, page: TokenSource) -> bool:
        """Whether an earlier finish went through (its answer lost): the publishing phase began or ended."""
        status = await with_backoff(self._policy, "reel status", lambda: self._reel_status(graph, video_id, page))
        return (status.get("publishing_phase") or {}).get("status") in ("in_progress", "complete")

    async def _reel_finish(
        self, graph: str, page_id: str, page: TokenSource, video_id: str, request: PublishRequest
    ) -> None:
        text = request.text
        description = f"{text.title}\n\n{text.description}" if text.description else text.title

        tried = False

        async def attempt() -> None:
            nonlocal tried
            if tried and await self._reel_published(graph, video_id, page):
                return  # an earlier finish went through with its answer lost
            tried = True
            response = await self._http.post(
                f"{graph}/{page_id}/video_reels",
                data={
                    "upload_phase": "finish",
                    "video_id": video_id,
                    "video_state": "PUBLISHED",
                    "description": description,
                    "access_token": await page.token(),
                },
            )
            body = await self._json(response, "publish reel")
            if body.get("success") is not True:
                raise PermanentError(f"publish reel answered without success: {str(body)[:200]}")

        await with_backoff(self._policy, "publish reel", attempt)

    async def _video(self, request: PublishRequest, session: UploadSession) -> PostResult:
        channel = request.channel
        base = str(channel.options.get("base_url", DEFAULT_BASE_URL)).rstrip("/")
        graph = f"{base}/{channel.options.get('version', DEFAULT_VERSION)}"
        app_id, page_id = self._option(channel, "app_id"), self._option(channel, "page_id")
        tokens = await self._secrets.of(channel, ("user_token", "page_token"))
        user, page = StaticToken(channel.name, tokens["user_token"]), StaticToken(channel.name, tokens["page_token"])
        size = await stored_size(self._storage, request.rendition.key)
        saved = session.load(FacebookUpload)
        if saved is None or saved.size != size:
            saved = FacebookUpload(upload_id=await self._start(graph, app_id, user, request, size), size=size)
            session.save(saved)  # durable before the first byte
        handle = saved.handle
        if handle is None:
            handle = await self._upload(graph, saved.upload_id, user, request, size)
            saved = replace(saved, handle=handle)
            session.save(saved)
        session.save(replace(saved, publishing=True))
        result = await self._publish(graph, page_id, page, request, handle, look_first=saved.publishing)
        thumbnail = request.still("thumbnail")
        if thumbnail is not None:
            await self._set_thumbnail(graph, page, result.post_id, thumbnail.key)
        return result

    async def _set_thumbnail(self, graph: str, page: TokenSource, video_id: str, key: str) -> None:
        """The video's preferred thumbnail; refused or failing through the backoff: logged, not raised (the video
        went out: raising would post it again)."""
        data = await asyncio.to_thread(_read_all, self._storage, key)

        async def attempt() -> None:
            response = await self._http.post(
                f"{graph}/{video_id}/thumbnails",
                data={"access_token": await page.token(), "is_preferred": "true"},
                files={"source": ("thumbnail.jpg", data, "image/jpeg")},
            )
            body = await self._json(response, "set thumbnail")
            if body.get("success") is not True:
                raise PermanentError(f"set thumbnail: answered without success: {str(body)[:200]}")

        try:
            await with_backoff(self._policy, "set thumbnail", attempt)
        except (RetryableError, PermanentError) as exc:
            log.warning("video %s is out with Facebook's own thumbnail; Loa's was refused: %s", video_id, exc)

    async def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        transient = transient_for(response)
        if transient:
            raise transient
        if response.status_code != 200:
            if _graph_code(response) == INVALID_TOKEN:
                raise TokenRejected(f"{what}: {platform_message(response)}")
            raise PermanentError(f"{what}: {platform_message(response)}")
        return dict(response.json())

    async def _start(self, graph: str, app_id: str, user: TokenSource, request: PublishRequest, size: int) -> str:
        async def attempt() -> str:
            response = await self._http.post(
                f"{graph}/{app_id}/uploads",
                params={
                    "file_name": f"{request.footage_id}-{request.rendition.profile}.mp4",
                    "file_length": str(size),
                    "file_type": "video/mp4",
                    "access_token": await user.token(),
                },
            )
            return str((await self._json(response, "start upload"))["id"])

        return await with_backoff(self._policy, "start upload", attempt)

    async def _upload(self, graph: str, upload_id: str, user: TokenSource, request: PublishRequest, size: int) -> str:
        reader = RangeReader(self._storage, request.rendition.key, size)
        offset: int | None = None

        async def attempt() -> str:
            nonlocal offset
            if offset is None:
                # Where the session stands (0 for a new one): the source of truth after any interruption.
                response = await authorized_request(self._http, user, "GET", f"{graph}/{upload_id}", scheme="OAuth ")
                offset = int((await self._json(response, "upload status")).get("file_offset", 0))
            start = offset
            try:
                response = await authorized_request(
                    self._http,
                    user,
                    "POST",
                    f"{graph}/{upload_id}",
                    scheme="OAuth ",
                    body=lambda: reader.stream(start),
                    headers={"file_offset": str(start), "Content-Length": str(size - start)},
                )
                body = await self._json(response, "upload")
            except Exception:
                offset = None  # ask again before the next attempt
                raise
            if "h" not in body:
                offset = None
                raise PermanentError(f"upload answered without a file handle: {str(body)[:200]}")
            return str(body["h"])

        try:
            return await with_backoff(self._policy, "upload", attempt)
        finally:
            await reader.aclose()

    async def _publish(
        self, graph: str, page_id: str, page: TokenSource, request: PublishRequest, handle: str, *, look_first: bool
    ) -> PostResult:
        tried = look_first

        async def attempt() -> PostResult:
            nonlocal tried
            if tried:
                # An earlier publish may have gone through with its answer lost: never post twice.
                found = await self._find_published(graph, page_id, page, request)
                if found:
                    return found
            tried = True
            response = await self._http.post(
                f"{graph}/{page_id}/videos",
                data={
                    "access_token": await page.token(),
                    "title": request.text.title,
                    "description": request.text.description,
                    "fbuploader_video_file_chunk": handle,
                },
            )
            video_id = str((await self._json(response, "publish"))["id"])
            return PostResult(post_id=video_id, url=f"https://www.facebook.com/{page_id}/videos/{video_id}")

        return await with_backoff(self._policy, "publish", attempt)

    async def _find_published(
        self, graph: str, page_id: str, page: TokenSource, request: PublishRequest
    ) -> PostResult | None:
        async def attempt() -> dict[str, Any]:
            response = await self._http.get(
                f"{graph}/{page_id}/videos",
                params={"fields": "id,title,description", "limit": "50", "access_token": await page.token()},
            )
            return await self._json(response, "list videos")

        listing = await attempt()  # inside the caller's backoff
        for video in listing.get("data", []):
            if video.get("title") == request.text.title and video.get("description") == request.text.description:
                video_id = str(video["id"])
                return PostResult(post_id=video_id, url=f"https://www.facebook.com/{page_id}/videos/{video_id}")
        return None


def _read_all(storage: Storage, key: str) -> bytes:
    with storage.open_read(key) as stream:
        return stream.read()


# The most pages of replies read back looking for a reply whose answer was lost (a platform paging for ever).
MAX_PAGES = 50


def _graph_time(value: object) -> datetime | None:
    """A Graph API time (`2026-12-01T04:05:03+0000`), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
    return parsed.astimezone(UTC)


# Graph API error 190: the access token is invalid (expired, revoked, the app removed from the Page).
INVALID_TOKEN = 190
# Graph API error 100 (invalid parameter) is also what a request on an object that does not exist (any more) gets:
# "Unsupported delete request. Object with ID '…' does not exist".
NO_SUCH_OBJECT = 100


def _graph_code(response: httpx.Response) -> int | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None
