"""Engagement polling: views, likes, comments, shares per post and followers per channel, within quotas.

Quotas, from the platforms' documentation:
- YouTube Data API: a project has 10,000 units a day by default; videos.list and channels.list cost 1 unit
  per call whatever the number of ids (up to 50). Uploads (videos.insert) spend from the same pot, so the
  poller only takes its configured share, counted over a sliding 24 h window.
- TikTok: /v2/video/query/ (up to 20 ids) and /v2/user/info/ allow 600 requests a minute each (sliding
  1-minute window); the poller keeps well below with its own per-minute budget.
- Facebook Page [docs: developers.facebook.com/docs/video-api/guides/insights]: `GET /{video-id}/video_insights`
  with the Page token answers lifetime metrics, among them `total_video_views` (3-second views) and
  `total_video_views_unique`; one video per call. Page followers: `GET /{page-id}?fields=followers_count`. Rate
  limits are per Page over a rolling 24 h (Business Use Case limits): errors with code 4, 17, 32, 613 or 80001
  mean stop; code 190 is an expired or revoked token. The poller takes its own hourly share.
- Zalo OA [2nd-hand, community SDKs; no official page was reachable]: `GET /v2.0/article/getslice?offset&limit&type`
  (header access_token; 10 a page, `data.medias` and `data.total`) lists the OA's articles with their counters;
  this poller reads `total_view` and `total_share` from each (the names the community code uses; unconfirmed) and
  pages until every asked id is found or the list ends, at most ZALO_MAX_PAGES pages. Followers:
  `GET /v2.0/oa/getoa` → `data.num_follower`. Errors come as HTTP 200 with `error` ≠ 0: -216/-124 are an
  invalid or expired token; -32 is taken as the rate limit (unconfirmed).
Fresh posts change fast and old ones barely move, so each post is polled on an interval that grows with
its age (`poll_interval`): a quota is spent where the figures actually change.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from loa_core.channels import Channel
from loa_metrics import metrics
from loa_metrics.engagement_store import EngagementStore, PostRef, PostStats

log = logging.getLogger(__name__)

YOUTUBE_MAX_IDS = 50
TIKTOK_MAX_IDS = 20
ZALO_PAGE = 10
ZALO_MAX_PAGES = 50  # 500 articles: a list that pages forever stops here
FACEBOOK_MAX_PAGES = 10  # pages of one video's insights (a metric a page)
FACEBOOK_RATE_CODES = {4, 17, 32, 613, 80001}
ZALO_TOKEN_ERRORS = {-216, -124}
ZALO_RATE_ERROR = -32
FOLLOWERS_INTERVAL = timedelta(hours=6)


class StatsError(Exception):
    """The platform answered with an error for this call; the next round tries again."""


class TokenRejected(StatsError):
    """The platform refused the channel's token (expired or revoked): nothing more is asked for that channel this
    round; whoever refreshes the channel's credentials makes the next round work."""


class _Gone(StatsError):
    """The platform does not know the object (deleted, or not the Page's)."""


