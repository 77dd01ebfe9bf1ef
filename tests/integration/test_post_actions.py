"""Fixing what went out, end to end: ingest and the publisher as processes on a real broker, against the YouTube,
Facebook and Zalo emulators. A published YouTube video's title is changed, then the video is deleted; a Facebook Page
video the same; a Zalo article is removed; TikTok is refused by ingest with where to do it by hand. Each action is in
ingest's audit log, acted on once by the publisher (a redelivered action changes nothing on the platform and repeats
the same answer on posts.changed), and the emulators' own state is the proof."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from loa_core.channels import Channel, dump_channels
from loa_core.contracts import (
    POSTS_ACTIONS,
    POSTS_CHANGED,
    POSTS_FAILED,
    RENDITIONS_READY,
    PostAction,
    PostChanged,
    PostFailed,
    new_id,
)
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker, free_port
from tests.integration.test_publisher_registry import send
from tests.support.bilingual import assert_bilingual
from tests.support.emulators.facebook import FacebookEmulator
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.emulators.zalo import ZaloEmulator
from tests.support.ingest import IngestProcess, run_ingest
from tests.support.kafka import produce_raw, read_topic
from tests.support.publisher_process import PublisherProcess
from tests.support.publishing import event_for, metadata, stored_rendition

WARD = "p1"


@dataclass
class World:
    ingest: IngestProcess
    publisher: PublisherProcess
    youtube: YouTubeEmulator
    facebook: FacebookEmulator
    zalo: ZaloEmulator
    bootstrap: str
    approver: dict[str, str]
    editor: dict[str, str]
    viewer: dict[str, str]
    other_ward: dict[str, str]  # an editor of another ward

    def logs(self) -> str:
        return f"{self.publisher.log_tail()}\n--- ingest ---\n{self.ingest.log()[-3000:]}"

    def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen within {timeout_s} s\n{self.logs()}")
            time.sleep(0.1)

    def act(self, footage_id: str, channel: str, what: str, body: dict[str, str], who: dict[str, str]) -> str:
        answer = httpx.post(f"{self.ingest.url}/posts/{footage_id}/{channel}/{what}", json=body, headers=who)
        assert answer.status_code == 202, answer.text
        action = answer.json()["action"]
        assert answer.json()["sent"] is True
        return str(action["event_id"])

    def changes(self) -> list[PostChanged]:
        records = read_topic(self.bootstrap, POSTS_CHANGED.full_name(self.ingest.prefix), timeout_s=1)
        return [PostChanged.from_bytes(r.value) for r in records]

    def answered(self, action_id: str, times: int = 1) -> list[PostChanged]:
        found: list[PostChanged] = []

        def check() -> bool:
            found[:] = [c for c in self.changes() if c.action_id == action_id]
            return len(found) >= times

        self.wait_for(f"{times} answer(s) to action {action_id}", check)
        return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, kafka_broker: KafkaBroker) -> Iterator[World]:
    root = tmp_path_factory.mktemp("post-actions")
    with (
        YouTubeEmulator(root / "yt") as youtube,
        FacebookEmulator(root / "fb") as facebook,
        ZaloEmulator(root / "zl") as zalo,
    ):
        zalo.processing_polls = 0
        channels = [
            Channel(
                name="p1-youtube",
                platform="youtube",
                profiles=("youtube",),
                ward=WARD,
                options={"base_url": youtube.base_url, "token_url": f"{youtube.base_url}/token", "category_id": "25"},
            ),
            Channel(
                name="p1-facebook",
                platform="facebook",
                profiles=("youtube",),
                ward=WARD,
                options={"base_url": facebook.base_url, "app_id": facebook.app_id, "page_id": facebook.page_id},
            ),
            Channel(
                name="p1-zalo",
                platform="zalo",
                profiles=("zalo",),
                ward=WARD,
                options={"base_url": zalo.base_url, "token_url": f"{zalo.base_url}/v4/oa/access_token"},
            ),
            Channel(name="p1-tiktok", platform="tiktok", profiles=("tiktok",), ward=WARD),
        ]
        channels_file = root / "channels.json"
        channels_file.write_text(dump_channels(channels), "utf-8")
        ingest_port = free_port()
        # Made first, so ingest knows where to relay a retry; it asks ingest about role tokens.
        publisher = PublisherProcess(
            root / "publisher",
            bootstrap=kafka_broker.bootstrap,
            prefix="unset.",
            channels=channels,
            token=new_id(),
            env={
                "LOA_INGEST_URL": f"http://127.0.0.1:{ingest_port}",
                "LOA_SECRET_P1_YOUTUBE_CLIENT_ID": youtube.client_id,
                "LOA_SECRET_P1_YOUTUBE_CLIENT_SECRET": youtube.client_secret,
                "LOA_SECRET_P1_YOUTUBE_REFRESH_TOKEN": youtube.refresh_token,
                "LOA_SECRET_P1_FACEBOOK_USER_TOKEN": facebook.user_token,
                "LOA_SECRET_P1_FACEBOOK_PAGE_TOKEN": facebook.page_token,
                "LOA_SECRET_P1_ZALO_APP_ID": zalo.app_id,
                "LOA_SECRET_P1_ZALO_SECRET_KEY": zalo.secret_key,
                "LOA_SECRET_P1_ZALO_REFRESH_TOKEN": zalo.refresh_token,
                "LOA_STATUS_POLL_S": "0.05",
            },
        )
        env = {"LOA_CHANNELS_FILE": str(channels_file), "LOA_PUBLISHER_URL": publisher.url}
        with run_ingest(root / "ingest", kafka_broker.bootstrap, env, port=ingest_port) as ingest:
            tokens = {}
            for role, ward in (("approver", WARD), ("editor", WARD), ("viewer", WARD), ("editor", "p2")):
                made = httpx.post(f"{ingest.url}/tokens", headers=ingest.headers(), json={"role": role, "ward": ward})
                assert made.status_code == 201, made.text
                tokens[f"{role}-{ward}"] = ingest.headers(made.json()["token"])
            publisher.env["LOA_TOPIC_PREFIX"] = ingest.prefix
            publisher.start()
            try:
                yield World(
                    ingest,
                    publisher,
                    youtube,
                    facebook,
                    zalo,
                    kafka_broker.bootstrap,
                    tokens[f"approver-{WARD}"],
                    tokens[f"editor-{WARD}"],
                    tokens[f"viewer-{WARD}"],
                    tokens["editor-p2"],
                )
            finally:
                publisher.stop()


def published(world: World, channels: tuple[str, ...], count: Callable[[], int]) -> str:
    """A footage posted on `channels` through the publisher; waits until the platform has it (`count` grows)."""
    before = count()
    storage = LocalStorage(world.publisher.root / "storage")
    footage_id = new_id()
    profiles = sorted({p for name in channels for p in {"p1-zalo": ("zalo",)}.get(name, ("youtube",))})
    cuts = [stored_rendition(storage, 300_000, profile, footage_id) for profile in profiles]
    event = event_for(footage_id, metadata(channels), *cuts).model_copy(update={"ward": WARD})
    send(world.bootstrap, world.ingest.prefix, RENDITIONS_READY, event)
    world.wait_for(f"{footage_id} posted on {channels}", lambda: count() > before)
    return footage_id


def test_a_youtube_video_is_retitled_then_deleted_once_each(world: World) -> None:
    youtube = world.youtube
    footage_id = published(world, ("p1-youtube",), lambda: len(youtube.videos))
    video = list(youtube.videos.values())[-1]

    edit = world.act(
        footage_id, "p1-youtube", "edit", {"title": "Tiếp xúc cử tri (đã sửa)", "description": "Quý IV"}, world.approver
    )
    (edited,) = world.answered(edit)
    assert (edited.state, edited.post_id, edited.title) == ("edited", video.id, "Tiếp xúc cử tri (đã sửa)")
    snippet = video.meta["snippet"]
    assert (snippet["title"], snippet["description"]) == ("Tiếp xúc cử tri (đã sửa)", "Quý IV")
    # The part is replaced whole: the tags go again, with the categoryId it needs.
    assert snippet["tags"] == list(metadata(("p1-youtube",)).tags) and snippet["categoryId"] == "25"
    assert youtube.units_spent == 50

    # The same action delivered again (as after a crash before the commit): nothing done twice, the same answer.
    (record,) = [
        r
        for r in read_topic(world.bootstrap, POSTS_ACTIONS.full_name(world.ingest.prefix), timeout_s=1)
        if PostAction.from_bytes(r.value).event_id == edit
    ]
    produce_raw(world.bootstrap, POSTS_ACTIONS.full_name(world.ingest.prefix), record.value, record.key)
    first, again = world.answered(edit, times=2)
    assert first == again
    assert youtube.count("update") == 1 and youtube.units_spent == 50

    down = world.act(footage_id, "p1-youtube", "unpublish", {"how": "delete"}, world.editor)
    (unpublished,) = world.answered(down)
    assert (unpublished.state, unpublished.how) == ("unpublished", "delete")
    assert video.id in youtube.deleted and youtube.units_spent == 100

    # A deleted video's text cannot change: refused by the publisher, said on posts.changed, the platform untouched.
    late = world.act(footage_id, "p1-youtube", "edit", {"title": "Quá muộn"}, world.approver)
    (refused,) = world.answered(late)
    assert refused.state == "failed" and refused.reason is not None and "taken down" in refused.reason
    assert youtube.count("update") == 1

    audit = httpx.get(f"{world.ingest.url}/audit", params={"footage_id": footage_id}, headers=world.editor).json()
    assert [(e["action"]["event_id"], e["action"]["action"]) for e in audit] == [
        (edit, "edit"),
        (down, "unpublish"),
        (late, "edit"),
    ]


def test_a_youtube_video_is_made_private(world: World) -> None:
    youtube = world.youtube
    footage_id = published(world, ("p1-youtube",), lambda: len(youtube.videos))
    video = list(youtube.videos.values())[-1]
    hidden = world.act(footage_id, "p1-youtube", "unpublish", {"how": "private"}, world.editor)
    (change,) = world.answered(hidden)
    assert (change.state, change.how) == ("unpublished", "private")
    assert video.meta["status"]["privacyStatus"] == "private" and video.id not in youtube.deleted


def test_a_facebook_page_video_is_retitled_then_deleted(world: World) -> None:
    facebook = world.facebook
    footage_id = published(world, ("p1-facebook",), lambda: len(facebook.videos))
    video = list(facebook.videos.values())[-1]
    edit = world.act(
        footage_id, "p1-facebook", "edit", {"title": "Lễ kỷ niệm (đã sửa)", "description": "Mô tả mới"}, world.editor
    )
    assert world.answered(edit)[0].state == "edited"
    assert (video.meta["title"], video.meta["description"]) == ("Lễ kỷ niệm (đã sửa)", "Mô tả mới")
    down = world.act(footage_id, "p1-facebook", "unpublish", {}, world.editor)
    assert world.answered(down)[0].state == "unpublished"
    assert video.id in facebook.deleted


def test_a_zalo_article_is_removed_and_its_text_cannot_be_changed(world: World) -> None:
    zalo = world.zalo
    footage_id = published(world, ("p1-zalo",), lambda: len(zalo.articles))
    article = list(zalo.articles.values())[-1]
    refused = httpx.post(
        f"{world.ingest.url}/posts/{footage_id}/p1-zalo/edit", json={"title": "x"}, headers=world.approver
    )
    assert refused.status_code == 422
    assert_bilingual(refused.json()["detail"])
    down = world.act(footage_id, "p1-zalo", "unpublish", {"how": "delete"}, world.editor)
    assert world.answered(down)[0].state == "unpublished"
    assert article.id in zalo.removed and zalo.count("remove") == 1


def test_tiktok_is_refused_with_where_to_do_it_by_hand(world: World) -> None:
    footage_id = new_id()
    for what, body in (("edit", {"title": "x"}), ("unpublish", {"how": "delete"})):
        answer = httpx.post(
            f"{world.ingest.url}/posts/{footage_id}/p1-tiktok/{what}", json=body, headers=world.approver
        )
        assert answer.status_code == 422
        detail = answer.json()["detail"]
        assert_bilingual(detail)
        assert "https://www.tiktok.com/tiktokstudio/content" in detail
    audit = httpx.get(f"{world.ingest.url}/audit", params={"footage_id": footage_id}, headers=world.editor).json()
    assert audit == []


def test_a_failed_post_is_retried_through_ingest(world: World) -> None:
    youtube = world.youtube
    world.youtube.inject("status", on="init", status=403)  # forbidden: a person must act
    storage = LocalStorage(world.publisher.root / "storage")
    footage_id = new_id()
    cut = stored_rendition(storage, 300_000, "youtube", footage_id)
    event = event_for(footage_id, metadata(("p1-youtube",)), cut).model_copy(update={"ward": WARD})
    before = len(youtube.videos)
    send(world.bootstrap, world.ingest.prefix, RENDITIONS_READY, event)

    def failed() -> bool:
        records = read_topic(world.bootstrap, POSTS_FAILED.full_name(world.ingest.prefix), timeout_s=1)
        return any(PostFailed.from_bytes(r.value).footage_id == footage_id for r in records)

    world.wait_for("the post failing", failed)
    retry = f"{world.ingest.url}/posts/{footage_id}/retry"
    assert httpx.post(retry, headers=world.viewer).status_code == 403
    other = httpx.post(retry, headers=world.other_ward)
    assert other.status_code == 404  # the publisher confines it to the caller's ward: not even confirmed to exist
    assert_bilingual(other.json()["detail"])
    answer = httpx.post(retry, headers=world.editor)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"footage_id": footage_id, "retried": [{"channel": "p1-youtube", "profile": "youtube"}]}
    world.wait_for("the retried post on YouTube", lambda: len(youtube.videos) == before + 1)
