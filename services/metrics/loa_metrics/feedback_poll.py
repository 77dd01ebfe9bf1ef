"""Polling the platforms for comments: the HTTP side of loa_metrics.feedback_collect, one round at a time.

- YouTube: one listing per channel, `commentThreads.list?allThreadsRelatedToChannelId=…&part=snippet,replies&
  order=time&maxResults=100` (1 quota unit a call, spent from the same Budget as the statistics, so the poller's
  share of the project's quota covers both). The channel's id comes from its `channel_id` option, else from
  `channels.list?part=id&mine=true` once per process (1 unit). One listing per channel, not per video: 1,000
  videos cost what one does.
- Facebook: one listing per published video, `GET /{video-id}/comments?filter=stream&order=reverse_chronological`
  (`after` cursors), each video asked when due by its age like its statistics (engagement.poll_interval). A Page
  whose webhook is configured (`feedback_webhook` option true) is not polled: its comments arrive pushed.
- Zalo: messages come only by webhook (loa_metrics.feedback_webhooks). TikTok: nothing to collect
  (contracts.feedback.FEEDBACK_ABILITIES).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from loa_core.channels import Channel
from loa_core.contracts import FeedbackReceived
from loa_core.contracts.feedback import can
from loa_metrics import metrics
from loa_metrics.engagement import (
    Budget,
    Credentials,
    FacebookStats,
    QuotaExhausted,
    StatsError,
    YouTubeStats,
    poll_interval,
)
from loa_metrics.engagement_store import EngagementStore
from loa_metrics.feedback_collect import PAGE_CAP, Page, Seen, collect_listing, facebook_page, received, youtube_page
from loa_metrics.feedback_store import FeedbackStore

log = logging.getLogger(__name__)

CHANNEL_SCOPE = ""  # a listing of the whole channel (YouTube)
FB_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url"


class YouTubeComments:
    platform = "youtube"

    def __init__(self, api: YouTubeStats) -> None:
        self._api = api
        self._channel_ids: dict[str, str] = {}

    async def channel_id(self, channel: Channel, creds: Credentials, spend: Callable[[], bool]) -> str | None:
        """The channel's YouTube id: its option, or asked once (1 unit); None when the budget is spent."""
        known = channel.options.get("channel_id") or self._channel_ids.get(channel.name)
        if known:
            return str(known)
        if not spend():
            return None
        body = await self._api.get("/youtube/v3/channels", {"part": "id", "mine": "true"}, creds)
        items = body.get("items") or []
        if not items:
            raise StatsError("YouTube channels.list returned no channel for this token")
        self._channel_ids[channel.name] = str(items[0]["id"])
        return self._channel_ids[channel.name]

    async def threads(self, channel_id: str, page_token: str | None, creds: Credentials) -> Page:
        params = {
            "part": "snippet,replies",
            "allThreadsRelatedToChannelId": channel_id,
            "order": "time",
            "maxResults": "100",
            "textFormat": "plainText",
        }
        if page_token:
            params["pageToken"] = page_token
        return youtube_page(await self._api.get("/youtube/v3/commentThreads", params, creds), channel_id)


class FacebookComments:
    platform = "facebook"

    def __init__(self, api: FacebookStats) -> None:
        self._api = api

    async def comments(self, video_id: str, page_id: str | None, after: str | None, creds: Credentials) -> Page:
        """One page of a video's comments (errors as the statistics': 190 TokenRejected, rate limits QuotaExhausted)."""
        params = {
            "filter": "stream",  # replies too, each with its parent
            "order": "reverse_chronological",
            "fields": FB_FIELDS,
            "limit": "100",
        }
        if after:
            params["after"] = after
        body = await self._api.get(f"{self._api.graph}/{video_id}/comments", params, creds)
        return facebook_page(body, video_id, page_id)


Send = Callable[[FeedbackReceived], Awaitable[None]]


class _Spender:
    """One call's cost from a platform's budget, counted; remembers when the budget said no (the round stops)."""

    def __init__(self, platform: str, budget: Budget) -> None:
        self._platform = platform
        self._budget = budget
        self.exhausted = False

    def __call__(self) -> bool:
        if self._budget.try_spend():
            metrics.FEEDBACK_POLLS.labels(self._platform, "ok").inc()
            return True
        metrics.FEEDBACK_POLLS.labels(self._platform, "deferred").inc()
        self.exhausted = True
        return False


