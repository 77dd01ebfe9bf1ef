"""Publisher logic with an in-process fake adapter and producer: holds, failures, resume data, planning."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loa_core.channel_registry import ChannelRegistry
from loa_core.channels import Channel
from loa_core.contracts import (
    DEAD_LETTER,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    ChannelState,
    ChannelUpdated,
    Event,
    PostDecision,
    PostFailed,
    PostText,
    Rendition,
    RenditionsReady,
    TopicSpec,
    new_id,
)
from loa_publisher.adapters import PermanentError, PostResult, PublishRequest, RetryableError, UploadSession
from loa_publisher.decide import AWAITING_APPROVAL, DISCONNECTED, rejected_because
from loa_publisher.ledger import Ledger, PostKey, PostState
from loa_publisher.notify import AwaitingApproval
from loa_publisher.publish import Publisher, plan_posts
from tests.support.publishing import event_for, metadata

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Event]] = []

    async def send(self, spec: TopicSpec, event: Event) -> None:
        self.sent.append((spec.name, event))


@dataclass(frozen=True)
class FakeUpload:
    upload_url: str
    sent: int = 0


class FakeAdapter:
    platform = "tiktok"

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.sessions_seen: list[FakeUpload | None] = []
        self.requests: list[PublishRequest] = []

    async def publish(self, request: PublishRequest, session: UploadSession) -> PostResult:
        self.requests.append(request)
        self.sessions_seen.append(session.load(FakeUpload))
        session.save(FakeUpload("https://u/1", sent=len(self.sessions_seen)))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return PostResult(post_id=outcome, url=f"https://t/{outcome}")


def rendition(profile: str) -> Rendition:
    return Rendition(
        profile=profile,
        key=f"renditions/x/{profile}.mp4",
        width=1080,
        height=1920,
        duration_s=10.0,
        size_bytes=100,
        video_codec="h264",
        audio_codec="aac",
    )


class Clock:
    now = NOW

    def __call__(self) -> datetime:
        return self.now


def make(tmp_path: Path, adapter: FakeAdapter) -> tuple[Publisher, FakeProducer, Ledger, Clock]:
    clock = Clock()
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", clock=clock)
    producer = FakeProducer()
    channels = {"tt": Channel(name="tt", platform="tiktok", profiles=("tiktok",))}
    publisher = Publisher(
        channels=channels,
        adapters={"tiktok": adapter},
        ledger=ledger,
        producer=producer,  # type: ignore[arg-type]
        hold_after_transient=timedelta(minutes=5),
        clock=clock,
    )
    return publisher, producer, ledger, clock


def test_plan_reports_unknown_channels_and_missing_cuts() -> None:
    channels = {"tt": Channel(name="tt", platform="tiktok", profiles=("tiktok", "cover"))}
    event = event_for(new_id(), metadata(("tt", "ghost")), rendition("tiktok"))
    posts, problems = plan_posts(event, channels)
    assert [(p.channel.name, p.rendition.profile) for p in posts] == [("tt", "tiktok")]
    assert problems == [
        "channel 'tt' wants the 'cover' cut, which was not produced",
        "channel 'ghost' is not configured in the publisher",
    ]


async def test_transient_failure_is_held_then_resumed_with_the_saved_session(tmp_path: Path) -> None:
    adapter = FakeAdapter(RetryableError("tiktok: 503 through the whole backoff"), "pub-1")
    publisher, producer, ledger, clock = make(tmp_path, adapter)
    event = event_for(new_id(), metadata(("tt",)), rendition("tiktok"))
    await publisher.handle(event)  # no exception: the Kafka record is done, the ledger holds the post
    entry = ledger.get(event.footage_id, "tt", "tiktok")
    assert entry is not None and entry.state is PostState.SCHEDULED
    assert entry.due_at == NOW + timedelta(minutes=5) and "503" in (entry.error or "")
    assert producer.sent == []
    assert await publisher.run_due() == 0
    clock.now = NOW + timedelta(minutes=5)
    assert await publisher.run_due() == 1
    assert adapter.sessions_seen == [None, FakeUpload("https://u/1", sent=1)]  # resumed, not restarted
    assert [name for name, _ in producer.sent] == [POSTS_PUBLISHED.name]
    assert ledger.get(event.footage_id, "tt", "tiktok").state is PostState.POSTED  # type: ignore[union-attr]


async def test_permanent_failure_is_posts_failed_and_raised_for_the_dead_letter(tmp_path: Path) -> None:
    adapter = FakeAdapter(PermanentError("HTTP 400: privacy_level invalid, access_token=abc123"))
    publisher, producer, ledger, _ = make(tmp_path, adapter)
    event = event_for(new_id(), metadata(("tt",)), rendition("tiktok"))
    with pytest.raises(PermanentError, match="tiktok: HTTP 400"):
        await publisher.handle(event)
    ((name, failed),) = producer.sent
    assert name == POSTS_FAILED.name and "privacy_level invalid" in failed.reason  # type: ignore[attr-defined]
    assert "abc123" not in failed.reason  # type: ignore[attr-defined]
    entry = ledger.get(event.footage_id, "tt", "tiktok")
    assert entry is not None and entry.state is PostState.FAILED and entry.session is None


async def test_a_past_publish_time_posts_at_once_and_a_future_one_holds(tmp_path: Path) -> None:
    adapter = FakeAdapter("pub-1", "pub-2")
    publisher, _, ledger, clock = make(tmp_path, adapter)
    past = event_for(new_id(), metadata(("tt",), publish_at={"tt": NOW - timedelta(hours=1)}), rendition("tiktok"))
    await publisher.handle(past)
    assert len(adapter.requests) == 1
    future_at = NOW + timedelta(days=1)
    future = event_for(new_id(), metadata(("tt",), publish_at={"tt": future_at}), rendition("tiktok"))
    await publisher.handle(future)
    assert len(adapter.requests) == 1
    assert ledger.next_due() == future_at
    clock.now = future_at
    assert await publisher.run_due() == 1
    assert adapter.requests[-1].footage_id == future.footage_id


async def test_no_adapter_for_the_platform_is_permanent(tmp_path: Path) -> None:
    publisher, _, _, _ = make(tmp_path, FakeAdapter())
    publisher.adapters = {}
    event = event_for(new_id(), metadata(("tt",)), rendition("tiktok"))
    with pytest.raises(PermanentError, match="no adapter for platform 'tiktok'"):
        await publisher.handle(event)


async def test_a_held_post_whose_worker_died_mid_upload_is_resumed_by_the_scheduler(tmp_path: Path) -> None:
    adapter = FakeAdapter("pub-1")
    publisher, producer, ledger, _ = make(tmp_path, adapter)
    event = event_for(new_id(), metadata(("tt",)), rendition("tiktok"))
    key = PostKey(event.footage_id, "tt", "tiktok")
    # What a worker leaves behind when it is killed while posting a held post: UPLOADING with a session, and no
    # Kafka record that will ever bring it back (renditions.ready was committed when the post was held).
    ledger.mark_pending(key, event.model_dump_json(), "default")
    ledger.save_session(key, {"upload_url": "https://u/0", "sent": 0})
    assert await publisher.run_due() == 0  # fresh: its worker may still be uploading
    publisher.abandoned_after = timedelta(0)
    assert await publisher.run_due() == 1
    assert adapter.sessions_seen == [FakeUpload("https://u/0", sent=0)]  # resumed with its session
    assert ledger.get(*vars(key).values()).state is PostState.POSTED  # type: ignore[union-attr]
    assert [name for name, _ in producer.sent] == [POSTS_PUBLISHED.name]


async def test_an_upload_in_progress_keeps_its_row_fresh(tmp_path: Path) -> None:
    started, finish = asyncio.Event(), asyncio.Event()

    class SlowAdapter(FakeAdapter):
        async def publish(self, request: PublishRequest, session: UploadSession) -> PostResult:
            session.save(FakeUpload("https://u/1"))
            started.set()
            await finish.wait()
            return PostResult(post_id="p", url="https://t/p")

    publisher, _, ledger, clock = make(tmp_path, SlowAdapter())
    publisher.heartbeat = timedelta(seconds=0.01)
    event = event_for(new_id(), metadata(("tt",)), rendition("tiktok"))
    task = asyncio.create_task(publisher.handle(event))
    await started.wait()
    key = PostKey(event.footage_id, "tt", "tiktok")
    first = ledger.updated_at(key)
    deadline = asyncio.get_running_loop().time() + 30
    while ledger.updated_at(key) == first and asyncio.get_running_loop().time() < deadline:
        clock.now += timedelta(seconds=1)  # the heartbeat writes the time it beats at
        await asyncio.sleep(0.01)
    assert ledger.updated_at(key) != first  # the heartbeat touched it while the upload ran
    finish.set()
    await task


async def test_on_a_shared_ledger_a_live_upload_of_another_worker_is_left_alone(tmp_path: Path) -> None:
    adapter = FakeAdapter("pub-1")
    publisher, _, ledger, _ = make(tmp_path, adapter)
    ledger.shared = True  # as a PostgreSQL ledger is
    event = event_for(new_id(), metadata(("tt",)), rendition("tiktok"))
    key = PostKey(event.footage_id, "tt", "tiktok")
    ledger.mark_pending(key, event.model_dump_json(), "default")  # another worker is uploading it (fresh heartbeat)
    ledger.save_session(key, {"upload_url": "https://u/9"})
    await publisher.handle(event)  # the redelivery after a rebalance
    assert adapter.requests == []
    publisher.abandoned_after = timedelta(0)  # that worker's heartbeat stops
    assert await publisher.run_due() == 1
    assert adapter.sessions_seen == [FakeUpload("https://u/9")]


async def test_on_an_embedded_ledger_an_in_flight_row_is_resumed_at_once(tmp_path: Path) -> None:
    adapter = FakeAdapter("pub-1")
    publisher, _, ledger, _ = make(tmp_path, adapter)
    event = event_for(new_id(), metadata(("tt",)), rendition("tiktok"))
    key = PostKey(event.footage_id, "tt", "tiktok")
    ledger.mark_pending(key, event.model_dump_json(), "default")  # left by this very worker before it was killed
    ledger.save_session(key, {"upload_url": "https://u/3"})
    await publisher.handle(event)
    assert adapter.sessions_seen == [FakeUpload("https://u/3")]


async def test_a_held_post_whose_channel_was_removed_fails_out_loud(tmp_path: Path) -> None:
    adapter = FakeAdapter()
    publisher, producer, ledger, clock = make(tmp_path, adapter)
    at = NOW + timedelta(hours=1)
    event = event_for(new_id(), metadata(("tt",), publish_at={"tt": at}), rendition("tiktok"))
    await publisher.handle(event)  # held until its publish time
    publisher.channels = {}  # the channel is taken out of the configuration meanwhile
    clock.now = at
    assert await publisher.run_due() == 1
    reason = "channel 'tt' or its 'tiktok' cut is no longer configured"
    assert [(name, getattr(e, "reason", "")) for name, e in producer.sent] == [
        (POSTS_FAILED.name, reason),
        (DEAD_LETTER.name, f"PermanentError: {reason}"),
    ]
    entry = ledger.get(event.footage_id, "tt", "tiktok")
    assert entry is not None and (entry.state, entry.error) == (PostState.FAILED, reason)
    assert adapter.requests == []


async def test_a_redelivered_post_is_announced_again_as_the_same_event(tmp_path: Path) -> None:
    adapter = FakeAdapter("pub-1")
    publisher, producer, _, _ = make(tmp_path, adapter)
    event = event_for(new_id(), metadata(("tt",)), rendition("tiktok"))
    await publisher.handle(event)
    await publisher.handle(event)  # redelivered: the offset was not committed before a crash or a rebalance
    assert len(adapter.requests) == 1
    first, again = (e for name, e in producer.sent if name == POSTS_PUBLISHED.name)
    assert again.event_id == first.event_id
    assert again.model_copy(update={"occurred_at": first.occurred_at}) == first  # only the sending time differs


async def test_a_post_to_a_disconnected_channel_waits_and_goes_out_once_it_is_connected(tmp_path: Path) -> None:
    adapter = FakeAdapter("pub-1")
    publisher, producer, ledger, _ = make(tmp_path, adapter)
    tt = Channel(name="tt", platform="tiktok", profiles=("tiktok",))
    registry = ChannelRegistry()
    registry.apply(ChannelUpdated(channel=tt.model_copy(update={"state": ChannelState.DISCONNECTED}), revision=1))
    publisher.channels = registry
    event = event_for(new_id(), metadata(("tt",)), rendition("tiktok"))
    await publisher.handle(event)  # no exception: the record is done, the post waits in the ledger
    entry = ledger.get(event.footage_id, "tt", "tiktok")
    assert entry is not None and (entry.state, entry.error) == (PostState.SCHEDULED, DISCONNECTED)
    assert await publisher.run_due() == 1  # asked again: still disconnected, left as it is
    assert ledger.get(event.footage_id, "tt", "tiktok") == entry
    assert adapter.requests == [] and producer.sent == []
    registry.apply(ChannelUpdated(channel=tt, revision=2))  # a ward admin reconnected it
    assert await publisher.run_due() == 1
    assert len(adapter.requests) == 1 and [name for name, _ in producer.sent] == [POSTS_PUBLISHED.name]
    assert ledger.get(event.footage_id, "tt", "tiktok").state is PostState.POSTED  # type: ignore[union-attr]


# --- approval -----------------------------------------------------------------------------------------------------

CUT_SHA, OTHER_SHA = "c" * 64, "d" * 64


def approving(tmp_path: Path, *outcomes: str) -> tuple[Publisher, FakeProducer, Ledger, FakeAdapter, Notices]:
    adapter = FakeAdapter(*outcomes)
    publisher, producer, ledger, _ = make(tmp_path, adapter)
    publisher.channels = {
        "tt": Channel(name="tt", platform="tiktok", profiles=("tiktok",), ward="p1", approval_required=True)
    }
    notices = Notices()
    publisher.notify = notices.append_async
    return publisher, producer, ledger, adapter, notices


class Notices(list[AwaitingApproval]):
    """The notices the publisher sent the approvers."""

    async def append_async(self, notice: AwaitingApproval) -> None:
        self.append(notice)


def cut_event() -> RenditionsReady:
    return event_for(new_id(), metadata(("tt",)), rendition("tiktok").model_copy(update={"sha256": CUT_SHA}))


def decision_on(
    event: RenditionsReady, verdict: str = "approved", *, cut: str = CUT_SHA, text: PostText | None = None
) -> PostDecision:
    return PostDecision(
        footage_id=event.footage_id,
        ward="p1",
        channel="tt",
        decision=verdict,  # type: ignore[arg-type]
        by="acc-approver",
        reason="Sai tên đồng chí Bí thư" if verdict == "rejected" else None,
        cuts={"tiktok": cut},
        text=text,
        text_sha256=(text or PostText.of(event.metadata)).sha256(),
    )


async def test_a_post_waits_for_an_approval_of_exactly_its_cut_and_goes_out_once(tmp_path: Path) -> None:
    publisher, producer, ledger, adapter, notices = approving(tmp_path, "pub-1")
    event = cut_event()
    await publisher.handle(event)
    entry = ledger.get(event.footage_id, "tt", "tiktok")
    assert entry is not None and (entry.state, entry.error) == (PostState.SCHEDULED, AWAITING_APPROVAL)
    assert await publisher.run_due() == 1 and ledger.get(event.footage_id, "tt", "tiktok") == entry  # still waits
    assert await publisher.decided(decision_on(event, cut=OTHER_SHA)) == 1  # another cut: asked, still waits
    assert adapter.requests == [] and producer.sent == []
    # The ward's approvers heard of it once, with exactly what waits.
    assert [(n.footage_id, n.ward, n.channel, n.cut_sha256) for n in notices] == [
        (event.footage_id, "p1", "tt", CUT_SHA)
    ]
    assert notices[0].text_sha256 == PostText.of(event.metadata).sha256()
    changed = PostText(title="Lễ kỷ niệm Cách mạng Tháng Tám", hashtags=("#BếnNghé",))
    assert await publisher.decided(decision_on(event, text=changed)) == 1
    assert [(r.text.title, r.text.hashtags) for r in adapter.requests] == [(changed.title, changed.hashtags)]
    await publisher.handle(event)  # redelivered
    await publisher.run_due()
    assert len(adapter.requests) == 1 and [n for n, _ in producer.sent] == [POSTS_PUBLISHED.name] * 2


async def test_a_rejected_post_never_goes_out_and_the_editor_hears_why(tmp_path: Path) -> None:
    publisher, producer, ledger, adapter, _ = approving(tmp_path, "pub-1")
    event = cut_event()
    await publisher.handle(event)
    await publisher.decided(decision_on(event, "rejected"))
    entry = ledger.get(event.footage_id, "tt", "tiktok")
    reason = rejected_because("Sai tên đồng chí Bí thư")
    assert entry is not None and (entry.state, entry.error) == (PostState.REJECTED, reason)
    ((name, failed),) = producer.sent
    assert name == POSTS_FAILED.name and isinstance(failed, PostFailed)
    assert (failed.reason, failed.retryable) == (reason, False)
    await publisher.handle(event)  # redelivered, retried, asked again: nothing more is said or posted
    assert publisher.retry(event.footage_id, None) == []
    await publisher.run_due()
    assert adapter.requests == [] and len(producer.sent) == 1
    # An approver who changes their mind approves exactly this cut: then, and only then, it goes out.
    await publisher.decided(decision_on(event))
    assert len(adapter.requests) == 1 and ledger.get(event.footage_id, "tt", "tiktok").state is PostState.POSTED  # type: ignore[union-attr]


async def test_a_decision_before_the_renditions_is_applied_when_they_come(tmp_path: Path) -> None:
    publisher, producer, _, adapter, notices = approving(tmp_path, "pub-1")
    event = cut_event()
    assert await publisher.decided(decision_on(event)) == 0  # no post yet: only kept
    older = decision_on(event, "rejected").model_copy(update={"occurred_at": NOW - timedelta(days=1)})
    assert await publisher.decided(older) == 0  # an older decision arriving late does not replace it
    await publisher.handle(event)
    assert len(adapter.requests) == 1 and adapter.requests[0].text.title.startswith("Lễ kỷ niệm 80 năm")
    assert [n for n, _ in producer.sent] == [POSTS_PUBLISHED.name]
    assert notices == []  # it never waited: nobody is asked