class QuotaExhausted(StatsError):
    """The platform says the quota or rate limit is spent: stop calling it until `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def poll_interval(age: timedelta) -> timedelta:
    """How often a post's figures are worth asking for, by the post's age."""
    if age < timedelta(days=2):
        return timedelta(hours=1)
    if age < timedelta(days=30):
        return timedelta(hours=6)
    return timedelta(days=1)


def is_due(post: PostRef, now: datetime) -> bool:
    if post.stats_at is None:
        return True
    age = now - datetime.fromisoformat(post.published_at)
    return now - datetime.fromisoformat(post.stats_at) >= poll_interval(age)


def batches(ids: Sequence[str], size: int) -> list[list[str]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class Budget:
    """At most `limit` units in any sliding window of `window_s` seconds (in-process, so per replica)."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic, *, platform: str | None = None
    ) -> None:
        """`platform`: count what is spent in loa_quota_units_total and the window's gauges under that name."""
        self._platform = platform
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._spent: deque[tuple[float, int]] = deque()
        self._blocked_until = 0.0

    def _used(self, now: float) -> int:
        while self._spent and self._spent[0][0] <= now - self._window_s:
            self._spent.popleft()
        return sum(n for _, n in self._spent)

    def try_spend(self, units: int = 1) -> bool:
        now = self._clock()
        if now < self._blocked_until or self._used(now) + units > self._limit:
            return False
        self._spent.append((now, units))
        if self._platform is not None:
            metrics.QUOTA_UNITS.labels(self._platform).inc(units)
        self.export()
        return True

    def export(self) -> None:
        """Set the window's gauges to now (after every spend, and by the poller after every round, as the window
        slides)."""
        if self._platform is not None:
            metrics.QUOTA_WINDOW_USED.labels(self._platform).set(self.used())
            metrics.QUOTA_WINDOW_LIMIT.labels(self._platform).set(self._limit)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def window_s(self) -> float:
        return self._window_s

    def used(self) -> int:
        """Units spent within the window now."""
        return self._used(self._clock())

    def block_for(self, seconds: float) -> None:
        """The platform said stop: spend nothing until then, whatever our own count says."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)


@dataclass(frozen=True)
class Credentials:
    access_token: str | None = None
    api_key: str | None = None  # YouTube only: public statistics without a user token


def load_credentials(path: Path | None) -> dict[str, Credentials]:
    """{channel: {access_token, api_key}}; read every round, so whoever refreshes tokens just rewrites the file."""
    if path is None or not path.exists():
        return {}
    raw: dict[str, dict[str, str]] = json.loads(path.read_text())
    return {name: Credentials(c.get("access_token"), c.get("api_key")) for name, c in raw.items()}


class StatsClient(Protocol):
    platform: str
    max_ids: int

    def queryable(self, post_id: str) -> bool:
        """Whether the platform's statistics endpoint can know this id at all."""
        ...

    async def video_stats(self, ids: list[str], creds: Credentials) -> dict[str, PostStats]: ...

    async def followers(self, creds: Credentials, channel: Channel) -> int: ...


def _int(value: Any) -> int:
    # YouTube sends counts as strings ("123"); a hidden count is absent.
    return int(value) if value not in (None, "") else 0


class YouTubeStats:
    platform = "youtube"
    max_ids = YOUTUBE_MAX_IDS

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    def queryable(self, post_id: str) -> bool:
        return bool(post_id)

    def _auth(self, creds: Credentials) -> tuple[dict[str, str], dict[str, str]]:
        headers = {"Authorization": f"Bearer {creds.access_token}"} if creds.access_token else {}
        params = {"key": creds.api_key} if creds.api_key and not creds.access_token else {}
        return headers, params

    async def get(self, path: str, params: dict[str, str], creds: Credentials) -> dict[str, Any]:
        headers, auth_params = self._auth(creds)
        response = await self._http.get(f"{self._base}{path}", params={**params, **auth_params}, headers=headers)
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        reasons = {
            e.get("reason") for e in (_json(response).get("error", {}).get("errors") or []) if isinstance(e, dict)
        }
        if response.status_code == 401:
            raise TokenRejected(f"YouTube refused the token: {sorted(r for r in reasons if r)}")
        if response.status_code == 403 and reasons & {"quotaExceeded", "dailyLimitExceeded", "rateLimitExceeded"}:
            # The daily quota resets at midnight Pacific time; waiting an hour and asking again is cheap.
            raise QuotaExhausted(f"YouTube quota: {sorted(r for r in reasons if r)}", retry_after_s=3600)
        raise StatsError(f"YouTube {path} answered {response.status_code}: {response.text[:300]}")

    async def video_stats(self, ids: list[str], creds: Credentials) -> dict[str, PostStats]:
        if len(ids) > self.max_ids:
            raise ValueError(f"at most {self.max_ids} ids per videos.list call")
        body = await self.get("/youtube/v3/videos", {"part": "statistics", "id": ",".join(ids)}, creds)
        out = {}
        for item in body.get("items", []):
            s = item.get("statistics", {})
            out[item["id"]] = PostStats(
                _int(s.get("viewCount")), _int(s.get("likeCount")), _int(s.get("commentCount")), None
            )
        return out

    async def followers(self, creds: Credentials, channel: Channel) -> int:
        body = await self.get("/youtube/v3/channels", {"part": "statistics", "mine": "true"}, creds)
        items = body.get("items") or []
        if not items:
            raise StatsError("YouTube channels.list returned no channel for this token")
        return _int(items[0].get("statistics", {}).get("subscriberCount"))


