"""The comment poller against the strict YouTube emulator over real HTTP, into a real projection: a platform that
pages for ever (each round stops at its page cap and the next resumes: no loop, nothing lost or repeated), the
quota running out mid-listing (403 quotaExceeded: the round stops, the listing resumes once there is quota) and an
expired token (401: nothing collected, nothing lost, collected once the token is good)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loa_core.channels import Channel
from loa_core.contracts import FeedbackReceived
from loa_metrics.engagement import Budget, Credentials, YouTubeStats
from loa_metrics.feedback_poll import FacebookComments, FeedbackPoller, YouTubeComments
from loa_metrics.projection import Projection, open_projection
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.stats_emulators import YouTubeStatsEmulator

CHANNELS = {"p1-yt": Channel(name="p1-yt", platform="youtube", profiles=("youtube",), ward="p1")}
CREDS = {"p1-yt": Credentials(access_token="yt-token")}


@pytest.fixture
def youtube(tmp_path: Path) -> Iterator[YouTubeStatsEmulator]:
    with YouTubeStatsEmulator(tmp_path / "yt") as emulator:
        for i in range(250):  # three pages of 100
            emulator.comments.comment(f"vid{i % 7}", f"Ý kiến {i}", f"2026-12-01T{i // 60:02d}:{i % 60:02d}:00Z")
        yield emulator  # type: ignore[misc]


@pytest.fixture
def projection(tmp_path: Path) -> Iterator[Projection]:
    p = open_projection(tmp_path / "p.sqlite3", CHANNELS)
    yield p
    p.close()


class Round:
    """A poller whose sends are kept in the projection, as the consumer would (the Kafka leg is tested elsewhere)."""

    def __init__(self, projection: Projection, youtube: YouTubeStatsEmulator, http: httpx.AsyncClient) -> None:
        self.sent: list[FeedbackReceived] = []
        self.clock = [0.0]
        self.budget = Budget(2000, 24 * 3600, clock=lambda: self.clock[0])

        async def send(event: FeedbackReceived) -> None:
            self.sent.append(event)
            projection.feedback.record(event, event.written_at)

        self.poller = FeedbackPoller(
            projection.feedback,
            projection.engagement,
            CHANNELS,
            YouTubeComments(YouTubeStats(http, youtube.base_url)),
            FacebookComments(None),  # type: ignore[arg-type]  # no Facebook channel here
            {"youtube": self.budget},
            lambda: CREDS,
            send,
            page_cap=2,
        )


async def test_a_platform_that_pages_for_ever_is_read_a_page_cap_at_a_time_without_loss(
    youtube: YouTubeStatsEmulator, projection: Projection
) -> None:
    youtube.comments.pages_forever = True
    async with httpx.AsyncClient() as http:
        run = Round(projection, youtube, http)
        for _ in range(4):
            await run.poller.poll_once()
    calls = [c for c in youtube.calls if c[0] == "commentThreads"]
    assert len(calls) == 8, "two pages a round, four rounds: no runaway"
    assert [c[1][0] for c in calls] == [
        "",
        "QURTSl100",
        "QURTSl200",
        "QURTSl300",
        "QURTSl400",
        "QURTSl500",
        "QURTSl600",
        "QURTSl700",
    ], "each round resumes where the last stopped"
    ids = [e.external_id for e in run.sent]
    assert len(ids) == 250 == len(set(ids)), "every comment once"
    assert len(projection.feedback.items("p1", limit=1000)) == 250


async def test_quota_running_out_mid_listing_stops_the_round_and_the_listing_resumes_with_quota(
    youtube: YouTubeStatsEmulator, projection: Projection
) -> None:
    youtube.quota_remaining = 2  # channels.list and one page; the second page is refused
    async with httpx.AsyncClient() as http:
        run = Round(projection, youtube, http)
        await run.poller.poll_once()
        assert len(run.sent) == 100
        await run.poller.poll_once()  # the platform said stop: our budget waits (no call at all)
        calls = len(youtube.calls)
        assert len(run.sent) == 100
        youtube.quota_remaining = None  # a new day
        run.clock[0] += 3600
        await run.poller.poll_once()
        await run.poller.poll_once()
    assert len(youtube.calls) > calls
    # Every comment sent; the one at the mark may be sent again by the next listing (a comment in the same second
    # must not be missed), and its id makes it the same row.
    assert len({e.external_id for e in run.sent}) == 250
    assert len(projection.feedback.items("p1", limit=1000)) == 250


async def test_an_expired_token_collects_nothing_and_loses_nothing(
    youtube: YouTubeStatsEmulator, projection: Projection
) -> None:
    youtube.expire_tokens()
    async with httpx.AsyncClient() as http:
        run = Round(projection, youtube, http)
        await run.poller.poll_once()
        assert run.sent == [] and youtube.calls and all(c[0] == "channels" for c in youtube.calls)
        youtube.valid_tokens = {"yt-token"}  # connected again
        for _ in range(2):
            await run.poller.poll_once()
    assert len({e.external_id for e in run.sent}) == 250


async def test_a_reply_posted_on_the_platform_is_collected_as_the_channels_own_in_its_thread(
    tmp_path: Path, projection: Projection
) -> None:
    """One comment store for the platform: the publisher's side replies with comments.insert on the upload
    emulator, the poller lists the statistics emulator's commentThreads and finds that reply in its thread, written
    by the channel."""
    with YouTubeEmulator(tmp_path / "up") as upload, YouTubeStatsEmulator(tmp_path / "stats") as stats:
        stats.comments = upload.comments
        top = upload.comments.comment("vidA", "Nước sinh hoạt bị đục", "2026-12-01T08:00:00Z")
        async with httpx.AsyncClient() as http:
            made = await http.post(
                f"{upload.base_url}/youtube/v3/comments",
                params={"part": "snippet"},
                json={"snippet": {"parentId": top, "textOriginal": "Phường đã báo công ty cấp nước"}},
                headers={"Authorization": f"Bearer {upload.mint_token()}"},
            )
            assert made.status_code == 200, made.text
            reply = made.json()["id"]
            run = Round(projection, stats, http)
            await run.poller.poll_once()
    by_id = {e.external_id: e for e in run.sent}
    assert sorted(by_id) == sorted([top, reply])
    assert by_id[reply].thread_id == top and by_id[reply].by_channel and not by_id[top].by_channel
    assert by_id[top].text == "Nước sinh hoạt bị đục" and by_id[top].post_id == "vidA"
