"""The Zalo OA adapter against a strict emulator over real HTTP: rotating refresh tokens, article with video."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from loa_core.channels import Channel
from loa_core.contracts import layout, new_id
from loa_core.hashing import sha256_file
from loa_core.secrets import SecretBox, new_key
from loa_core.storage import LocalStorage
from loa_publisher.adapters import LivePost, PermanentError, RetryableError
from loa_publisher.adapters.http import RetryPolicy
from loa_publisher.adapters.zalo import ZaloAdapter
from loa_publisher.auth import Secrets
from loa_publisher.ledger import Ledger, PostKey
from tests.support.emulators.zalo import ZaloEmulator
from tests.support.publishing import FAST, ledger_session, metadata, request_for, stored_rendition


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[ZaloEmulator]:
    with ZaloEmulator(tmp_path / "zalo") as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


class Harness:
    def __init__(self, tmp_path: Path, emulator: ZaloEmulator, http: httpx.AsyncClient) -> None:
        self.tmp_path, self.emulator, self.http = tmp_path, emulator, http
        self.storage = LocalStorage(tmp_path / "storage")
        self.ledger = Ledger.open(tmp_path / "ledger.sqlite3", secrets=SecretBox([new_key()]))
        self.channel = Channel(
            name="ward-oa",
            platform="zalo",
            profiles=("zalo",),
            options={"base_url": emulator.base_url, "token_url": f"{emulator.base_url}/v4/oa/access_token"},
        )
        self.secrets = Secrets(
            None,
            {
                "LOA_SECRET_WARD_OA_APP_ID": emulator.app_id,
                "LOA_SECRET_WARD_OA_SECRET_KEY": emulator.secret_key,
                "LOA_SECRET_WARD_OA_REFRESH_TOKEN": "zrt-1",  # the one configured once; it rotates from there
            },
        )

    def adapter(self, policy: RetryPolicy = FAST) -> ZaloAdapter:
        return ZaloAdapter(self.storage, self.http, self.secrets, self.ledger, policy=policy, poll_s=0.01)

    async def publish(
        self, size: int = 2 * 1024 * 1024, adapter: ZaloAdapter | None = None, footage_id: str = ""
    ) -> str:
        footage_id = footage_id or new_id()
        rendition_path = self.storage.root / layout.rendition_key(footage_id, "zalo")
        if rendition_path.exists():
            rendition = self.rendition
        else:
            rendition = self.rendition = stored_rendition(self.storage, size, profile="zalo", footage_id=footage_id)
        meta = metadata(("ward-oa",))
        request = request_for(self.channel, rendition, footage_id, meta)
        session = ledger_session(self.ledger, PostKey(footage_id, "ward-oa", "zalo"))
        return (await (adapter or self.adapter()).publish(request, session)).post_id


@pytest.fixture
def h(tmp_path: Path, emulator: ZaloEmulator, http: httpx.AsyncClient) -> Iterator[Harness]:
    harness = Harness(tmp_path, emulator, http)
    yield harness
    harness.ledger.close()


async def test_article_with_video(h: Harness) -> None:
    article_id = await h.publish()
    article = h.emulator.articles[article_id]
    video = h.emulator.videos[article.video_id]
    assert sha256_file(video.path) == sha256_file(h.storage.root / h.rendition.key)
    assert article.title.startswith("Lễ kỷ niệm 80 năm") and len(article.title) <= 150
    assert len(article.description) <= 300 and "Người dân tham dự" in article.description


async def test_rotating_refresh_token_survives_restarts(h: Harness) -> None:
    await h.publish()  # spends zrt-1, stores zrt-2
    assert h.ledger.refresh_token("ward-oa", "") == "zrt-2"
    h.emulator.revoke_tokens()  # access tokens expire overnight
    await h.publish(adapter=h.adapter())  # a restarted publisher: must use zrt-2, not the spent zrt-1
    assert h.ledger.refresh_token("ward-oa", "") == h.emulator.refresh_token == "zrt-3"
    assert len(h.emulator.articles) == 2


async def test_expired_access_token_mid_flow_refreshes_once(h: Harness) -> None:
    adapter = h.adapter()
    h.emulator.inject("expire_token", on="create")
    h.emulator.inject("rate", on="verify_video")
    await h.publish(adapter=adapter)
    assert h.emulator.refresh_calls == 2
    assert h.ledger.refresh_token("ward-oa", "") == "zrt-3"


async def test_lost_create_answer_is_found_instead_of_posting_twice(h: Harness) -> None:
    footage_id = new_id()
    h.emulator.inject("drop", on="after_create")
    with pytest.raises(RetryableError):
        await h.publish(adapter=h.adapter(RetryPolicy(attempts=1)), footage_id=footage_id)
    article_id = await h.publish(footage_id=footage_id)
    assert list(h.emulator.articles) == [article_id]
    assert len(h.emulator.videos) == 1  # the video was not uploaded again either


async def test_over_50_mb_is_refused_before_upload(h: Harness) -> None:
    with pytest.raises(PermanentError, match="50 MB"):
        await h.publish(size=50 * 1024 * 1024 + 1)
    assert h.emulator.count("prepare") == 0


async def test_an_article_removed_through_a_rate_limit_and_removed_again_after_a_crash(h: Harness) -> None:
    article_id = await h.publish()
    post = LivePost(channel=h.channel, post_id=article_id, metadata=metadata(("ward-oa",)))
    adapter = h.adapter()
    h.emulator.inject("rate", "remove")
    await adapter.unpublish(post, "delete")
    assert h.emulator.removed == {article_id} and h.emulator.count("remove") == 2
    await adapter.unpublish(post, "delete")  # already gone (-230): removed all the same
    assert h.emulator.count("remove") == 3
    listed = httpx.get(
        f"{h.emulator.base_url}/v2.0/article/getslice",
        headers={"access_token": h.emulator.mint_token()},
        params={"offset": "0", "limit": "20"},
    ).json()
    assert article_id not in {a["id"] for a in listed["data"]["medias"]}