class TikTokStats:
    platform = "tiktok"
    max_ids = TIKTOK_MAX_IDS

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    def queryable(self, post_id: str) -> bool:
        # A post that is private or still in the creator's inbox is known only by its publish id
        # ("v_pub_…"); only public videos have the numeric id /v2/video/query/ answers for.
        return post_id.isdigit()

    def _check(self, response: httpx.Response, path: str) -> dict[str, Any]:
        body = _json(response)
        code = (body.get("error") or {}).get("code")
        if response.status_code == 429 or code == "rate_limit_exceeded":
            raise QuotaExhausted("TikTok rate limit", retry_after_s=60)
        if code in {"access_token_invalid", "scope_not_authorized"}:
            raise TokenRejected(f"TikTok refused the token: {code}")
        if response.status_code != 200 or code != "ok":
            raise StatsError(f"TikTok {path} answered {response.status_code} {code}: {response.text[:300]}")
        data: dict[str, Any] = body.get("data") or {}
        return data

    async def video_stats(self, ids: list[str], creds: Credentials) -> dict[str, PostStats]:
        if len(ids) > self.max_ids:
            raise ValueError(f"at most {self.max_ids} ids per video/query call")
        path = "/v2/video/query/"
        response = await self._http.post(
            f"{self._base}{path}",
            params={"fields": "id,view_count,like_count,comment_count,share_count"},
            json={"filters": {"video_ids": ids}},
            headers={"Authorization": f"Bearer {creds.access_token}"},
        )
        data = self._check(response, path)
        return {
            str(v["id"]): PostStats(
                _int(v.get("view_count")),
                _int(v.get("like_count")),
                _int(v.get("comment_count")),
                _int(v.get("share_count")),
            )
            for v in data.get("videos", [])
        }

    async def followers(self, creds: Credentials, channel: Channel) -> int:
        path = "/v2/user/info/"
        response = await self._http.get(
            f"{self._base}{path}",
            params={"fields": "follower_count"},
            headers={"Authorization": f"Bearer {creds.access_token}"},
        )
        return _int(self._check(response, path).get("user", {}).get("follower_count"))


