"""The YouTube Data API's comments resources, strictly, over one store of a channel's threads and replies.

One store serves both services' tests: the publisher replies and moderates (tests.support.emulators.youtube), metrics
collects (tests.support.stats_emulators); a test that runs both shares one store (`host.comments = other.comments`),
so a reply the publisher posted is listed by commentThreads in its thread, written by the channel (by_channel).

[docs: developers.google.com/youtube/v3/docs/commentThreads/list, comments/insert, comments/list,
comments/setModerationStatus]
- `GET /youtube/v3/commentThreads`: part (snippet, replies, id; nothing else), exactly one filter of
  allThreadsRelatedToChannelId (another channel: 404 channelNotFound), videoId or id, maxResults 1-100 (default 20),
  order time (default) or relevance, textFormat html or plainText, moderationStatus (published by default;
  heldForReview, likelySpam), pageToken (an unknown one: 400 processingFailure): newest thread first, up to 5
  replies with a thread, nextPageToken while more remain; 1 unit. `pages_forever`: past the last thread every page is
  empty and names a next one (a platform that pages for ever).
- `POST /youtube/v3/comments?part=snippet` with `{"snippet": {"parentId", "textOriginal"}}`: a reply as the channel
  (the parent must be a top comment that exists: else 404 commentNotFound, or 400 operationNotSupported for a
  reply; text 1-10,000 characters), 50 units. Faults on "comment_insert" (drop: made, its answer lost); a reply can
  be held after it is made, before it is answered (`hold_replies`), so a test can kill the publisher then.
- `GET /youtube/v3/comments?part=snippet&parentId=`: the thread's replies oldest first, maxResults (<= 100) a page
  with nextPageToken, 1 unit. Faults on "comment_list".
- `POST /youtube/v3/comments/setModerationStatus?id=&moderationStatus=heldForReview|published|rejected`: 204, no
  body allowed (a rejected comment cannot be published again: 400; a gone one: 404 commentNotFound), 50 units.
  Faults on "moderate".

The host emulator checks the token and counts the units (`CommentsHost`): each platform emulator its own way.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web

from tests.support.emulators import Fault

QUOTA_EXCEEDED = "The request cannot be completed because you have exceeded your quota."


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def yt_error(status: int, message: str, reason: str = "badRequest") -> web.Response:
    body = {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}
    return web.json_response(body, status=status)


class CommentsHost(Protocol):
    def authorized(self, request: web.Request, on: str) -> tuple[web.Response | None, Fault | None]:
        """(a 401 answer or None, the fault injected for this request kind)."""

    def spend(self, fault: Fault | None, units: int, call: str) -> web.Response | None:
        """`units` quota units, or the error that answers instead."""

    def log(self, kind: str, detail: str = "") -> None: ...


class YouTubeComments:
    """A channel's comments by id: top comments and replies (`snippet.parentId`), each with its moderation status."""

    def __init__(self, channel_id: str = "UCemuWardChannel0000000") -> None:
        self.channel_id = channel_id
        self.by_id: dict[str, dict[str, Any]] = {}
        self._ids = 0
        self._lock = threading.Lock()
        self.pages_forever = False
        # Crash tests: a reply is made, then waits to be answered until `release_replies()`.
        self.hold_replies = False
        self.reply_held = threading.Event()
        self._replies_released = threading.Event()

    # --- what people wrote on the platform, as a test puts it there

    def comment(
        self,
        video_id: str,
        text: str,
        published_at: str | None = None,
        *,
        author: str = "Người dân",
        author_channel: str = "UCcitizen",
        reply_to: str | None = None,
    ) -> str:
        """A comment (a reply when `reply_to` names a top comment); its id."""
        with self._lock:
            self._ids += 1
            serial = f"{self._ids:06d}"
        comment_id = f"Ugx{serial}" if reply_to is None else f"{reply_to}.r{serial}"
        at = published_at or now_iso()
        self.by_id[comment_id] = {
            "kind": "youtube#comment",
            "id": comment_id,
            "snippet": {
                "channelId": self.channel_id,
                "videoId": video_id,
                "textDisplay": text,
                "textOriginal": text,
                "authorDisplayName": author,
                "authorChannelId": {"value": author_channel},
                "publishedAt": at,
                "updatedAt": at,
                "moderationStatus": "published",
                **({"parentId": reply_to} if reply_to else {}),
            },
        }
        return comment_id

    def delete(self, comment_id: str) -> None:
        """Its author took it away."""
        self.by_id.pop(comment_id, None)

    def status(self, comment_id: str) -> str:
        return str(self.by_id[comment_id]["snippet"]["moderationStatus"])

    def replies_to(self, parent: str) -> list[dict[str, Any]]:
        return [c for c in self.by_id.values() if c["snippet"].get("parentId") == parent]

    def release_replies(self) -> None:
        self._replies_released.set()

    def threads(self, moderation: str = "published") -> list[dict[str, Any]]:
        """commentThread resources, newest first (a stable sort: equal times keep the order written)."""
        tops = [c for c in self.by_id.values() if "parentId" not in c["snippet"]]
        tops = [c for c in tops if c["snippet"]["moderationStatus"] == moderation]
        tops.sort(key=lambda c: c["snippet"]["publishedAt"], reverse=True)
        return [
            {
                "kind": "youtube#commentThread",
                "id": top["id"],
                "snippet": {"channelId": self.channel_id, "videoId": top["snippet"]["videoId"], "topLevelComment": top},
                "replies": {"comments": self.replies_to(top["id"])},
            }
            for top in tops
        ]

    # --- the API

    def routes(self, app: web.Application, host: CommentsHost) -> None:
        """The comments routes on `host`'s server; they read `host.comments` when asked, so a store shared later
        (`host.comments = other.comments`) serves them."""

        def store() -> YouTubeComments:
            found: YouTubeComments = host.comments  # type: ignore[attr-defined]
            return found

        async def threads(request: web.Request) -> web.Response:
            return await store().list_threads(request, host)

        async def insert(request: web.Request) -> web.Response:
            return await store().insert(request, host)

        async def replies(request: web.Request) -> web.Response:
            return await store().list_replies(request, host)

        async def moderate(request: web.Request) -> web.Response:
            return await store().moderate(request, host)

        app.router.add_get("/youtube/v3/commentThreads", threads)
        app.router.add_post("/youtube/v3/comments", insert)
        app.router.add_get("/youtube/v3/comments", replies)
        app.router.add_post("/youtube/v3/comments/setModerationStatus", moderate)

    async def list_threads(self, request: web.Request, host: CommentsHost) -> web.Response:
        q = request.query
        host.log("commentThreads", q.get("pageToken", ""))
        denied, fault = host.authorized(request, "commentThreads")
        if denied:
            return denied
        parts = set(q.get("part", "").split(","))
        if not q.get("part") or not parts <= {"snippet", "replies", "id"}:
            return yt_error(400, "this emulator serves part=id,snippet,replies", "invalidPart")
        filters = [f for f in ("allThreadsRelatedToChannelId", "videoId", "id") if f in q]
        if len(filters) != 1:
            return yt_error(400, "exactly one filter is required", "missingRequiredParameter")
        if q.get("order", "time") not in ("time", "relevance") or q.get("textFormat", "html") not in (
            "html",
            "plainText",
        ):
            return yt_error(400, "bad order or textFormat", "invalidParameter")
        moderation = q.get("moderationStatus", "published")
        if moderation not in ("published", "heldForReview", "likelySpam"):
            return yt_error(400, "moderationStatus: published, heldForReview or likelySpam", "invalidParameter")
        try:
            size = int(q.get("maxResults", "20"))
        except ValueError:
            return yt_error(400, "maxResults is not a number", "invalidParameter")
        if not 1 <= size <= 100:
            return yt_error(400, "maxResults: 1 to 100", "invalidParameter")
        token = q.get("pageToken", "")
        if token and not re.fullmatch(r"QURTSl\d+", token):
            return yt_error(400, "The API server failed to process the request: pageToken", "processingFailure")
        if filters[0] == "allThreadsRelatedToChannelId" and q["allThreadsRelatedToChannelId"] != self.channel_id:
            return yt_error(404, "The channel could not be found.", "channelNotFound")
        spent = host.spend(fault, 1, "commentThreads.list")
        if spent:
            return spent
        every = self.threads(moderation)
        if filters[0] == "videoId":
            every = [t for t in every if t["snippet"]["videoId"] == q["videoId"]]
        elif filters[0] == "id":
            wanted = set(q["id"].split(","))
            every = [t for t in every if t["id"] in wanted]
        start = int(token[6:]) if token else 0
        page = [
            {k: v for k, v in t.items() if k in ("kind", "id") or k in parts}
            | ({"replies": {"comments": t["replies"]["comments"][:5]}} if "replies" in parts else {})
            for t in every[start : start + size]
        ]
        body: dict[str, Any] = {"kind": "youtube#commentThreadListResponse", "items": page}
        if start + size < len(every) or self.pages_forever:
            body["nextPageToken"] = f"QURTSl{start + size}"
        return web.json_response(body)

    async def insert(self, request: web.Request, host: CommentsHost) -> web.Response:
        host.log("comment_insert")
        denied, fault = host.authorized(request, "comment_insert")
        if denied:
            return denied
        if request.query.get("part") != "snippet":
            return yt_error(400, "part must be snippet")
        try:
            snippet = json.loads(await request.text())["snippet"]
        except (ValueError, KeyError, TypeError):
            return yt_error(400, "body is not a comment resource with a snippet")
        text, parent_id = snippet.get("textOriginal", ""), snippet.get("parentId", "")
        if not isinstance(text, str) or not text.strip():
            return yt_error(400, "The comment text is required.", "commentTextRequired")
        if len(text) > 10_000:
            return yt_error(400, "The comment text is too long.", "commentTextTooLong")
        parent = self.by_id.get(parent_id)
        if parent is None:
            return yt_error(404, "The parent comment could not be found.", "commentNotFound")
        if "parentId" in parent["snippet"]:
            return yt_error(400, "A reply must be made to a top-level comment.", "operationNotSupported")
        spent = host.spend(fault, 50, "comments.insert")
        if spent:
            return spent
        reply_id = self.comment(
            parent["snippet"]["videoId"], text, author="Loa", author_channel=self.channel_id, reply_to=parent_id
        )
        if self.hold_replies:
            self.reply_held.set()
            while not self._replies_released.is_set():
                await asyncio.sleep(0.05)
            return web.Response(status=503)  # the publisher that asked is gone by now
        if fault and fault.kind == "drop" and request.transport is not None:
            request.transport.abort()  # made, but the answer is lost
            return web.Response(status=500)
        return web.json_response(self.by_id[reply_id])

    async def list_replies(self, request: web.Request, host: CommentsHost) -> web.Response:
        host.log("comment_list", request.query.get("parentId", ""))
        denied, fault = host.authorized(request, "comment_list")
        if denied:
            return denied
        parent_id = request.query.get("parentId")
        if request.query.get("part") != "snippet" or not parent_id:
            return yt_error(400, "part=snippet and parentId are required")
        if parent_id not in self.by_id:
            return yt_error(404, "The comment could not be found.", "commentNotFound")
        try:
            size = int(request.query.get("maxResults", "20"))
        except ValueError:
            return yt_error(400, "maxResults must be a number")
        if not 1 <= size <= 100:
            return yt_error(400, "maxResults must be between 1 and 100", "invalidParameter")
        spent = host.spend(fault, 1, "comments.list")
        if spent:
            return spent
        replies = self.replies_to(parent_id)
        start = int(request.query.get("pageToken", "0") or 0)
        body: dict[str, Any] = {"kind": "youtube#commentListResponse", "items": replies[start : start + size]}
        if start + size < len(replies):
            body["nextPageToken"] = str(start + size)
        return web.json_response(body)

    async def moderate(self, request: web.Request, host: CommentsHost) -> web.Response:
        host.log("moderate", request.query.get("moderationStatus", ""))
        denied, fault = host.authorized(request, "moderate")
        if denied:
            return denied
        status = request.query.get("moderationStatus")
        if status not in ("heldForReview", "published", "rejected"):
            return yt_error(400, "moderationStatus must be heldForReview, published or rejected")
        if request.content_length:
            return yt_error(400, "Do not provide a request body when calling this method.")
        ids = request.query.get("id", "").split(",")
        found = [self.by_id.get(i) for i in ids]
        if not ids or any(c is None for c in found):
            return yt_error(404, "One or more comments could not be found.", "commentNotFound")
        if status == "published" and any(c["snippet"]["moderationStatus"] == "rejected" for c in found if c):
            return yt_error(400, "A rejected comment cannot be published again.", "operationNotSupported")
        spent = host.spend(fault, 50, "comments.setModerationStatus")
        if spent:
            return spent
        for comment in found:
            assert comment is not None
            comment["snippet"]["moderationStatus"] = status
        return web.Response(status=204)
