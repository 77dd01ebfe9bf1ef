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

Channel options: base_url (https://graph-video.facebook.com), version (v21.0), app_id, page_id.
Secrets: user_token (app admin, for the upload session), page_token (posts on the Page).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from loa_core.channels import Channel
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
DEFAULT_VERSION = "v21.0"


@dataclass(frozen=True)
class FacebookUpload:
    """A resumable upload session (`upload:<id>`), then its file handle, then whether publishing began."""

    upload_id: str
    size: int
    handle: str | None = None
    publishing: bool = False  # the publish call may have gone through: look before publishing again


class FacebookAdapter:
    platform = "facebook"

    def __init__(
        self, storage: Storage, http: httpx.AsyncClient, secrets: Secrets, *, policy: RetryPolicy | None = None
    ) -> None:
        self._storage = storage
        self._http = http
        self._secrets = secrets
        self._policy = policy or RetryPolicy()

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