class FacebookStats:
    """Page video insights and Page followers through the Graph API, with the Page token."""

    platform = "facebook"
    max_ids = 1  # video_insights is one video's edge

    def __init__(self, http: httpx.AsyncClient, base_url: str, version: str) -> None:
        self._http = http
        self.graph = f"{base_url.rstrip('/')}/{version}"

    def queryable(self, post_id: str) -> bool:
        return post_id.isdigit()

    async def get(self, url: str, params: dict[str, str] | None, creds: Credentials) -> dict[str, Any]:
        response = await self._http.get(url, params=params, headers={"Authorization": f"OAuth {creds.access_token}"})
        body = _json(response)
        if response.status_code == 200:
            return body
        error = body.get("error") or {}
        code = error.get("code")
        if code == 190:
            raise TokenRejected(f"Facebook refused the Page token: {error.get('message', '')[:200]}")
        if code in FACEBOOK_RATE_CODES:
            raise QuotaExhausted(f"Facebook rate limit (code {code})", retry_after_s=3600)
        if code == 100 and error.get("error_subcode") == 33:  # "Object with ID ... does not exist"
            raise _Gone(str(error.get("message", ""))[:200])
        raise StatsError(f"Facebook answered {response.status_code}: {response.text[:300]}")

    async def video_stats(self, ids: list[str], creds: Credentials) -> dict[str, PostStats]:
        if len(ids) != 1:
            raise ValueError("one video per video_insights call")
        video_id = ids[0]
        metrics_: dict[str, int] = {}
        url: str | None = f"{self.graph}/{video_id}/video_insights"
        params: dict[str, str] | None = {"metric": "total_video_views,total_video_views_unique"}
        for _ in range(FACEBOOK_MAX_PAGES):
            if url is None:
                break
            try:
                body = await self.get(url, params, creds)
            except _Gone:
                return {}
            for metric in body.get("data") or []:
                values = metric.get("values") or [{}]
                metrics_[str(metric.get("name"))] = _int(values[-1].get("value"))
            url, params = (body.get("paging") or {}).get("next"), None  # `next` carries every parameter
        if "total_video_views" not in metrics_:
            return {}  # not the Page's video, or deleted: the poller marks it polled
        return {video_id: PostStats(metrics_["total_video_views"], 0, 0, None)}

    async def followers(self, creds: Credentials, channel: Channel) -> int:
        page_id = str(channel.options.get("page_id", ""))
        if not page_id:
            raise StatsError(f"channel {channel.name} has no page_id option")
        body = await self.get(f"{self.graph}/{page_id}", {"fields": "followers_count"}, creds)
        return _int(body.get("followers_count"))


