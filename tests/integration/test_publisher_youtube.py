"""The YouTube adapter against a strict resumable-upload emulator over real HTTP, with injected faults."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from loa_core.channels import Channel
from loa_core.contracts import Image, layout, new_id
from loa_core.hashing import sha256_file
from loa_core.storage import LocalStorage
from loa_publisher.adapters import LivePost, PermanentError, PostText, QuotaExceeded, RetryableError
from loa_publisher.adapters.http import RetryPolicy
from loa_publisher.adapters.youtube import YouTubeAdapter
from loa_publisher.auth import Secrets
from loa_publisher.ledger import Ledger, PostKey, PostState
from tests.support.emulators.youtube import ALIGN, YouTubeEmulator
from tests.support.publishing import FAST, ledger_session, metadata, request_for, stored_rendition

CHUNK = 2 * ALIGN  # 512 KiB chunks: a 2.3 MiB file takes five of them
SIZE = 2 * 1024 * 1024 + 300_000


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[YouTubeEmulator]:
    with YouTubeEmulator(tmp_path / "youtube", refresh_token="1//rt-secret-value") as emu:
        yield emu


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    yield ledger
    ledger.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


def secrets_for(emulator: YouTubeEmulator, refresh_token: str | None = None) -> Secrets:
    return Secrets(
        None,
        environ={
            "LOA_SECRET_WARD_YT_CLIENT_ID": emulator.client_id,
            "LOA_SECRET_WARD_YT_CLIENT_SECRET": emulator.client_secret,
            "LOA_SECRET_WARD_YT_REFRESH_TOKEN": refresh_token or emulator.refresh_token,
        },
    )


def channel_for(emulator: YouTubeEmulator) -> Channel:
    return Channel(
        name="ward-yt",
        platform="youtube",
        profiles=("youtube",),
        options={"base_url": emulator.base_url, "token_url": f"{emulator.base_url}/token", "privacy": "public"},
    )


class Harness:
    def __init__(
        self, emulator: YouTubeEmulator, storage: LocalStorage, ledger: Ledger, http: httpx.AsyncClient
    ) -> None:
        self.emulator, self.storage, self.ledger, self.http = emulator, storage, ledger, http
        self.channel = channel_for(emulator)
        self.footage_id = new_id()
        self.rendition = stored_rendition(storage, SIZE, footage_id=self.footage_id)
        self.meta = metadata(("ward-yt",))
        self.key = PostKey(self.footage_id, "ward-yt", "youtube")

    def adapter(self, policy: RetryPolicy = FAST, refresh_token: str | None = None) -> YouTubeAdapter:
        return YouTubeAdapter(
            self.storage,
            self.http,
            secrets_for(self.emulator, refresh_token),
            self.ledger,
            chunk_size=CHUNK,
            policy=policy,
        )

    async def publish(self, adapter: YouTubeAdapter | None = None) -> str:
        adapter = adapter or self.adapter()
        result = await adapter.publish(
            request_for(self.channel, self.rendition, self.footage_id, self.meta), ledger_session(self.ledger, self.key)
        )
        return result.post_id

    def assert_one_identical_video(self, video_id: str) -> None:
        assert list(self.emulator.videos) == [video_id]
        video = self.emulator.videos[video_id]
        assert video.size == SIZE
        assert sha256_file(video.path) == sha256_file(self.storage.root / self.rendition.key)


@pytest.fixture
def h(emulator: YouTubeEmulator, storage: LocalStorage, ledger: Ledger, http: httpx.AsyncClient) -> Harness:
    return Harness(emulator, storage, ledger, http)


async def test_uploads_in_aligned_chunks_with_rendered_metadata(h: Harness) -> None:
    video_id = await h.publish()
    h.assert_one_identical_video(video_id)
    session = next(iter(h.emulator.sessions.values()))
    assert session.chunks[0] == (0, CHUNK - 1)
    assert len(session.chunks) == 5
    snippet = session.meta["snippet"]
    # Vietnamese intact, hashtags from the tags, within YouTube's limits.
    assert snippet["title"] == h.meta.title
    assert "#phườngBếnNghé" in snippet["description"]
    assert session.meta["status"]["privacyStatus"] == "public"
    # The session URI was stored in the ledger before the upload.
    entry = h.ledger.get(h.footage_id, "ward-yt", "youtube")
    assert entry is not None and entry.state is PostState.UPLOADING
    assert entry.session is not None and "upload_id=" in entry.session["uri"]


@pytest.mark.parametrize("after_bytes", [100_000, 300_000, 2 * ALIGN - 1])
async def test_connection_dropped_mid_chunk_resumes_from_the_servers_range(h: Harness, after_bytes: int) -> None:
    h.emulator.inject("drop", on="chunk", after_bytes=after_bytes)
    h.emulator.inject("drop", on="chunk", after_bytes=after_bytes)  # the chunk after the resume drops too
    video_id = await h.publish()
    h.assert_one_identical_video(video_id)
    assert h.emulator.count("status") >= 2  # asked where to continue after each drop
    assert len(h.emulator.sessions) == 1


async def test_5xx_and_429_are_retried_with_backoff(h: Harness) -> None:
    h.emulator.inject("status", on="chunk", status=503)
    h.emulator.inject("status", on="chunk", status=500, times=2)
    h.emulator.inject("status", on="chunk", status=429, retry_after="0")
    h.emulator.inject("status", on="init", status=502)
    video_id = await h.publish()
    h.assert_one_identical_video(video_id)
    assert h.emulator.pending_faults() == 0


async def test_persistent_5xx_gives_up_as_retryable_and_a_later_call_resumes_the_same_session(h: Harness) -> None:
    h.emulator.inject("status", on="chunk", status=503, times=3)
    with pytest.raises(RetryableError):
        await h.publish(h.adapter(RetryPolicy(attempts=2, initial_s=0.01, max_s=0.02)))
    assert h.emulator.videos == {}
    # A new process: a fresh adapter, the session from the ledger.
    video_id = await h.publish(h.adapter())
    h.assert_one_identical_video(video_id)
    assert len(h.emulator.sessions) == 1


async def test_expired_access_token_is_refreshed_once(h: Harness) -> None:
    adapter = h.adapter()
    h.emulator.inject("expire_token", on="chunk")
    video_id = await h.publish(adapter)
    h.assert_one_identical_video(video_id)
    assert h.emulator.refresh_calls == 2  # the first token, then one refresh after the 401


async def test_expired_session_starts_a_new_one(h: Harness) -> None:
    h.emulator.inject("status", on="chunk", status=503)
    h.emulator.inject("expire_session", on="status")  # the status query after the 503 finds it gone
    video_id = await h.publish()
    h.assert_one_identical_video(video_id)
    assert len(h.emulator.sessions) == 2


async def test_quota_exhausted_is_a_reschedule_not_a_failure(h: Harness) -> None:
    h.emulator.quota_remaining = 0
    with pytest.raises(QuotaExceeded) as caught:
        await h.publish()
    assert caught.value.retry_at > datetime.now(UTC)
    assert caught.value.retry_at < datetime.now(UTC) + timedelta(hours=25)


async def test_other_4xx_is_permanent_with_the_platforms_message(h: Harness) -> None:
    h.emulator.inject("status", on="chunk", status=403)
    with pytest.raises(PermanentError, match="Backend Error"):
        await h.publish()


async def test_revoked_refresh_token_fails_without_leaking_secrets(h: Harness) -> None:
    with pytest.raises(PermanentError) as caught:
        await h.publish(h.adapter(refresh_token="1//revoked-secret"))
    message = str(caught.value)
    assert "Token has been revoked" in message
    assert "revoked-secret" not in message
    assert h.emulator.client_secret not in message


# --- after publishing: videos.update and videos.delete


async def test_a_retitle_rides_out_a_503_and_a_spent_quota_waits_for_tomorrow(h: Harness) -> None:
    video_id = await h.publish()
    post = LivePost(channel=h.channel, post_id=video_id, metadata=h.meta)
    adapter = h.adapter()
    h.emulator.inject("status", "update", status=503, retry_after="0")
    await adapter.update_text(post, PostText(title="Tiêu đề mới", description="Mô tả"))
    assert h.emulator.videos[video_id].meta["snippet"]["title"] == "Tiêu đề mới"
    assert h.emulator.count("update") == 2 and h.emulator.units_spent == 50  # the 503 spent nothing
    h.emulator.units_remaining = 49
    with pytest.raises(QuotaExceeded):
        await adapter.unpublish(post, "private")
    assert h.emulator.videos[video_id].meta["status"].get("privacyStatus") == "public"


async def test_a_delete_repeated_after_a_crash_counts_the_video_as_deleted(h: Harness) -> None:
    video_id = await h.publish()
    post = LivePost(channel=h.channel, post_id=video_id, metadata=h.meta)
    adapter = h.adapter()
    await adapter.unpublish(post, "delete")
    await adapter.unpublish(post, "delete")  # already gone: 404, deleted all the same
    assert h.emulator.deleted == {video_id} and h.emulator.units_spent == 50
    refreshes = h.emulator.refresh_calls
    h.emulator.inject("expire_token", "update")  # a 401 refreshes the token once, as for uploads
    with pytest.raises(PermanentError, match="cannot be found"):  # a deleted video's text cannot change
        await adapter.update_text(post, PostText("x", ""))
    assert h.emulator.refresh_calls == refreshes + 1


def _stills(h: Harness, frame_bytes: dict[str, bytes]) -> tuple[Image, ...]:
    images = []
    for kind, data in frame_bytes.items():
        key = layout.image_key(h.footage_id, kind)
        h.storage.put_stream(key, [data])
        images.append(Image(kind=kind, key=key, width=1280, height=720, size_bytes=len(data), at_s=1.0))
    return tuple(images)


async def test_the_picked_still_is_set_as_the_thumbnail_with_thumbnails_set(h: Harness) -> None:
    jpeg = {f"thumbnail-{n}": b"\xff\xd8\xff\xe0" + bytes([n]) * 4000 for n in (1, 2, 3)}
    images = _stills(h, jpeg | {"thumbnail": b"\xff\xd8\xff\xe0default"})
    request = replace(request_for(h.channel, h.rendition, h.footage_id, h.meta), images=images, frame=2)
    result = await h.adapter().publish(request, ledger_session(h.ledger, h.key))
    assert h.emulator.thumbnails == {result.post_id: jpeg["thumbnail-2"]}, "exactly the picked frame's still"
    assert h.emulator.units_spent == 50


async def test_no_pick_leaves_youtube_its_own_and_a_refused_still_leaves_the_video_out(h: Harness) -> None:
    images = _stills(h, {"thumbnail-1": b"not a picture"})
    plain = await h.publish()
    assert h.emulator.thumbnails == {} and h.emulator.units_spent == 0, "nothing picked: no thumbnails.set"
    refused = replace(request_for(h.channel, h.rendition, h.footage_id, h.meta), images=images, frame=1)
    ledger_key = PostKey(new_id(), "ward-yt", "youtube")
    result = await h.adapter().publish(refused, ledger_session(h.ledger, ledger_key))
    assert result.post_id != plain and result.post_id in h.emulator.videos, "the video is out all the same"
    assert h.emulator.thumbnails == {} and h.emulator.units_spent == 0, "invalidImage: refused before the quota"


async def test_without_a_pick_transcodes_default_still_is_the_thumbnail(h: Harness) -> None:
    jpeg = {"thumbnail": b"\xff\xd8\xff\xe0default" * 100, "thumbnail-1": b"\xff\xd8\xff\xe0one" * 100}
    request = replace(request_for(h.channel, h.rendition, h.footage_id, h.meta), images=_stills(h, jpeg))
    result = await h.adapter().publish(request, ledger_session(h.ledger, h.key))
    assert h.emulator.thumbnails == {result.post_id: jpeg["thumbnail"]}, "the default pick, not a candidate"
    assert h.emulator.units_by_call == {"thumbnails.set": 50}
