"""Publisher end to end in one process: real Kafka, real ledger, the YouTube and TikTok emulators over real HTTP.

Redelivery never posts twice; quota exhaustion holds the post; a publish time holds it across a restart; a
permanent error becomes posts.failed + a dead letter with the platform's message; `retry` re-drives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from loa_core.channels import Channel
from loa_core.contracts import (
    DEAD_LETTER,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    DeadLetter,
    PostFailed,
    PostPublished,
    RenditionsReady,
    new_id,
)
from loa_core.kafka import EventProducer
from loa_core.secrets import SecretBox, new_key
from loa_core.storage import LocalStorage
from loa_core.streaming import process_record
from loa_dev.kafka import KafkaBroker
from loa_publisher.adapters import Adapter
from loa_publisher.adapters.tiktok import TikTokAdapter
from loa_publisher.adapters.youtube import YouTubeAdapter
from loa_publisher.auth import Secrets
from loa_publisher.ledger import Ledger, PostKey, PostState
from loa_publisher.publish import Publisher
from tests.support.emulators.tiktok import MB, TikTokEmulator
from tests.support.emulators.youtube import ALIGN, YouTubeEmulator
from tests.support.kafka import read_topic
from tests.support.publishing import FAST, event_for, metadata, stored_rendition


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def youtube(tmp_path: Path) -> Iterator[YouTubeEmulator]:
    with YouTubeEmulator(tmp_path / "yt") as emu:
        yield emu


@pytest.fixture
def tiktok(tmp_path: Path) -> Iterator[TikTokEmulator]:
    with TikTokEmulator(tmp_path / "tt") as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


class World:
    def __init__(
        self,
        tmp_path: Path,
        broker: KafkaBroker,
        prefix: str,
        youtube: YouTubeEmulator,
        tiktok: TikTokEmulator,
        http: httpx.AsyncClient,
    ) -> None:
        self.tmp_path, self.broker, self.prefix = tmp_path, broker, prefix
        self.youtube, self.tiktok, self.http = youtube, tiktok, http
        self.storage = LocalStorage(tmp_path / "storage")
        self.producer = EventProducer(broker.bootstrap, prefix)
        self.clock = Clock()
        self.channels = {
            "ward-yt": Channel(
                name="ward-yt",
                platform="youtube",
                profiles=("youtube",),
                options={"base_url": youtube.base_url, "token_url": f"{youtube.base_url}/token"},
            ),
            "ward-tt": Channel(
                name="ward-tt", platform="tiktok", profiles=("tiktok",), options={"base_url": tiktok.base_url}
            ),
        }
        self.secrets = Secrets(
            None,
            {
                "LOA_SECRET_WARD_YT_CLIENT_ID": youtube.client_id,
                "LOA_SECRET_WARD_YT_CLIENT_SECRET": youtube.client_secret,
                "LOA_SECRET_WARD_YT_REFRESH_TOKEN": youtube.refresh_token,
                "LOA_SECRET_WARD_TT_CLIENT_KEY": "ck",
                "LOA_SECRET_WARD_TT_CLIENT_SECRET": "cs",
                "LOA_SECRET_WARD_TT_REFRESH_TOKEN": "rft-1",
            },
        )
        # TikTok's refresh tokens rotate: the ledger keeps them, encrypted with the operator's key.
        self.secret_box = SecretBox([new_key()])
        self.ledger = Ledger.open(tmp_path / "ledger.sqlite3", clock=self.clock, secrets=self.secret_box)
        self.publisher = self.start()

    def start(self) -> Publisher:
        """A (re)started publisher: new adapters and a reopened ledger, same files."""
        self.ledger.close()
        self.ledger = Ledger.open(self.tmp_path / "ledger.sqlite3", clock=self.clock, secrets=self.secret_box)
        adapters: dict[str, Adapter] = {
            "youtube": YouTubeAdapter(
                self.storage, self.http, self.secrets, self.ledger, chunk_size=ALIGN, policy=FAST
            ),
            "tiktok": TikTokAdapter(
                self.storage, self.http, self.secrets, self.ledger, chunk_size=5 * MB, policy=FAST, poll_s=0.01
            ),
        }
        self.publisher = Publisher(
            channels=self.channels,
            adapters=adapters,
            ledger=self.ledger,
            producer=self.producer,
            give_up_after=timedelta(hours=1),
            clock=self.clock,
        )
        return self.publisher

    def event(self, channels: tuple[str, ...], **extra: object) -> RenditionsReady:
        footage_id = new_id()
        renditions = [stored_rendition(self.storage, ALIGN * 3 + 10, "youtube", footage_id)]
        renditions.append(stored_rendition(self.storage, 2 * MB, "tiktok", footage_id))
        return event_for(footage_id, metadata(channels, **extra), *renditions)

    async def topic(self, spec_name: str, count: int, timeout_s: float = 30.0) -> list[bytes]:
        topic = f"{self.prefix}{spec_name}"
        records = await asyncio.to_thread(
            read_topic, self.broker.bootstrap, topic, lambda r: len(r) >= count, timeout_s
        )
        return [r.value for r in records]

    async def handle(self, event: RenditionsReady) -> None:
        """Through the same path a Kafka record takes in the worker (retry / dead-letter classification)."""
        await process_record(
            event.to_bytes(),
            spec=RENDITIONS_READY,
            topic=RENDITIONS_READY.full_name(self.prefix),
            partition=0,
            offset=0,
            service="publisher",
            handler=self.publisher.handle,
            producer=self.producer,
            retries=0,
        )


@pytest.fixture
async def world(
    tmp_path: Path,
    kafka_broker: KafkaBroker,
    topic_prefix: str,
    youtube: YouTubeEmulator,
    tiktok: TikTokEmulator,
    http: httpx.AsyncClient,
) -> AsyncIterator[World]:
    w = World(tmp_path, kafka_broker, topic_prefix, youtube, tiktok, http)
    yield w
    await w.producer.stop()
    w.ledger.close()


def uploads_metric(platform: str, outcome: str) -> float:
    labels = {"platform": platform, "outcome": outcome}
    return REGISTRY.get_sample_value("loa_publisher_uploads_total", labels) or 0.0


async def test_redelivered_event_never_posts_twice(world: World) -> None:
    before = uploads_metric("youtube", "ok")
    event = world.event(("ward-yt", "ward-tt"))
    await world.handle(event)
    await world.handle(event)  # redelivery (a rebalance, a crash before the commit)
    world.publisher = world.start()
    await world.handle(event)  # and again after a restart
    assert len(world.youtube.videos) == 1 and len(world.youtube.sessions) == 1
    assert len(world.tiktok.videos) == 1 and len(world.tiktok.publishes) == 1
    published = [PostPublished.from_bytes(v) for v in await world.topic(POSTS_PUBLISHED.name, 6)]
    assert uploads_metric("youtube", "ok") - before == 1  # three deliveries, one upload
    # Every delivery announces (consumers upsert), always with the same post ids.
    assert len(published) == 6
    assert {(p.channel, p.post_id) for p in published} == {
        ("ward-yt", next(iter(world.youtube.videos))),
        ("ward-tt", next(iter(world.tiktok.publishes))),  # private TikTok post: the publish id names it
    }


async def test_quota_exhausted_holds_the_post_and_it_goes_out_when_due(world: World) -> None:
    world.youtube.quota_remaining = 0
    event = world.event(("ward-yt",))
    await world.handle(event)
    entry = world.ledger.get(event.footage_id, "ward-yt", "youtube")
    assert entry is not None and entry.state is PostState.SCHEDULED
    assert entry.due_at is not None and entry.due_at > world.clock.now
    assert "quotaExceeded" not in (entry.error or "") and "quota" in (entry.error or "")
    assert await world.publisher.run_due() == 0  # not yet
    world.youtube.quota_remaining = None
    world.clock.now = entry.due_at
    world.publisher = world.start()  # the next day, after a restart
    assert await world.publisher.run_due() == 1
    assert len(world.youtube.videos) == 1
    # A quota wait is not a failure. (Every send before this point has returned, so it is on the broker:
    # a few seconds of reading from the start would find a posts.failed if one had been sent.)
    assert await world.topic(POSTS_FAILED.name, 1, timeout_s=3.0) == []


async def test_publish_time_holds_tiktok_and_hands_youtube_publish_at(world: World) -> None:
    at = (world.clock.now + timedelta(hours=3)).replace(microsecond=0)
    event = world.event(("ward-yt", "ward-tt"), publish_at={"ward-yt": at, "ward-tt": at})
    await world.handle(event)
    # YouTube schedules itself: uploaded now, private until publishAt.
    session = next(iter(world.youtube.sessions.values()))
    assert session.meta["status"] == {
        "privacyStatus": "private",
        "publishAt": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "selfDeclaredMadeForKids": False,
    }
    assert len(world.youtube.videos) == 1
    # TikTok cannot: held in the ledger, across a restart, and posted once the time has come.
    assert world.tiktok.publishes == {}
    world.publisher = world.start()
    world.clock.now = at - timedelta(seconds=1)
    assert await world.publisher.run_due() == 0
    await world.handle(event)  # a redelivery while held does not post early
    assert world.tiktok.publishes == {}
    world.clock.now = at
    assert await world.publisher.run_due() == 1
    assert len(world.tiktok.videos) == 1
    assert await world.publisher.run_due() == 0


async def test_permanent_error_is_posts_failed_and_a_dead_letter_then_retry_redrives(world: World) -> None:
    world.youtube.inject("status", on="init", status=400)
    event = world.event(("ward-yt",))
    await world.handle(event)
    failed = [PostFailed.from_bytes(v) for v in await world.topic(POSTS_FAILED.name, 1)]
    assert len(failed) == 1 and failed[0].channel == "ward-yt" and "Backend Error" in failed[0].reason
    letters = [DeadLetter.from_bytes(v) for v in await world.topic(DEAD_LETTER.name, 1)]
    assert len(letters) == 1 and "Backend Error" in letters[0].reason
    assert world.youtube.videos == {}
    await world.handle(event)  # a redelivery does not retry a failed post by itself
    assert world.youtube.count("init") == 1
    world.youtube.inject("status", on="init", status=400)
    assert world.publisher.retry(event.footage_id, None) == [PostKey(event.footage_id, "ward-yt", "youtube")]
    assert await world.publisher.run_due() == 1  # fails again: posts.failed and a dead letter again
    letters = [DeadLetter.from_bytes(v) for v in await world.topic(DEAD_LETTER.name, 2)]
    assert len(letters) == 2 and RenditionsReady.model_validate_json(letters[1].original_value) == event
    assert len(await world.topic(POSTS_FAILED.name, 2)) == 2
    world.publisher.retry(event.footage_id, None)
    assert await world.publisher.run_due() == 1
    assert len(world.youtube.videos) == 1
    entry = world.ledger.get(event.footage_id, "ward-yt", "youtube")
    assert entry is not None and entry.state is PostState.POSTED


async def test_unknown_channel_is_dead_lettered(world: World) -> None:
    event = world.event(("ward-yt", "nowhere"))
    await world.handle(event)
    letters = [DeadLetter.from_bytes(v) for v in await world.topic(DEAD_LETTER.name, 1)]
    assert "'nowhere' is not configured" in letters[0].reason
    assert len(world.youtube.videos) == 1  # the configured channel still got its post


async def test_a_failure_reason_names_the_platform_once(world: World) -> None:
    world.tiktok.inject("status", on="creator_info", status=503, times=FAST.attempts)  # down through the backoff
    event = world.event(("ward-tt",))
    await world.handle(event)
    held = world.ledger.get(event.footage_id, "ward-tt", "tiktok")
    assert held is not None and held.state is PostState.SCHEDULED
    assert held.error == f"tiktok: creator info: gave up after {FAST.attempts} attempts: HTTP 503: emulated fault"
    world.tiktok.creator["privacy_level_options"] = ["MUTUAL_FOLLOW_FRIENDS"]  # SELF_ONLY is not offered
    world.clock.now += timedelta(minutes=5)
    assert await world.publisher.run_due() == 1
    failed = [PostFailed.from_bytes(v) for v in await world.topic(POSTS_FAILED.name, 1)]
    expected = "tiktok: privacy level SELF_ONLY is not offered to this creator (offered: ['MUTUAL_FOLLOW_FRIENDS'])"
    assert [f.reason for f in failed] == [expected]
    letters = [DeadLetter.from_bytes(v) for v in await world.topic(DEAD_LETTER.name, 1)]
    assert [letter.reason for letter in letters] == [f"PermanentError: {expected}"]


async def test_a_post_failing_for_too_long_shows_as_failed_and_loa_retry_resumes_it(world: World) -> None:
    # TikTok stays down through three attempts (each one a whole backoff): at once, 5 minutes later, an hour later.
    world.tiktok.inject("status", on="creator_info", status=503, times=3 * FAST.attempts)
    event = world.event(("ward-tt",))
    await world.handle(event)
    world.clock.now += timedelta(minutes=5)
    assert await world.publisher.run_due() == 1
    entry = world.ledger.get(event.footage_id, "ward-tt", "tiktok")
    assert entry is not None and entry.state is PostState.SCHEDULED  # still within the hour: held, quietly
    world.clock.now += timedelta(hours=1)
    assert await world.publisher.run_due() == 1
    entry = world.ledger.get(event.footage_id, "ward-tt", "tiktok")
    last_error = f"tiktok: creator info: gave up after {FAST.attempts} attempts: HTTP 503: emulated fault"
    assert entry is not None and (entry.state, entry.error) == (PostState.FAILED, last_error)
    failed = [PostFailed.from_bytes(v) for v in await world.topic(POSTS_FAILED.name, 1)]
    assert [(f.channel, f.reason, f.retryable) for f in failed] == [("ward-tt", last_error, True)]
    world.clock.now += timedelta(hours=1)
    assert await world.publisher.run_due() == 0  # failed posts wait for a person
    # TikTok is back; `loa retry` re-drives the post.
    assert world.publisher.retry(event.footage_id, None) == [PostKey(event.footage_id, "ward-tt", "tiktok")]
    assert await world.publisher.run_due() == 1
    assert len(world.tiktok.videos) == 1
    entry = world.ledger.get(event.footage_id, "ward-tt", "tiktok")
    assert entry is not None and entry.state is PostState.POSTED and entry.failing_since is None
