"""The TikTok adapter against a strict Content Posting API emulator over real HTTP, with injected faults."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from loa_core.channels import Channel
from loa_core.contracts import Image, layout, new_id, utc_now
from loa_core.hashing import sha256_file
from loa_core.secrets import SecretBox, new_key
from loa_core.storage import LocalStorage
from loa_publisher.adapters import PermanentError, RetryableError, UploadSession
from loa_publisher.adapters.http import RetryPolicy
from loa_publisher.adapters.tiktok import TikTokAdapter, cover_timestamp_ms
from loa_publisher.auth import Secrets
from loa_publisher.ledger import Ledger, PostKey
from tests.support.emulators.tiktok import MB, TikTokEmulator
from tests.support.publishing import FAST, ledger_session, metadata, request_for, stored_rendition


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[TikTokEmulator]:
    with TikTokEmulator(tmp_path / "tiktok") as emu:
        yield emu


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", secrets=SecretBox([new_key()]))
    yield ledger
    ledger.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


class Harness:
    def __init__(self, tmp_path: Path, emulator: TikTokEmulator, ledger: Ledger, http: httpx.AsyncClient) -> None:
        self.emulator, self.ledger, self.http = emulator, ledger, http
        self.storage = LocalStorage(tmp_path / "storage")
        self.footage_id = new_id()
        self.meta = metadata(("ward-tt",))
        self.key = PostKey(self.footage_id, "ward-tt", "tiktok")
        self.secrets = Secrets(
            None,
            environ={
                "LOA_SECRET_WARD_TT_CLIENT_KEY": "ck",
                "LOA_SECRET_WARD_TT_CLIENT_SECRET": "cs",
                "LOA_SECRET_WARD_TT_REFRESH_TOKEN": "rft-1",
            },
        )

    def channel(self, **options: str | bool) -> Channel:
        return Channel(
            name="ward-tt",
            platform="tiktok",
            profiles=("tiktok",),
            options={"base_url": self.emulator.base_url, **options},
        )

    def adapter(
        self, policy: RetryPolicy = FAST, chunk_size: int = 5 * MB, clock: Callable[[], datetime] = utc_now
    ) -> TikTokAdapter:
        return TikTokAdapter(
            self.storage,
            self.http,
            self.secrets,
            self.ledger,
            chunk_size=chunk_size,
            policy=policy,
            poll_s=0.01,
            clock=clock,
        )

    async def publish(
        self,
        size: int,
        channel: Channel | None = None,
        adapter: TikTokAdapter | None = None,
        session: UploadSession | None = None,
    ) -> str:
        if not (self.storage.root / layout.rendition_key(self.footage_id, "tiktok")).exists():
            self.rendition = stored_rendition(self.storage, size, profile="tiktok", footage_id=self.footage_id)
        result = await (adapter or self.adapter()).publish(
            request_for(channel or self.channel(), self.rendition, self.footage_id, self.meta),
            session or ledger_session(self.ledger, self.key),
        )
        return result.post_id

    def assert_one_identical_video(self) -> None:
        assert len(self.emulator.videos) == 1
        video = next(iter(self.emulator.videos.values()))
        assert sha256_file(video.path) == sha256_file(self.storage.root / self.rendition.key)


@pytest.fixture
def h(tmp_path: Path, emulator: TikTokEmulator, ledger: Ledger, http: httpx.AsyncClient) -> Harness:
    return Harness(tmp_path, emulator, ledger, http)


async def test_direct_post_in_chunks_is_polled_to_completion(h: Harness) -> None:
    h.emulator.public_ids = True
    post_id = await h.publish(11 * MB + 12345)
    h.assert_one_identical_video()
    publish = next(iter(h.emulator.publishes.values()))
    assert (publish.chunk_size, publish.count) == (5 * MB, 2)  # the last chunk absorbs the remainder
    assert publish.post_info["privacy_level"] == "SELF_ONLY"
    assert publish.post_info["disable_duet"] is True  # the creator disabled duets
    assert publish.post_info["title"].startswith("Lễ kỷ niệm 80 năm") and "#phườngBếnNghé" in publish.post_info["title"]
    assert post_id == next(iter(h.emulator.videos))
    assert h.emulator.count("status") >= 3  # polled through processing


async def test_inbox_upload_of_a_small_file_goes_whole(h: Harness) -> None:
    await h.publish(3 * MB, channel=h.channel(mode="inbox"))
    h.assert_one_identical_video()
    publish = next(iter(h.emulator.publishes.values()))
    assert (publish.mode, publish.count, publish.status) == ("inbox", 1, "SEND_TO_USER_INBOX")


async def test_faults_are_survived_and_the_rotated_refresh_token_is_stored(h: Harness) -> None:
    h.emulator.inject("drop", on="chunk", after_bytes=MB)
    h.emulator.inject("status", on="chunk", status=500)
    h.emulator.inject("status", on="status", status=429, retry_after="0")
    h.emulator.inject("expire_token", on="status")
    await h.publish(11 * MB)
    h.assert_one_identical_video()
    assert h.emulator.refresh_calls == 2
    assert h.ledger.refresh_token("ward-tt", "") == h.emulator.refresh_token == "rft-3"


async def test_privacy_level_must_be_offered_by_the_creator(h: Harness) -> None:
    h.emulator.creator["privacy_level_options"] = ["SELF_ONLY"]
    with pytest.raises(PermanentError, match="PUBLIC_TO_EVERYONE is not offered"):
        await h.publish(3 * MB, channel=h.channel(privacy_level="PUBLIC_TO_EVERYONE"))
    assert h.emulator.publishes == {}


async def test_too_long_for_the_creator_is_refused_before_upload(h: Harness) -> None:
    h.emulator.creator["max_video_post_duration_sec"] = 10  # the cut lasts 12 s
    with pytest.raises(PermanentError, match="at most 10 s"):
        await h.publish(3 * MB)
    assert h.emulator.publishes == {}


async def test_an_interrupted_upload_resumes_at_the_next_chunk(h: Harness) -> None:
    # The first chunk goes through, then the platform fails long enough for the adapter to give up.
    h.emulator.inject("status", on="chunk", status=503, times=2, skip=1)
    with pytest.raises(RetryableError):
        await h.publish(16 * MB, adapter=h.adapter(RetryPolicy(attempts=2, initial_s=0.01, max_s=0.02)))
    sent_before = h.emulator.count("chunk")
    await h.publish(16 * MB)  # a new adapter (a restarted publisher); the session comes from the ledger
    h.assert_one_identical_video()
    assert len(h.emulator.publishes) == 1
    ranges = [d for k, d in h.emulator.requests if k == "chunk"][sent_before:]
    assert ranges == [f"bytes {5 * MB}-{10 * MB - 1}/{16 * MB}", f"bytes {10 * MB}-{16 * MB - 1}/{16 * MB}"]


async def test_expired_upload_url_starts_a_new_publish(h: Harness) -> None:
    h.emulator.inject("expire_url", on="chunk", skip=1)  # the URL dies after the first chunk
    await h.publish(11 * MB)
    h.assert_one_identical_video()
    assert len(h.emulator.publishes) == 2  # the first was abandoned unfinished; nothing was posted twice


async def test_init_rate_limit_is_waited_out_as_retry_after_says(h: Harness) -> None:
    # A window of 10 s, not 1: on a loaded machine three publishes can take over a second, and the third init would
    # then find the window empty (CI saw it). The wait it causes is what is left of the 10 s.
    h.emulator.init_limit, h.emulator.init_window_s = 2, 10.0
    for _ in range(3):
        h.footage_id = new_id()
        h.key = PostKey(h.footage_id, "ward-tt", "tiktok")
        await h.publish(1 * MB)
    assert h.emulator.count("rate_limited") >= 1  # the third init met the limit, waited, then went through
    assert len(h.emulator.videos) == 3


async def test_a_cut_over_64_mb_goes_in_several_chunks_whatever_the_setting(h: Harness) -> None:
    # With a 40 MiB setting a 70 MiB cut is under two chunks; sent as one it would break TikTok's 64 MB rule.
    await h.publish(70 * MB, adapter=h.adapter(chunk_size=40 * MB))
    h.assert_one_identical_video()
    publish = next(iter(h.emulator.publishes.values()))
    assert (publish.chunk_size, publish.count) == (35 * MB, 2)


class Crash(Exception):
    """The publisher process dies here."""


def dies_before_recording_the_upload(ledger: Ledger, key: PostKey) -> UploadSession:
    """A ledger session whose process dies after TikTok took the last chunk, before the ledger records it."""

    def save(data: dict[str, object]) -> None:
        if data.get("uploaded"):
            raise Crash
        ledger.save_session(key, data)

    return UploadSession(None, _save=save, _clear=lambda: ledger.clear_session(key))


def two_hours_later() -> datetime:
    return utc_now() + timedelta(hours=2)


async def test_a_publish_completed_before_a_crash_is_not_posted_again_hours_later(h: Harness) -> None:
    with pytest.raises(Crash):
        await h.publish(11 * MB, session=dies_before_recording_the_upload(h.ledger, h.key))
    publish = next(iter(h.emulator.publishes.values()))
    assert publish.received == 11 * MB  # TikTok has every chunk; the ledger only knows the publish began
    h.emulator.advance(2 * 3600)  # the restart comes after the upload_url's hour
    post_id = await h.publish(11 * MB, adapter=h.adapter(clock=two_hours_later))
    h.assert_one_identical_video()
    assert post_id == publish.id and len(h.emulator.publishes) == 1 and h.emulator.count("init") == 1


async def test_an_unfinished_upload_whose_url_expired_is_started_again_after_asking(h: Harness) -> None:
    h.emulator.inject("status", on="chunk", status=503, times=2, skip=1)  # the first chunk only, then a crash
    with pytest.raises(RetryableError):
        await h.publish(16 * MB, adapter=h.adapter(RetryPolicy(attempts=2, initial_s=0.01, max_s=0.02)))
    h.emulator.advance(2 * 3600)
    asked = len(h.emulator.requests)
    await h.publish(16 * MB, adapter=h.adapter(clock=two_hours_later))
    h.assert_one_identical_video()
    assert len(h.emulator.publishes) == 2  # the first never completed its upload, so it can never be posted
    kinds = [kind for kind, _ in h.emulator.requests[asked:] if kind in ("status", "init")]
    assert kinds[:2] == ["status", "init"]  # TikTok was asked before a new publish began


async def test_a_publish_tiktok_reports_failed_is_started_again(h: Harness) -> None:
    h.emulator.inject("status", on="chunk", status=503, times=2, skip=1)
    with pytest.raises(RetryableError):
        await h.publish(16 * MB, adapter=h.adapter(RetryPolicy(attempts=2, initial_s=0.01, max_s=0.02)))
    h.emulator.fail(next(iter(h.emulator.publishes)), "internal")
    await h.publish(16 * MB)
    h.assert_one_identical_video()
    assert len(h.emulator.publishes) == 2


async def test_the_picked_frame_is_the_covers_timestamp_and_none_is_sent_without_a_pick(h: Harness) -> None:
    h.rendition = stored_rendition(h.storage, 1 * MB, profile="tiktok", footage_id=h.footage_id)
    covers = tuple(
        Image(
            kind=f"cover-{n}", key=f"images/{h.footage_id}/cover-{n}.jpg", width=1080, height=1920, size_bytes=9, at_s=t
        )
        for n, t in ((1, 0.2), (2, 1.25), (3, 2.5))
    )
    plain = request_for(h.channel(), h.rendition, h.footage_id, h.meta)
    await h.adapter().publish(replace(plain, images=covers, frame=2), ledger_session(h.ledger, h.key))
    await h.adapter().publish(
        replace(plain, images=covers), ledger_session(h.ledger, PostKey(new_id(), "ward-tt", "tiktok"))
    )
    first, second = h.emulator.publishes.values()
    assert first.post_info["video_cover_timestamp_ms"] == 1250, "frame 2's time in the cut, in ms"
    assert "video_cover_timestamp_ms" not in second.post_info, "nothing picked: TikTok's own frame"
    with_intro = replace(
        plain, channel=h.channel().model_copy(update={"intro_key": "intros/x.mp4"}), images=covers, frame=2
    )
    assert cover_timestamp_ms(with_intro) is None, "an intro shifts the cut's time by an unknown length: not sent"
    default = Image(
        kind="cover", key=f"images/{h.footage_id}/cover.jpg", width=1080, height=1920, size_bytes=9, at_s=0.75
    )
    assert cover_timestamp_ms(replace(plain, images=(default, *covers))) == 750, "no pick: transcode's default cover"
