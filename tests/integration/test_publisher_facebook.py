"""The Facebook adapter against a strict Resumable Upload API + Page videos emulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from loa_core.channels import Channel
from loa_core.contracts import Image, Rendition, layout, new_id
from loa_core.hashing import sha256_file
from loa_core.storage import LocalStorage
from loa_publisher.adapters import LivePost, PermanentError, PostText, RetryableError
from loa_publisher.adapters.facebook import FacebookAdapter
from loa_publisher.adapters.http import RetryPolicy
from loa_publisher.auth import Secrets
from loa_publisher.ledger import Ledger, PostKey
from tests.support.emulators.facebook import FacebookEmulator
from tests.support.publishing import FAST, ledger_session, metadata, request_for, stored_rendition

SIZE = 3 * 1024 * 1024 + 777


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[FacebookEmulator]:
    with FacebookEmulator(tmp_path / "facebook") as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


class Harness:
    def __init__(self, tmp_path: Path, emulator: FacebookEmulator, http: httpx.AsyncClient) -> None:
        self.emulator, self.http = emulator, http
        self.storage = LocalStorage(tmp_path / "storage")
        self.ledger = Ledger.open(tmp_path / "ledger.sqlite3")
        self.footage_id = new_id()
        self.rendition = stored_rendition(self.storage, SIZE, profile="youtube", footage_id=self.footage_id)
        self.meta = metadata(("ward-fb",))
        self.key = PostKey(self.footage_id, "ward-fb", "youtube")
        self.channel = Channel(
            name="ward-fb",
            platform="facebook",
            profiles=("youtube",),
            options={
                "base_url": emulator.base_url,
                "reels_base_url": emulator.base_url,
                "app_id": emulator.app_id,
                "page_id": emulator.page_id,
            },
        )

    def adapter(
        self, policy: RetryPolicy = FAST, page_token: str | None = None, *, reels: bool = False
    ) -> FacebookAdapter:
        environ = {
            "LOA_SECRET_WARD_FB_USER_TOKEN": self.emulator.user_token,
            "LOA_SECRET_WARD_FB_PAGE_TOKEN": page_token or self.emulator.page_token,
        }
        secrets = Secrets(None, environ)
        return FacebookAdapter(self.storage, self.http, secrets, policy=policy, reels=self.ledger if reels else None)

    async def publish(self, adapter: FacebookAdapter | None = None) -> str:
        request = request_for(self.channel, self.rendition, self.footage_id, self.meta)
        result = await (adapter or self.adapter()).publish(request, ledger_session(self.ledger, self.key))
        return result.post_id

    def assert_one_identical_video(self, video_id: str) -> None:
        assert list(self.emulator.videos) == [video_id]
        video = self.emulator.videos[video_id]
        assert sha256_file(video.path) == sha256_file(self.storage.root / self.rendition.key)


@pytest.fixture
def h(tmp_path: Path, emulator: FacebookEmulator, http: httpx.AsyncClient) -> Iterator[Harness]:
    harness = Harness(tmp_path, emulator, http)
    yield harness
    harness.ledger.close()


async def test_resumable_upload_then_page_video(h: Harness) -> None:
    video_id = await h.publish()
    h.assert_one_identical_video(video_id)
    meta = h.emulator.videos[video_id].meta
    assert meta["title"] == h.meta.title
    assert "#phườngBếnNghé" in meta["description"]


async def test_dropped_upload_resumes_from_the_sessions_offset(h: Harness) -> None:
    h.emulator.inject("drop", on="upload", after_bytes=1024 * 1024 + 5)
    h.emulator.inject("status", on="upload", status=503)
    video_id = await h.publish()
    h.assert_one_identical_video(video_id)
    offsets = [d for k, d in h.emulator.requests if k == "upload"]
    assert offsets[0] == "0" and str(1024 * 1024 + 5) in offsets[1:]
    assert len(h.emulator.uploads) == 1


async def test_lost_publish_answer_never_posts_twice(h: Harness) -> None:
    h.emulator.inject("drop", on="after_publish")
    video_id = await h.publish()
    h.assert_one_identical_video(video_id)
    assert h.emulator.count("list") == 1


async def test_restart_after_publish_finds_the_video_instead_of_posting_again(h: Harness) -> None:
    h.emulator.inject("drop", on="after_publish")
    # A second publish call would meet these 500s, then post twice; the lookup must make it unnecessary.
    h.emulator.inject("status", on="publish", status=500, times=5)
    with pytest.raises(RetryableError):
        await h.publish(h.adapter(RetryPolicy(attempts=1, initial_s=0.01, max_s=0.01)))
    video_id = await h.publish()  # a restarted publisher, session from the ledger
    h.assert_one_identical_video(video_id)


async def test_rejected_page_token_is_permanent_with_the_platforms_message(h: Harness) -> None:
    with pytest.raises(PermanentError, match="Invalid OAuth access token") as caught:
        await h.publish(h.adapter(page_token="EAAwrong-secret"))
    assert "EAAwrong-secret" not in str(caught.value)


async def test_a_page_video_retitled_through_a_500_and_a_delete_repeated_after_a_crash(h: Harness) -> None:
    video_id = await h.publish()
    post = LivePost(channel=h.channel, post_id=video_id, metadata=h.meta)
    adapter = h.adapter()
    h.emulator.inject("status", "update", status=500)
    await adapter.update_text(post, PostText(title="Tiêu đề mới", description="Mô tả mới"))
    assert h.emulator.videos[video_id].meta == {"title": "Tiêu đề mới", "description": "Mô tả mới"}
    assert h.emulator.count("update") == 2
    await adapter.unpublish(post, "delete")
    await adapter.unpublish(post, "delete")  # already gone (error 100): deleted all the same
    assert h.emulator.deleted == {video_id} and h.emulator.count("delete") == 2
    with pytest.raises(PermanentError, match="does not exist"):  # a deleted video's text cannot change
        await adapter.update_text(post, PostText(title="x", description=""))
    with pytest.raises(PermanentError, match="only be deleted"):
        await adapter.unpublish(post, "private")


async def test_the_thumbnail_goes_with_the_video_and_a_refused_one_leaves_it_out(h: Harness) -> None:
    jpeg = b"\xff\xd8\xff\xe0default" * 100
    key = layout.image_key(h.footage_id, "thumbnail")
    h.storage.put_stream(key, [jpeg])
    still = Image(kind="thumbnail", key=key, width=1280, height=720, size_bytes=len(jpeg), at_s=1.0)
    request = replace(request_for(h.channel, h.rendition, h.footage_id, h.meta), images=(still,))
    video_id = (await h.adapter().publish(request, ledger_session(h.ledger, h.key))).post_id
    assert h.emulator.thumbnails == {video_id: jpeg}

    h.emulator.inject("status", "thumbnail", status=400)  # refused: the video stands with Facebook's own
    other = PostKey(new_id(), "ward-fb", "youtube")
    second = await h.adapter().publish(replace(request, footage_id=other.footage_id), ledger_session(h.ledger, other))
    assert second.post_id in h.emulator.videos and second.post_id not in h.emulator.thumbnails


def _vertical(h: Harness, duration_s: float) -> Rendition:
    return h.rendition.model_copy(update={"width": 1080, "height": 1920, "duration_s": duration_s})


async def test_a_vertical_cut_is_a_reel_in_three_phases_resumed_after_a_drop(h: Harness) -> None:
    h.emulator.inject("drop", "rupload", after_bytes=1024 * 1024)  # the upload breaks 1 MB in
    h.emulator.inject("drop", "reel_finish")  # published, the answer lost: looked up, not finished twice
    request = request_for(h.channel, _vertical(h, 30.0), h.footage_id, h.meta)
    result = await h.adapter(reels=True).publish(request, ledger_session(h.ledger, h.key))

    reel = h.emulator.reels[result.post_id]
    assert result.url == f"https://www.facebook.com/reel/{result.post_id}"
    assert reel.state == "PUBLISHED" and reel.description.startswith(request.text.title)
    assert sha256_file(reel.path) == sha256_file(h.storage.root / h.rendition.key)
    assert [int(o) for k, o in h.emulator.requests if k == "rupload"] == [0, 1024 * 1024], "resumed where it broke"
    assert h.emulator.count("reel_start") == 1
    assert h.emulator.count("reel_finish") == 1, "the lost answer: the status says published, not finished again"
    assert h.emulator.videos == {}, "a Reel, not a Page video"
    assert h.ledger.reels_since(h.emulator.page_id, datetime.now(UTC) - timedelta(hours=1)) == 1


async def test_a_vertical_cut_too_long_for_a_reel_and_a_page_past_its_30_go_as_page_videos(h: Harness) -> None:
    long = await h.adapter(reels=True).publish(
        request_for(h.channel, _vertical(h, 120.0), h.footage_id, h.meta), ledger_session(h.ledger, h.key)
    )
    assert long.post_id in h.emulator.videos and h.emulator.reels == {}, "over 90 s: a plain Page video"

    for n in range(30):
        h.ledger.record_reel(h.emulator.page_id, f"earlier-{n}")
    other = PostKey(new_id(), "ward-fb", "youtube")
    capped = await h.adapter(reels=True).publish(
        request_for(h.channel, _vertical(h, 30.0), other.footage_id, h.meta), ledger_session(h.ledger, other)
    )
    assert capped.post_id in h.emulator.videos and h.emulator.reels == {}, "30 reels in 24 h: a Page video"
