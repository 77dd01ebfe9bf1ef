"""Small, strict emulators of the platforms' *statistics* endpoints, over real HTTP (aiohttp, own thread).

YouTube Data API v3: GET /youtube/v3/videos?part=statistics&id=a,b (≤ 50 ids, 1 quota unit per call,
counts as strings, unknown ids left out) and GET /youtube/v3/channels?part=statistics&mine=true; a spent
quota answers 403 with reason quotaExceeded.
Comments: the one store of the channel's threads and replies (`comments`, tests.support.emulators.youtube_comments),
commentThreads.list for the poller, 1 quota unit a call (shared with the upload emulator's when a test runs both).
`expire_tokens()` makes every token answer 401 (an expired access token).
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.support.emulators import Emulator, Fault
from tests.support.emulators.youtube_comments import QUOTA_EXCEEDED, YouTubeComments, yt_error


@dataclass
class Figures:
    views: int
    likes: int
    comments: int
    shares: int = 0


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
        self.comments = YouTubeComments("UCward")

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/youtube/v3/videos", self._videos)
        app.router.add_get("/youtube/v3/channels", self._channels)
        self.comments.routes(app, self)

    def expire_tokens(self) -> None:
        self.valid_tokens = set()

    @property
    def channel_id(self) -> str:
        return self.comments.channel_id

    # --- the comments store's host: the token, the calls and the quota units

    def authorized(self, request: web.Request, on: str) -> tuple[web.Response | None, Fault | None]:
        self.calls.append((on, [request.query.get("pageToken", "")]))
        return self._token_refused(request), self.take_fault(on)

    def _token_refused(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.valid_tokens:
            return yt_error(401, "Invalid Credentials", "authError")
        return None

    def spend(self, fault: Fault | None, units: int, call: str) -> web.Response | None:
        if self.quota_remaining is not None:
            if self.quota_remaining < units:
                return yt_error(403, QUOTA_EXCEEDED, "quotaExceeded")
            self.quota_remaining -= units
        self.units_spent += units
        return None

    def _figures(self, video_id: str) -> Figures | None:
        found = self.videos.get(video_id)
        if found is None and self.figures_for is not None:
            found = self.figures_for(video_id)
        return found

    def _check(self, request: web.Request, parts: frozenset[str] = frozenset({"statistics"})) -> web.Response | None:
        if (refused := self._token_refused(request)) is not None:
            return refused
        asked = set(request.query.get("part", "").split(","))
        if not asked or not asked <= parts:
            return yt_error(400, f"this emulator serves part={','.join(sorted(parts))}", "invalidPart")
        return self.spend(None, 1, "statistics")

    async def _videos(self, request: web.Request) -> web.Response:
        ids = [i for i in request.query.get("id", "").split(",") if i]
        self.calls.append(("videos", ids))
        if (problem := self._check(request)) is not None:
            return problem
        if not ids:
            return yt_error(400, "No filter selected. Expected one of: id, myRating, chart", "missingRequiredParameter")
        if len(ids) > 50:
            return yt_error(400, "at most 50 ids", "invalidFilters")
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
            return yt_error(400, "this emulator serves mine=true only", "missingRequiredParameter")
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
