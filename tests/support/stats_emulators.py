"""Small, strict emulators of the platforms' *statistics* endpoints, over real HTTP (aiohttp, own thread).

YouTube Data API v3: GET /youtube/v3/videos?part=statistics&id=a,b (≤ 50 ids, 1 quota unit per call,
counts as strings, unknown ids left out) and GET /youtube/v3/channels?part=statistics&mine=true; a spent
quota answers 403 with reason quotaExceeded. TikTok: POST /v2/video/query/?fields=… with
{"filters": {"video_ids": [...]}} (≤ 20 ids) and GET /v2/user/info/?fields=follower_count, each answering
{"data": …, "error": {"code": "ok", …}}; over the per-minute limit: 429 rate_limit_exceeded.
"""

from __future__ import annotations

import json
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

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/youtube/v3/videos", self._videos)
        app.router.add_get("/youtube/v3/channels", self._channels)

    def _figures(self, video_id: str) -> Figures | None:
        found = self.videos.get(video_id)
        if found is None and self.figures_for is not None:
            found = self.figures_for(video_id)
        return found

    def _check(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.valid_tokens:
            return _yt_error(401, "authError", "Invalid Credentials")
        if request.query.get("part") != "statistics":
            return _yt_error(400, "invalidPart", "this emulator serves part=statistics only")
        if self.quota_remaining is not None:
            if self.quota_remaining <= 0:
                return _yt_error(
                    403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota."
                )
            self.quota_remaining -= 1
        return None

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
        if (problem := self._check(request)) is not None:
            return problem
        if request.query.get("mine") != "true":
            return _yt_error(400, "missingRequiredParameter", "this emulator serves mine=true only")
        stats = {
            "viewCount": "0",
            "subscriberCount": str(self.subscribers),
            "hiddenSubscriberCount": False,
            "videoCount": "1",
        }
        return web.json_response(
            {"kind": "youtube#channelListResponse", "items": [{"id": "UCward", "statistics": stats}]}
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
