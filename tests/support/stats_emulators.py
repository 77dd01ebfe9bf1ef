"""Small, strict emulators of the platforms' *statistics* endpoints, over real HTTP (aiohttp, own thread).

YouTube Data API v3: GET /youtube/v3/videos?part=statistics&id=a,b (≤ 50 ids, 1 quota unit per call,
counts as strings, unknown ids left out) and GET /youtube/v3/channels?part=statistics&mine=true; a spent
quota answers 403 with reason quotaExceeded.
Comments [docs: developers.google.com/youtube/v3/docs/commentThreads/list]: GET /youtube/v3/commentThreads with part
(snippet and/or replies, nothing else), exactly one filter of allThreadsRelatedToChannelId, videoId or id,
maxResults 1-100 (default 20), order time (default) or relevance, textFormat html or plainText, pageToken (an
unknown one: 400 processingFailure): newest thread first, up to 5 replies listed with a thread, nextPageToken while
more remain; 1 quota unit a call. `pages_forever`: past the last thread every page is empty and names a next one
(a platform that pages for ever). `expire_tokens()` makes every token answer 401 (an expired access token).
TikTok: POST /v2/video/query/?fields=… with
{"filters": {"video_ids": [...]}} (≤ 20 ids) and GET /v2/user/info/?fields=follower_count, each answering
{"data": …, "error": {"code": "ok", …}}; over the per-minute limit: 429 rate_limit_exceeded.
Facebook Graph API: GET /{v}/{video-id}/video_insights?metric=… (a metric a page, `paging.next` to the rest) and
GET /{v}/{page-id}?fields=followers_count, the Page token as `Authorization: OAuth …`; a refused token is code 190,
the Page's rate limit code 32, an unknown video code 100 subcode 33. Zalo OA: GET /v2.0/article/getslice
(offset, limit ≤ 10, type normal|video; `data.medias`, `data.total`) and GET /v2.0/oa/getoa (`data.num_follower`),
header access_token; errors as HTTP 200 with `error` -216 (token) or -32 (rate).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.support.emulators import Emulator


@dataclass
class Figures:
    views: int
    likes: int
    comments: int
    shares: int = 0


def _yt_error(status: int, reason: str, message: str) -> web.Response:
    body = {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}
    return web.json_response(body, status=status)


class YouTubeStatsEmulator(Emulator):
    def __init__(self, root: Any, *, access_token: str = "yt-token", quota_units: int | None = None) -> None:
        super().__init__(root)
        self.valid_tokens = {access_token}
        self.videos: dict[str, Figures] = {}
        # Optional: figures for ids not in `videos` (e.g. whatever the upload emulator holds); None = unknown id.
        self.figures_for: Callable[[str], Figures | None] | None = None
        self.subscribers = 0
        self.quota_remaining = quota_units  # None = unlimited
        self.calls: list[tuple[str, list[str]]] = []  # (endpoint, ids asked)
        self.units_spent = 0
        self.channel_id = "UCward"
        self.threads: list[dict[str, Any]] = []  # commentThread resources, newest first
        # Optional: the threads of another emulator's comments instead (`threads_of(upload emulator)`, where the
        # publisher replies), so a test has one comment store: collected here, answered there.
        self.threads_from: Callable[[], list[dict[str, Any]]] | None = None
        self.pages_forever = False

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/youtube/v3/videos", self._videos)
        app.router.add_get("/youtube/v3/channels", self._channels)
        app.router.add_get("/youtube/v3/commentThreads", self._comment_threads)

    def expire_tokens(self) -> None:
        self.valid_tokens = set()

    def comment(
        self,
        video_id: str,
        text: str,
        published_at: str,
        *,
        author: str = "Người dân",
        author_channel: str = "UCcitizen",
        reply_to: str | None = None,
    ) -> str:
        """A comment written on the platform (a reply when `reply_to` names a thread); its id."""
        comment_id = self.new_id("Ugx")
        comment = {
            "kind": "youtube#comment",
            "id": comment_id if reply_to is None else f"{reply_to}.{comment_id}",
            "snippet": {
                "channelId": self.channel_id,
                "videoId": video_id,
                "textDisplay": text,
                "textOriginal": text,
                "authorDisplayName": author,
                "authorChannelId": {"value": author_channel},
                "publishedAt": published_at,
                "updatedAt": published_at,
            },
        }
        if reply_to is None:
            thread = {
                "kind": "youtube#commentThread",
                "id": comment_id,
                "snippet": {"channelId": self.channel_id, "videoId": video_id, "topLevelComment": comment},
                "replies": {"comments": []},
            }
            self.threads.append(thread)
            self.threads.sort(key=lambda t: t["snippet"]["topLevelComment"]["snippet"]["publishedAt"], reverse=True)
        else:
            thread = next(t for t in self.threads if t["id"] == reply_to)
            thread["replies"]["comments"].append(comment)
        return str(comment["id"])

    def _figures(self, video_id: str) -> Figures | None:
        found = self.videos.get(video_id)
        if found is None and self.figures_for is not None:
            found = self.figures_for(video_id)
        return found

    def _check(self, request: web.Request, parts: frozenset[str] = frozenset({"statistics"})) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.valid_tokens:
            return _yt_error(401, "authError", "Invalid Credentials")
        asked = set(request.query.get("part", "").split(","))
        if not asked or not asked <= parts:
            return _yt_error(400, "invalidPart", f"this emulator serves part={','.join(sorted(parts))}")
        if self.quota_remaining is not None:
            if self.quota_remaining <= 0:
                return _yt_error(
                    403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota."
                )
            self.quota_remaining -= 1
        self.units_spent += 1
        return None

    async def _comment_threads(self, request: web.Request) -> web.Response:
        q = request.query
        self.calls.append(("commentThreads", [q.get("pageToken", "")]))
        if (problem := self._check(request, frozenset({"snippet", "replies", "id"}))) is not None:
            return problem
        filters = [f for f in ("allThreadsRelatedToChannelId", "videoId", "id") if f in q]
        if len(filters) != 1:
            return _yt_error(400, "missingRequiredParameter", "exactly one filter is required")
        if q.get("order", "time") not in ("time", "relevance") or q.get("textFormat", "html") not in (
            "html",
            "plainText",
        ):
            return _yt_error(400, "invalidParameter", "bad order or textFormat")
        try:
            size = int(q.get("maxResults", "20"))
        except ValueError:
            return _yt_error(400, "invalidParameter", "maxResults is not a number")
        if not 1 <= size <= 100:
            return _yt_error(400, "invalidParameter", "maxResults: 1 to 100")
        token = q.get("pageToken", "")
        if token and not re.fullmatch(r"QURTSl\d+", token):
            return _yt_error(400, "processingFailure", "The API server failed to process the request: pageToken")
        start = int(token[6:]) if token else 0
        every = self.threads if self.threads_from is None else self.threads_from()
        if filters[0] == "allThreadsRelatedToChannelId":
            if q["allThreadsRelatedToChannelId"] != self.channel_id:
                return _yt_error(404, "channelNotFound", "The channel could not be found.")
            threads = every
        elif filters[0] == "videoId":
            threads = [t for t in every if t["snippet"]["videoId"] == q["videoId"]]
        else:
            wanted = set(q["id"].split(","))
            threads = [t for t in every if t["id"] in wanted]
        parts = set(q["part"].split(","))
        page = [
            {k: v for k, v in t.items() if k in ("kind", "id") or k in parts}
            | ({"replies": {"comments": t["replies"]["comments"][:5]}} if "replies" in parts else {})
            for t in threads[start : start + size]
        ]
        body: dict[str, Any] = {"kind": "youtube#commentThreadListResponse", "items": page}
        if start + size < len(threads) or self.pages_forever:
            body["nextPageToken"] = f"QURTSl{start + size}"
        return web.json_response(body)

    async def _videos(self, request: web.Request) -> web.Response:
        ids = [i for i in request.query.get("id", "").split(",") if i]
        self.calls.append(("videos", ids))
        if (problem := self._check(request)) is not None:
            return problem
        if not ids:
            return _yt_error(
                400, "missingRequiredParameter", "No filter selected. Expected one of: id, myRating, chart"
            )
        if len(ids) > 50:
            return _yt_error(400, "invalidFilters", "at most 50 ids")
        items = [
            {
                "kind": "youtube#video",
                "id": i,
                "statistics": {
                    "viewCount": str(f.views),
                    "likeCount": str(f.likes),
                    "favoriteCount": "0",
                    "commentCount": str(f.comments),
                },
            }
            for i in ids
            if (f := self._figures(i)) is not None
        ]
        return web.json_response(
            {"kind": "youtube#videoListResponse", "items": items, "pageInfo": {"totalResults": len(items)}}
        )

    async def _channels(self, request: web.Request) -> web.Response:
        self.calls.append(("channels", []))
        if (problem := self._check(request, frozenset({"statistics", "id"}))) is not None:
            return problem
        if request.query.get("mine") != "true":
            return _yt_error(400, "missingRequiredParameter", "this emulator serves mine=true only")
        if request.query["part"] == "id":
            return web.json_response({"kind": "youtube#channelListResponse", "items": [{"id": self.channel_id}]})
        stats = {
            "viewCount": "0",
            "subscriberCount": str(self.subscribers),
            "hiddenSubscriberCount": False,
            "videoCount": "1",
        }
        return web.json_response(
            {"kind": "youtube#channelListResponse", "items": [{"id": self.channel_id, "statistics": stats}]}
        )


def threads_of(
    comments: Callable[[], dict[str, dict[str, Any]]], channel_id: str
) -> Callable[[], list[dict[str, Any]]]:
    """commentThread resources, newest first, from comment resources by id (tests.support.emulators.youtube's
    `comments`: top comments and replies with `snippet.parentId`)."""

    def threads() -> list[dict[str, Any]]:
        every = list(comments().values())
        out = []
        for top in every:
            if top["snippet"].get("parentId"):
                continue
            replies = [c for c in every if c["snippet"].get("parentId") == top["id"]]
            out.append(
                {
                    "kind": "youtube#commentThread",
                    "id": top["id"],
                    "snippet": {"channelId": channel_id, "videoId": top["snippet"]["videoId"], "topLevelComment": top},
                    "replies": {"comments": replies},
                }
            )
        out.sort(key=lambda t: t["snippet"]["topLevelComment"]["snippet"]["publishedAt"], reverse=True)
        return out

    return threads


def _tt(data: dict[str, Any] | None, code: str = "ok", message: str = "", status: int = 200) -> web.Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message, "log_id": "emulator"}}
    if data is not None:
        body["data"] = data
    return web.json_response(body, status=status)


VIDEO_FIELDS = {"id", "view_count", "like_count", "comment_count", "share_count", "title", "create_time"}


class TikTokStatsEmulator(Emulator):
    def __init__(self, root: Any, *, access_token: str = "tt-token", per_minute: int | None = None) -> None:
        super().__init__(root)
        self.valid_tokens = {access_token}
        self.videos: dict[str, Figures] = {}
        self.figures_for: Callable[[str], Figures | None] | None = None  # as in YouTubeStatsEmulator
        self.followers = 0
        self.per_minute = per_minute  # None = unlimited; a count, not a clock: the tests stay timing-free
        self.calls: list[tuple[str, list[str]]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/video/query/", self._query)
        app.router.add_get("/v2/user/info/", self._user)

    def _check(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.valid_tokens:
            return _tt(None, "access_token_invalid", "The access token is invalid or not found in the request.", 401)
        if self.per_minute is not None:
            if self.per_minute <= 0:
                return _tt(None, "rate_limit_exceeded", "API rate limit was exceeded.", 429)
            self.per_minute -= 1
        return None

    async def _query(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
            ids = body["filters"]["video_ids"]
        except (ValueError, KeyError, TypeError):
            self.calls.append(("video/query", []))
            return _tt(None, "invalid_params", "filters.video_ids is required", 400)
        self.calls.append(("video/query", list(ids)))
        if (problem := self._check(request)) is not None:
            return problem
        fields = set(request.query.get("fields", "").split(","))
        if not fields or not fields <= VIDEO_FIELDS or "id" not in fields:
            return _tt(None, "invalid_params", f"bad fields {sorted(fields)}", 400)
        if not isinstance(ids, list) or not 1 <= len(ids) <= 20:
            return _tt(None, "invalid_params", "video_ids: between 1 and 20 ids", 400)
        videos = []
        for i in ids:
            f = self.videos.get(i)
            if f is None and self.figures_for is not None:
                f = self.figures_for(i)
            if f is None:
                continue  # not the user's, private or not yet public: TikTok leaves it out
            full = {
                "id": i,
                "view_count": f.views,
                "like_count": f.likes,
                "comment_count": f.comments,
                "share_count": f.shares,
            }
            videos.append({k: v for k, v in full.items() if k in fields})
        return _tt({"videos": videos, "cursor": 0, "has_more": False})

    async def _user(self, request: web.Request) -> web.Response:
        self.calls.append(("user/info", []))
        if (problem := self._check(request)) is not None:
            return problem
        if request.query.get("fields") != "follower_count":
            return _tt(None, "invalid_params", "this emulator serves fields=follower_count only", 400)
        return _tt({"user": {"follower_count": self.followers}})


def _fb_error(status: int, code: int, message: str, subcode: int | None = None) -> web.Response:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "emulator"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return web.json_response({"error": error}, status=status)


FB_VIDEO_METRICS = ("total_video_views", "total_video_views_unique", "total_video_impressions")


class FacebookStatsEmulator(Emulator):
    def __init__(
        self,
        root: Any,
        *,
        page_id: str = "1001",
        access_token: str = "fb-page-token",
        version: str = "v21.0",
        calls_allowed: int | None = None,
    ) -> None:
        super().__init__(root)
        self.page_id = page_id
        self.version = version
        self.valid_tokens = {access_token}
        self.videos: dict[str, Figures] = {}
        self.followers = 0
        self.calls_allowed = calls_allowed  # None = unlimited; then code 32 (the Page's rate limit)
        self.calls: list[tuple[str, str]] = []  # (endpoint, object id)

    def routes(self, app: web.Application) -> None:
        app.router.add_get(f"/{self.version}/{{video_id}}/video_insights", self._insights)
        app.router.add_get(f"/{self.version}/{{object_id}}", self._node)

    def _check(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("OAuth ") if auth.startswith("OAuth ") else request.query.get("access_token", "")
        if token not in self.valid_tokens:
            return _fb_error(400, 190, "Error validating access token: Session has expired.", 463)
        if self.calls_allowed is not None:
            if self.calls_allowed <= 0:
                return _fb_error(403, 32, "Page request limit reached")
            self.calls_allowed -= 1
        return None

    async def _insights(self, request: web.Request) -> web.Response:
        video_id = request.match_info["video_id"]
        self.calls.append(("video_insights", video_id))
        if (problem := self._check(request)) is not None:
            return problem
        figures = self.videos.get(video_id)
        if figures is None:
            return _fb_error(
                400, 100, f"Unsupported get request. Object with ID '{video_id}' does not exist", subcode=33
            )
        asked = [m for m in request.query.get("metric", ",".join(FB_VIDEO_METRICS)).split(",") if m]
        if unknown := [m for m in asked if m not in FB_VIDEO_METRICS]:
            return _fb_error(400, 100, f"(#100) The value must be a valid insights metric: {unknown}")
        values = {
            "total_video_views": figures.views,
            "total_video_views_unique": max(1, figures.views * 2 // 3) if figures.views else 0,
            "total_video_impressions": figures.views * 3,
        }
        after = int(request.query.get("after", "0"))
        page = [
            {
                "name": name,
                "period": "lifetime",
                "values": [{"value": values[name]}],
                "title": name,
                "id": f"{video_id}/video_insights/{name}/lifetime",
            }
            for name in asked[after : after + 1]  # a metric a page: the client must follow `paging.next`
        ]
        body: dict[str, Any] = {"data": page}
        if after + 1 < len(asked):
            body["paging"] = {
                "next": f"{self.base_url}/{self.version}/{video_id}/video_insights?metric={','.join(asked)}"
                f"&after={after + 1}"
            }
        return web.json_response(body)

    async def _node(self, request: web.Request) -> web.Response:
        object_id = request.match_info["object_id"]
        self.calls.append(("node", object_id))
        if (problem := self._check(request)) is not None:
            return problem
        if object_id != self.page_id or request.query.get("fields") != "followers_count":
            return _fb_error(400, 100, "this emulator serves the Page's followers_count only", subcode=33)
        return web.json_response({"followers_count": self.followers, "id": self.page_id})


@dataclass
class Article:
    id: str
    title: str
    views: int
    shares: int = 0
    type: str = "video"


def _zalo(data: dict[str, Any] | None, error: int = 0, message: str = "Success") -> web.Response:
    body: dict[str, Any] = {"error": error, "message": message}
    if data is not None:
        body["data"] = data
    return web.json_response(body)  # Zalo answers errors with HTTP 200 too


class ZaloStatsEmulator(Emulator):
    def __init__(self, root: Any, *, access_token: str = "zalo-token", calls_allowed: int | None = None) -> None:
        super().__init__(root)
        self.valid_tokens = {access_token}
        self.articles: list[Article] = []  # newest first, as the OA lists them
        self.followers = 0
        self.calls_allowed = calls_allowed
        self.pages_forever = False  # a broken list: every page full and `total` always one page further
        self.calls: list[tuple[str, dict[str, str]]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v2.0/article/getslice", self._getslice)
        app.router.add_get("/v2.0/oa/getoa", self._getoa)

    def _check(self, request: web.Request) -> web.Response | None:
        if request.headers.get("access_token", "") not in self.valid_tokens:
            return _zalo(None, -216, "Access token is invalid")
        if self.calls_allowed is not None:
            if self.calls_allowed <= 0:
                return _zalo(None, -32, "Exceed rate limit")
            self.calls_allowed -= 1
        return None

    async def _getslice(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.calls.append(("getslice", query))
        if (problem := self._check(request)) is not None:
            return problem
        try:
            offset, limit = int(query.get("offset", "0")), int(query.get("limit", "10"))
        except ValueError:
            return _zalo(None, -201, "offset and limit must be numbers")
        if query.get("type") not in {"normal", "video"}:
            return _zalo(None, -201, "type accept only 2 value normal and video.")
        if not 1 <= limit <= 10 or offset < 0:
            return _zalo(None, -201, "limit must be between 1 and 10")
        if self.pages_forever:
            medias = [
                {"id": f"filler{offset + i}", "title": "…", "type": query["type"], "total_view": 1, "total_share": 0}
                for i in range(limit)
            ]
            return _zalo({"medias": medias, "total": offset + limit + 1})
        listed = [a for a in self.articles if a.type == query["type"]]
        medias = [
            {
                "id": a.id,
                "title": a.title,
                "type": a.type,
                "status": "show",
                "total_view": a.views,
                "total_share": a.shares,
            }
            for a in listed[offset : offset + limit]
        ]
        return _zalo({"medias": medias, "total": len(listed)})

    async def _getoa(self, request: web.Request) -> web.Response:
        self.calls.append(("getoa", {}))
        if (problem := self._check(request)) is not None:
            return problem
        return _zalo({"oa_id": "579745863508352884", "name": "Phường 1", "num_follower": self.followers})