class FeedbackPoller:
    """One round of comment collection per `poll_once`, on every channel whose platform has comments to collect."""

    def __init__(
        self,
        store: FeedbackStore,
        engagement: EngagementStore,
        channels: Mapping[str, Channel],
        youtube: YouTubeComments,
        facebook: FacebookComments,
        budgets: Mapping[str, Budget],
        credentials: Callable[[], Mapping[str, Credentials]],
        send: Send,
        page_cap: int = PAGE_CAP,
    ) -> None:
        self._store = store
        self._engagement = engagement
        self._channels = channels
        self._youtube = youtube
        self._facebook = facebook
        self._budgets = budgets
        self._credentials = credentials
        self._send = send
        self._page_cap = page_cap

    async def poll_once(self, now: datetime | None = None) -> dict[str, int]:
        """Returns how many comments were sent, per channel."""
        now = now or datetime.now(UTC)
        creds = self._credentials()
        sent: dict[str, int] = {}
        posts = {p: self._engagement.published_posts(p) for p in ("youtube", "facebook")}
        for channel in sorted(self._channels.values(), key=lambda c: c.name):
            if not can(channel.platform, "comments") or channel.name not in creds:
                continue
            footage = {p.post_id: p.footage_id for p in posts.get(channel.platform, []) if p.channel == channel.name}
            budget = self._budgets[channel.platform]
            try:
                if channel.platform == "youtube":
                    sent[channel.name] = await self._youtube_round(channel, creds[channel.name], footage, budget, now)
                elif channel.platform == "facebook" and not channel.options.get("feedback_webhook"):
                    published = [p for p in posts["facebook"] if p.channel == channel.name]
                    due = [(p.post_id, p.published_at) for p in published]
                    sent[channel.name] = await self._facebook_round(channel, creds[channel.name], footage, due, now)
            except QuotaExhausted as exc:
                budget.block_for(exc.retry_after_s)
                metrics.FEEDBACK_POLLS.labels(channel.platform, "quota").inc()
                log.warning("%s comments: %s; pausing %.0f s", channel.name, exc, exc.retry_after_s)
            except (StatsError, httpx.HTTPError, ValueError, KeyError) as exc:
                metrics.FEEDBACK_POLLS.labels(channel.platform, "error").inc()
                log.warning("%s comments: %s", channel.name, exc)
        return sent

    def _sender(self, channel: Channel, footage: Mapping[str, str]) -> Callable[[Sequence[Seen]], Awaitable[None]]:
        async def send(comments: Sequence[Seen]) -> None:
            # A page's events together: the producer batches them, and the page counts as sent once all are acked.
            await asyncio.gather(*(self._send(received(channel, seen, footage.get)) for seen in comments))

        return send

    async def _youtube_round(
        self, channel: Channel, creds: Credentials, footage: Mapping[str, str], budget: Budget, now: datetime
    ) -> int:
        spend = _Spender("youtube", budget)
        channel_id = await self._youtube.channel_id(channel, creds, spend)
        if channel_id is None:
            return 0

        def save(cursor: Any) -> None:
            self._store.advance(channel.name, CHANNEL_SCOPE, cursor, now)

        return await collect_listing(
            self._store.cursor(channel.name, CHANNEL_SCOPE),
            lambda token: self._youtube.threads(channel_id, token, creds),
            self._sender(channel, footage),
            save,
            spend=spend,
            page_cap=self._page_cap,
        )

    async def _facebook_round(
        self,
        channel: Channel,
        creds: Credentials,
        footage: Mapping[str, str],
        videos: Sequence[tuple[str, str]],
        now: datetime,
    ) -> int:
        spend = _Spender("facebook", self._budgets["facebook"])
        page_id = str(channel.options["page_id"]) if channel.options.get("page_id") else None
        polled = self._store.polled_at(channel.name)
        sent = 0
        for video_id, published_at in videos:
            if spend.exhausted:
                break
            last = polled.get(video_id)
            if last is not None and now - datetime.fromisoformat(last) < poll_interval(
                now - datetime.fromisoformat(published_at)
            ):
                continue

            def save(cursor: Any, video_id: str = video_id) -> None:
                self._store.advance(channel.name, video_id, cursor, now)

            def fetch(after: str | None, video_id: str = video_id) -> Awaitable[Page]:
                return self._facebook.comments(video_id, page_id, after, creds)

            sent += await collect_listing(
                self._store.cursor(channel.name, video_id),
                fetch,
                self._sender(channel, footage),
                save,
                spend=spend,
                page_cap=self._page_cap,
            )
        return sent
