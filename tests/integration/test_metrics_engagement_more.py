"""Facebook Page video insights, Zalo OA article counters and every platform's followers over time, polled over real
HTTP from strict emulators into a real SQLite projection: paging, rate limits and refused tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from loa_core.channels import Channel
from loa_metrics.engagement import (
    ZALO_MAX_PAGES,
    Budget,
    Credentials,
    FacebookStats,
    Poller,
    StatsClient,
    TikTokStats,
    YouTubeStats,
    ZaloStats,
)
from loa_metrics.projection import Projection, open_projection
from tests.support.metrics_events import T0, new_id, published, uploaded
from tests.support.stats_emulators import (
    Article,
    FacebookStatsEmulator,
    Figures,
    TikTokStatsEmulator,
    YouTubeStatsEmulator,
    ZaloStatsEmulator,
)

CHANNELS = {
    "fb": Channel(name="fb", platform="facebook", profiles=("youtube",), options={"page_id": "1001"}),
    "zl": Channel(name="zl", platform="zalo", profiles=("zalo",)),
    "yt": Channel(name="yt", platform="youtube", profiles=("youtube",)),
    "tt": Channel(name="tt", platform="tiktok", profiles=("tiktok",)),
}
CREDS = {
    "fb": Credentials(access_token="fb-page-token"),
    "zl": Credentials(access_token="zalo-token"),
    "yt": Credentials(access_token="yt-token"),
    "tt": Credentials(access_token="tt-token"),
}
NOW = T0 + timedelta(minutes=5)


@pytest.fixture
def facebook(tmp_path: Path) -> Iterator[FacebookStatsEmulator]:
    with FacebookStatsEmulator(tmp_path / "fb") as emulator:
        yield emulator  # type: ignore[misc]


@pytest.fixture
def zalo(tmp_path: Path) -> Iterator[ZaloStatsEmulator]:
    with ZaloStatsEmulator(tmp_path / "zl") as emulator:
        yield emulator  # type: ignore[misc]


@pytest.fixture
def projection(tmp_path: Path) -> Iterator[Projection]:
    p = open_projection(tmp_path / "p.sqlite3", CHANNELS)
    for channel, platform, profile, ids in (
        ("fb", "facebook", "youtube", [str(900 + i) for i in range(3)]),
        ("zl", "zalo", "zalo", [f"art{i}" for i in range(25)]),
    ):
        for post_id in ids:
            fid = new_id()
            p.events.footage_uploaded(uploaded(fid, series="Họp dân", channels=(channel,)))
            p.events.post_published(published(fid, profile, channel=channel, platform=platform, post_id=post_id))
    yield p
    p.close()


def poller(projection: Projection, clients: list[StatsClient], **budgets: int) -> Poller:
    return Poller(
        projection.engagement,
        projection.channels,
        clients,
        {name: Budget(budgets.get(name, 100), 3600) for name in ("facebook", "zalo", "youtube", "tiktok")},
        lambda: CREDS,
    )


def views(projection: Projection, platform: str) -> dict[str, int | None]:
    rows = projection.views.list_posts(ward=None, platform=platform)
    return {r["post_id"]: r["views"] for r in rows}


async def test_facebook_insights_follow_paging_and_zalo_pages_the_article_list(
    projection: Projection, facebook: FacebookStatsEmulator, zalo: ZaloStatsEmulator
) -> None:
    facebook.videos = {"900": Figures(120, 0, 0), "901": Figures(7, 0, 0)}  # 902 was deleted on Facebook
    facebook.followers = 3456
    # 40 articles: the 25 posted from Loa among others, newest first; one video article the OA hid is not listed.
    zalo.articles = [Article(f"other{i}", "Khác", 1) for i in range(15)]
    zalo.articles += [Article(f"art{i}", f"Bài {i}", 100 + i, shares=i) for i in range(24)]
    zalo.articles.insert(3, Article("note", "Thông báo", 5, type="normal"))
    zalo.followers = 789

    async with httpx.AsyncClient() as http:
        clients: list[StatsClient] = [FacebookStats(http, facebook.base_url, "v21.0"), ZaloStats(http, zalo.base_url)]
        assert await poller(projection, clients).poll_once(NOW) == {"facebook": 2, "zalo": 24}

    # video_insights answers a metric a page: both pages of each video were read.
    assert [c for c in facebook.calls if c[0] == "video_insights"] == [
        ("video_insights", "900"),
        ("video_insights", "900"),
        ("video_insights", "901"),
        ("video_insights", "901"),
        ("video_insights", "902"),
    ]
    assert views(projection, "facebook") == {"900": 120, "901": 7, "902": None}
    # The list is read 10 at a time, videos only, until it ends (39 video articles: 4 pages).
    slices = [q for kind, q in zalo.calls if kind == "getslice"]
    assert [(q["offset"], q["limit"], q["type"]) for q in slices] == [
        ("0", "10", "video"),
        ("10", "10", "video"),
        ("20", "10", "video"),
        ("30", "10", "video"),
    ]
    zalo_views = views(projection, "zalo")
    assert zalo_views["art0"] == 100 and zalo_views["art23"] == 123 and zalo_views["art24"] is None
    shares = {r["post_id"]: r["shares"] for r in projection.views.list_posts(ward=None, platform="zalo")}
    assert shares["art5"] == 5

    assert {r["channel"]: r["followers"] for r in projection.engagement.followers()} == {"fb": 3456, "zl": 789}
    assert ("node", "1001") in facebook.calls and ("getoa", {}) in zalo.calls
    # A deleted Facebook video and the Zalo article not listed wait their turn like any other polled post.
    due = {p.post_id: p.stats_at for p in projection.engagement.published_posts("facebook")}
    assert due["902"] is not None


async def test_rate_limits_pause_the_platform_and_a_refused_token_stops_only_its_channel(
    projection: Projection, facebook: FacebookStatsEmulator, zalo: ZaloStatsEmulator
) -> None:
    facebook.videos = {"900": Figures(1, 0, 0), "901": Figures(2, 0, 0), "902": Figures(3, 0, 0)}
    facebook.calls_allowed = 3  # 900's two pages, 901's first: then code 32
    zalo.valid_tokens = {"another"}  # the OA's token was revoked: -216
    async with httpx.AsyncClient() as http:
        clients: list[StatsClient] = [FacebookStats(http, facebook.base_url, "v21.0"), ZaloStats(http, zalo.base_url)]
        p = poller(projection, clients)
        assert await p.poll_once(NOW) == {"facebook": 1, "zalo": 0}
        fb_calls, zl_calls = len(facebook.calls), len(zalo.calls)
        assert zl_calls == 1, "a refused token: no further call for that channel this round, not even getoa"
        # The Page said stop: the next round leaves Facebook alone, and asks Zalo again (nothing recorded).
        facebook.calls_allowed = None
        await p.poll_once(NOW + timedelta(minutes=1))
        assert len(facebook.calls) == fb_calls
        assert len(zalo.calls) == zl_calls + 1
    assert views(projection, "zalo") == dict.fromkeys((f"art{i}" for i in range(25)), None)
    assert [p.stats_at for p in projection.engagement.published_posts("zalo")] == [None] * 25, "still due"


async def test_a_zalo_list_that_pages_forever_stops(projection: Projection, zalo: ZaloStatsEmulator) -> None:
    zalo.pages_forever = True
    async with httpx.AsyncClient() as http:
        result = await poller(projection, [ZaloStats(http, zalo.base_url)], zalo=1).poll_once(NOW)
    assert result == {"zalo": 0}
    assert len([c for c in zalo.calls if c[0] == "getslice"]) == ZALO_MAX_PAGES
    # None of the asked articles was listed: each is marked polled, so the next round does not page again at once.
    assert all(p.stats_at is not None for p in projection.engagement.published_posts("zalo"))


async def test_followers_of_every_platform_are_kept_as_a_daily_series(
    tmp_path: Path, facebook: FacebookStatsEmulator, zalo: ZaloStatsEmulator
) -> None:
    projection = open_projection(tmp_path / "series.sqlite3", CHANNELS)
    youtube, tiktok = YouTubeStatsEmulator(tmp_path / "yt"), TikTokStatsEmulator(tmp_path / "tt")
    with youtube, tiktok:
        async with httpx.AsyncClient() as http:
            clients: list[StatsClient] = [
                FacebookStats(http, facebook.base_url, "v21.0"),
                ZaloStats(http, zalo.base_url),
                YouTubeStats(http, youtube.base_url),
                TikTokStats(http, tiktok.base_url),
            ]
            p = poller(projection, clients)
            start = T0.replace(day=1, hour=1)  # 2026-11-01: the day before is October's last
            for day, count in ((-1, 100), (0, 110), (10, 150), (10.5, 160), (29, 190), (30, 200)):
                facebook.followers = zalo.followers = youtube.subscribers = tiktok.followers = count
                await p.poll_once(start + timedelta(days=day))
    series = projection.engagement.followers_series(date(2026, 11, 1), date(2026, 12, 1), ward=None)
    fb = [(r["day"], r["followers"]) for r in series if r["channel"] == "fb"]
    # October's last point stands for the month's start; two polls on one day keep the day's last; December is out.
    assert fb == [
        ("2026-11-01", 100),
        ("2026-11-01", 110),
        ("2026-11-11", 160),
        ("2026-11-30", 190),
    ]
    assert {r["channel"] for r in series} == {"fb", "zl", "yt", "tt"}
    assert {r["ward"] for r in series} == {"default"}
    assert projection.engagement.followers_series(date(2026, 11, 1), date(2026, 12, 1), ward="phuong-2") == []
    projection.close()