class ZaloStats:
    """Zalo OA article counters (from the article list) and the OA's followers."""

    platform = "zalo"
    max_ids = ZALO_PAGE * ZALO_MAX_PAGES  # one listing of the OA's articles answers for all of them

    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")

    def queryable(self, post_id: str) -> bool:
        return bool(post_id)

    async def _get(self, path: str, params: dict[str, str], creds: Credentials) -> dict[str, Any]:
        response = await self._http.get(
            f"{self._base}{path}", params=params, headers={"access_token": creds.access_token or ""}
        )
        body = _json(response)
        code = body.get("error")
        if code in ZALO_TOKEN_ERRORS:
            raise TokenRejected(f"Zalo refused the token ({code}): {str(body.get('message'))[:200]}")
        if code == ZALO_RATE_ERROR or response.status_code == 429:
            raise QuotaExhausted("Zalo rate limit", retry_after_s=3600)
        if response.status_code != 200 or code != 0:
            raise StatsError(f"Zalo {path} answered {response.status_code} {code}: {response.text[:300]}")
        data: dict[str, Any] = body.get("data") or {}
        return data

    async def video_stats(self, ids: list[str], creds: Credentials) -> dict[str, PostStats]:
        wanted, out = set(ids), {}
        for page in range(ZALO_MAX_PAGES):
            params = {"offset": str(page * ZALO_PAGE), "limit": str(ZALO_PAGE), "type": "video"}
            data = await self._get("/v2.0/article/getslice", params, creds)
            medias = data.get("medias") or []
            for article in medias:
                if str(article.get("id")) in wanted:
                    out[str(article["id"])] = PostStats(
                        _int(article.get("total_view")), 0, 0, _int(article.get("total_share"))
                    )
            if len(out) == len(wanted) or not medias or (page + 1) * ZALO_PAGE >= _int(data.get("total")):
                break
        return out

    async def followers(self, creds: Credentials, channel: Channel) -> int:
        return _int((await self._get("/v2.0/oa/getoa", {}, creds)).get("num_follower"))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class Poller:
    """One polling round per call of `poll_once`; `budgets` keeps every platform within its quota."""

    def __init__(
        self,
        store: EngagementStore,
        channels: Mapping[str, Channel],
        clients: Sequence[StatsClient],
        budgets: Mapping[str, Budget],
        credentials: Callable[[], dict[str, Credentials]],
    ) -> None:
        self._store = store
        self._channels = channels
        self._clients = clients
        self._budgets = budgets
        self._credentials = credentials

    async def poll_once(self, now: datetime | None = None) -> dict[str, int]:
        """Returns how many posts got fresh figures, per platform."""
        now = now or datetime.now(UTC)
        creds = self._credentials()
        updated: dict[str, int] = {}
        for client in self._clients:
            updated[client.platform] = await self._poll_platform(client, creds, now)
        return updated

    async def _poll_platform(self, client: StatsClient, creds: Mapping[str, Credentials], now: datetime) -> int:
        budget = self._budgets[client.platform]
        due_by_channel: dict[str, list[PostRef]] = {}
        for post in self._store.published_posts(client.platform):
            if client.queryable(post.post_id) and is_due(post, now):
                due_by_channel.setdefault(post.channel, []).append(post)
        updated = 0
        rejected: set[str] = set()
        try:
            for channel, posts in sorted(due_by_channel.items()):
                channel_creds = creds.get(channel)
                if channel_creds is None:
                    metrics.ENGAGEMENT_POLLS.labels(client.platform, "no_credentials").inc()
                    continue
                for batch in batches([p.post_id for p in posts], client.max_ids):
                    if not budget.try_spend():
                        metrics.ENGAGEMENT_POLLS.labels(client.platform, "deferred").inc()
                        return updated
                    try:
                        stats = await self._call(client, client.video_stats(batch, channel_creds))
                    except TokenRejected:
                        rejected.add(channel)
                        break
                    if stats is None:
                        continue
                    updated += self._store.record_post_stats(client.platform, stats, now)
                    self._store.mark_polled(client.platform, [i for i in batch if i not in stats], now)
            await self._poll_followers(client, {c: v for c, v in creds.items() if c not in rejected}, now, budget)
        except QuotaExhausted as exc:
            budget.block_for(exc.retry_after_s)
            metrics.ENGAGEMENT_POLLS.labels(client.platform, "quota").inc()
            log.warning("%s: %s; pausing %.0f s", client.platform, exc, exc.retry_after_s)
        return updated

    async def _poll_followers(
        self, client: StatsClient, creds: Mapping[str, Credentials], now: datetime, budget: Budget
    ) -> None:
        last = {row["channel"]: row["polled_at"] for row in self._store.followers()}
        for channel in sorted(self._channels.values(), key=lambda c: c.name):
            if channel.platform != client.platform or channel.name not in creds:
                continue
            if channel.name in last and now - datetime.fromisoformat(last[channel.name]) < FOLLOWERS_INTERVAL:
                continue
            if not budget.try_spend():
                metrics.ENGAGEMENT_POLLS.labels(client.platform, "deferred").inc()
                return
            try:
                count = await self._call(client, client.followers(creds[channel.name], channel))
            except TokenRejected:
                continue
            if count is not None:
                self._store.record_followers(channel.name, channel.ward, client.platform, count, now)

    async def _call(self, client: StatsClient, call: Any) -> Any:
        """Run one platform call; a plain error is logged and counted, a quota error stops the round, a refused
        token stops the channel's round (raised on, counted)."""
        try:
            result = await call
        except QuotaExhausted:
            raise
        except TokenRejected as exc:
            metrics.ENGAGEMENT_POLLS.labels(client.platform, "token_rejected").inc()
            log.warning("%s refused a channel's token: %s", client.platform, exc)
            raise
        except (StatsError, httpx.HTTPError, ValueError, KeyError) as exc:
            metrics.ENGAGEMENT_POLLS.labels(client.platform, "error").inc()
            log.warning("%s statistics call failed: %s", client.platform, exc)
            return None
        metrics.ENGAGEMENT_POLLS.labels(client.platform, "ok").inc()
        return result
