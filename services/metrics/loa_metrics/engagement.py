"""Engagement polling: views, likes, comments, shares per post and followers per channel, within quotas.

Quotas, from the platforms' documentation:
- YouTube Data API: a project has 10,000 units a day by default; videos.list and channels.list cost 1 unit
  per call whatever the number of ids (up to 50). Uploads (videos.insert) spend from the same pot, so the
  poller only takes its configured share, counted over a sliding 24 h window.
- TikTok: /v2/video/query/ (up to 20 ids) and /v2/user/info/ allow 600 requests a minute each (sliding
  1-minute window); the poller keeps well below with its own per-minute budget.
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
FOLLOWERS_INTERVAL = timedelta(hours=6)


class StatsError(Exception):
    """The platform answered with an error for this call; the next round tries again."""


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

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
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
        return True

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

    async def followers(self, creds: Credentials) -> int: ...


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

    async def _get(self, path: str, params: dict[str, str], creds: Credentials) -> dict[str, Any]:
        headers, auth_params = self._auth(creds)
        response = await self._http.get(f"{self._base}{path}", params={**params, **auth_params}, headers=headers)
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        reasons = {
            e.get("reason") for e in (_json(response).get("error", {}).get("errors") or []) if isinstance(e, dict)
        }
        if response.status_code == 403 and reasons & {"quotaExceeded", "dailyLimitExceeded", "rateLimitExceeded"}:
            # The daily quota resets at midnight Pacific time; waiting an hour and asking again is cheap.
            raise QuotaExhausted(f"YouTube quota: {sorted(r for r in reasons if r)}", retry_after_s=3600)
        raise StatsError(f"YouTube {path} answered {response.status_code}: {response.text[:300]}")

    async def video_stats(self, ids: list[str], creds: Credentials) -> dict[str, PostStats]:
        if len(ids) > self.max_ids:
            raise ValueError(f"at most {self.max_ids} ids per videos.list call")
        body = await self._get("/youtube/v3/videos", {"part": "statistics", "id": ",".join(ids)}, creds)
        out = {}
        for item in body.get("items", []):
            s = item.get("statistics", {})
            out[item["id"]] = PostStats(
                _int(s.get("viewCount")), _int(s.get("likeCount")), _int(s.get("commentCount")), None
            )
        return out

    async def followers(self, creds: Credentials) -> int:
        body = await self._get("/youtube/v3/channels", {"part": "statistics", "mine": "true"}, creds)
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

    async def followers(self, creds: Credentials) -> int:
        path = "/v2/user/info/"
        response = await self._http.get(
            f"{self._base}{path}",
            params={"fields": "follower_count"},
            headers={"Authorization": f"Bearer {creds.access_token}"},
        )
        return _int(self._check(response, path).get("user", {}).get("follower_count"))


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
                    stats = await self._call(client, client.video_stats(batch, channel_creds))
                    if stats is None:
                        continue
                    updated += self._store.record_post_stats(client.platform, stats, now)
                    self._store.mark_polled(client.platform, [i for i in batch if i not in stats], now)
            await self._poll_followers(client, creds, now, budget)
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
            count = await self._call(client, client.followers(creds[channel.name]))
            if count is not None:
                self._store.record_followers(channel.name, client.platform, count, now)

    async def _call(self, client: StatsClient, call: Any) -> Any:
        """Run one platform call; a plain error is logged and counted, a quota error stops the round."""
        try:
            result = await call
        except QuotaExhausted:
            raise
        except (StatsError, httpx.HTTPError, ValueError, KeyError) as exc:
            metrics.ENGAGEMENT_POLLS.labels(client.platform, "error").inc()
            log.warning("%s statistics call failed: %s", client.platform, exc)
            return None
        metrics.ENGAGEMENT_POLLS.labels(client.platform, "ok").inc()
        return result
