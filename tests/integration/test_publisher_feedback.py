"""Replies, hiding and showing citizens' comments and messages (feedback.actions) against the strict YouTube, Facebook
and Zalo emulators over real HTTP, with the real ledger and a real broker: each act done on the platform once per
action id, whatever is delivered twice or answered lost; a gone comment, a closed Zalo window, an expired token and a
platform that pages for ever each end in a clear outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from loa_core.channels import Channel
from loa_core.contracts import FEEDBACK_DONE, PUBLISHER, FeedbackAction, FeedbackDone, feedback_item_id
from loa_core.kafka import EventProducer
from loa_core.secrets import SecretBox, new_key
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from loa_publisher.adapters import Adapter
from loa_publisher.adapters.facebook import FacebookAdapter
from loa_publisher.adapters.youtube import YouTubeAdapter
from loa_publisher.adapters.zalo import ZaloAdapter
from loa_publisher.auth import Secrets
from loa_publisher.feedback import Responder, done_id
from loa_publisher.ledger import Ledger
from tests.support.bilingual import assert_bilingual
from tests.support.emulators.facebook import FacebookEmulator
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.emulators.zalo import ZaloEmulator
from tests.support.kafka import read_topic
from tests.support.publishing import FAST

WARD = "p1"
Emulators = tuple[YouTubeEmulator, FacebookEmulator, ZaloEmulator]
REPLY = "Cảm ơn anh đã phản ánh. Phường sẽ nạo vét cống trong tuần này."


@pytest.fixture(scope="module")
def emulators(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[YouTubeEmulator, FacebookEmulator, ZaloEmulator]]:
    root = tmp_path_factory.mktemp("feedback-emulators")
    with YouTubeEmulator(root / "yt") as yt, FacebookEmulator(root / "fb") as fb, ZaloEmulator(root / "zl") as zl:
        yield yt, fb, zl


class World:
    def __init__(
        self,
        root: Path,
        emulators: tuple[YouTubeEmulator, FacebookEmulator, ZaloEmulator],
        http: httpx.AsyncClient,
        producer: EventProducer,
    ) -> None:
        self.youtube, self.facebook, self.zalo = emulators
        self.ledger = Ledger.open(root / "ledger.sqlite3", secrets=SecretBox([new_key()]))
        yt, fb, zl = self.youtube, self.facebook, self.zalo
        self.channels = {
            "p1-yt": Channel(
                name="p1-yt",
                platform="youtube",
                profiles=("youtube",),
                ward=WARD,
                options={"base_url": yt.base_url, "token_url": f"{yt.base_url}/token"},
            ),
            "p1-fb": Channel(
                name="p1-fb",
                platform="facebook",
                profiles=("youtube",),
                ward=WARD,
                options={"base_url": fb.base_url, "app_id": fb.app_id, "page_id": fb.page_id},
            ),
            "p1-zalo": Channel(
                name="p1-zalo",
                platform="zalo",
                profiles=("zalo",),
                ward=WARD,
                options={"base_url": zl.base_url, "token_url": f"{zl.base_url}/v4/oa/access_token"},
            ),
            "p1-tt": Channel(name="p1-tt", platform="tiktok", profiles=("tiktok",), ward=WARD),
        }
        secrets = Secrets(
            None,
            {
                "LOA_SECRET_P1_YT_CLIENT_ID": yt.client_id,
                "LOA_SECRET_P1_YT_CLIENT_SECRET": yt.client_secret,
                "LOA_SECRET_P1_YT_REFRESH_TOKEN": yt.refresh_token,
                "LOA_SECRET_P1_FB_PAGE_TOKEN": fb.page_token,
                "LOA_SECRET_P1_FB_USER_TOKEN": fb.user_token,
                "LOA_SECRET_P1_ZALO_APP_ID": zl.app_id,
                "LOA_SECRET_P1_ZALO_SECRET_KEY": zl.secret_key,
                "LOA_SECRET_P1_ZALO_REFRESH_TOKEN": zl.refresh_token,
            },
        )
        storage = LocalStorage(root / "storage")
        self.adapters: dict[str, Adapter] = {
            "youtube": YouTubeAdapter(storage, http, secrets, self.ledger, policy=FAST),
            "facebook": FacebookAdapter(storage, http, secrets, policy=FAST),
            "zalo": ZaloAdapter(storage, http, secrets, self.ledger, policy=FAST),
        }
        self.producer = producer

    def responder(self) -> Responder:
        """A fresh responder over the same ledger: what a restarted publisher is."""
        return Responder(
            channels=self.channels, adapters=self.adapters, ledger=self.ledger, producer=self.producer, policy=FAST
        )


@pytest.fixture
async def world(
    tmp_path: Path,
    emulators: tuple[YouTubeEmulator, FacebookEmulator, ZaloEmulator],
    kafka_broker: KafkaBroker,
    topic_prefix: str,
) -> AsyncIterator[World]:
    producer = EventProducer(kafka_broker.bootstrap, topic_prefix, service=PUBLISHER)
    async with httpx.AsyncClient(timeout=30.0) as http:
        yield World(tmp_path, emulators, http, producer)
    await producer.stop()


def act(channel: str, external_id: str, action: str, **fields: object) -> FeedbackAction:
    return FeedbackAction(
        item_id=feedback_item_id(channel, external_id),
        ward=WARD,
        channel=channel,
        external_id=external_id,
        action=action,  # type: ignore[arg-type]
        by="editor-1",
        **fields,  # type: ignore[arg-type]
    )


async def test_a_youtube_reply_is_posted_once_under_the_top_comment_and_answered_again_on_redelivery(
    world: World,
) -> None:
    yt = world.youtube
    top = yt.comments.comment("vid-any", "Cống ở hẻm 12 bị tắc, nước ngập.")
    under = yt.comments.comment("vid-any", "Đúng vậy, nhà tôi cũng bị.", reply_to=top)
    # A reply to a reply goes under the thread's top comment: YouTube threads are one level deep.
    action = act("p1-yt", under, "reply", thread_id=top, text=REPLY)
    responder = world.responder()

    first = await responder.handle(action)
    again = await world.responder().handle(action)  # redelivered to a restarted publisher

    assert first is not None and first.state == "replied" and first.text == REPLY
    mine = [c for c in yt.comments.replies_to(top) if c["snippet"]["authorChannelId"]["value"] == yt.channel_id]
    assert [c["id"] for c in mine] == [first.reply_id]
    assert mine[0]["snippet"]["textOriginal"] == REPLY
    assert again == first and first.event_id == done_id(action.event_id)
    assert yt.units_by_call.get("comments.insert", 0) >= 50


async def test_a_reply_whose_answer_is_lost_is_found_in_the_thread_not_posted_twice(world: World) -> None:
    yt, fb, zl = world.youtube, world.facebook, world.zalo
    yt_top = yt.comments.comment("vid-any", "Đèn đường hỏng.")
    fb_top = fb.add_comment("Rác chưa được thu gom.")
    zl_message = zl.citizen_writes("user-7", "Cho hỏi lịch tiêm chủng?")
    # Each platform makes the reply, then the connection drops before its answer: the retry must look first.
    yt.inject("drop", "comment_insert")
    fb.inject("drop", "reply_made")
    zl.inject("drop", "message")
    responder = world.responder()

    done = [
        await responder.handle(act("p1-yt", yt_top, "reply", text=REPLY)),
        await responder.handle(act("p1-fb", fb_top, "reply", text=REPLY)),
        await responder.handle(act("p1-zalo", zl_message, "reply", author_id="user-7", text=REPLY)),
    ]

    assert [d.state for d in done if d] == ["replied"] * 3
    assert [c["id"] for c in yt.comments.replies_to(yt_top)] == [done[0] and done[0].reply_id]
    assert [c["id"] for c in fb.replies_to(fb_top)] == [done[1] and done[1].reply_id]
    assert [m["message_id"] for m in zl.replies_to("user-7")] == [done[2] and done[2].reply_id]


async def test_the_same_words_twice_by_two_actions_are_two_replies(world: World) -> None:
    """A found reply belongs to one action: a second action with the same words, cut short, does not take it."""
    fb = world.facebook
    top = fb.add_comment("Khi nào sửa đường?")
    first = await world.responder().handle(act("p1-fb", top, "reply", text="Cảm ơn bạn."))
    second = act("p1-fb", top, "reply", text="Cảm ơn bạn.")
    world.ledger.start_feedback(
        second.event_id, item_id=second.item_id, channel="p1-fb", external_id=top, action="reply"
    )  # as if a crash had cut it short before the platform was asked
    answer = await world.responder().handle(second)

    assert first is not None and answer is not None and answer.state == "replied"
    assert answer.reply_id != first.reply_id
    assert len(fb.replies_to(top)) == 2


async def test_hide_and_show_again_on_youtube_and_facebook(world: World) -> None:
    yt, fb = world.youtube, world.facebook
    yt_comment = yt.comments.comment("vid-any", "Quảng cáo vay tiền nhanh!!!")
    fb_comment = fb.add_comment("Spam spam spam")
    responder = world.responder()

    hidden = [await responder.handle(act(c, i, "hide")) for c, i in (("p1-yt", yt_comment), ("p1-fb", fb_comment))]
    assert [d.state for d in hidden if d] == ["hidden", "hidden"]
    assert yt.comments.status(yt_comment) == "heldForReview"
    assert fb.comments[fb_comment]["is_hidden"] is True

    shown = [await responder.handle(act(c, i, "unhide")) for c, i in (("p1-yt", yt_comment), ("p1-fb", fb_comment))]
    assert [d.state for d in shown if d] == ["unhidden", "unhidden"]
    assert yt.comments.status(yt_comment) == "published"
    assert fb.comments[fb_comment]["is_hidden"] is False


async def test_a_reply_to_a_deleted_comment_fails_clearly_once_and_the_next_act_still_works(world: World) -> None:
    yt, fb = world.youtube, world.facebook
    yt_gone, fb_gone = yt.comments.comment("vid-any", "sẽ bị xoá"), fb.add_comment("sẽ bị xoá")
    yt.comments.delete(yt_gone)
    fb.delete_comment(fb_gone)
    responder = world.responder()
    inserts_before = yt.count("comment_insert")

    failed = [
        await responder.handle(act("p1-yt", yt_gone, "reply", text=REPLY)),
        await responder.handle(act("p1-fb", fb_gone, "hide")),
    ]

    for done in failed:
        assert done is not None and done.state == "failed" and done.reason
        assert "no longer on the platform" in done.reason
        assert_bilingual(done.reason)
    assert yt.count("comment_insert") == inserts_before + 1  # asked once: a gone comment is not retried
    alive = yt.comments.comment("vid-any", "Vẫn còn đây")
    assert (await responder.handle(act("p1-yt", alive, "reply", text=REPLY))) is not None
    assert len(yt.comments.replies_to(alive)) == 1


async def test_zalo_replies_within_the_window_and_refuses_clearly_outside_it(world: World) -> None:
    zl = world.zalo
    message = zl.citizen_writes("user-9", "Xin hỏi thủ tục đăng ký tạm trú?")
    responder = world.responder()
    inside = await responder.handle(act("p1-zalo", message, "reply", author_id="user-9", text=REPLY))
    zl.advance(49 * 3600)  # two days later
    try:
        outside = await responder.handle(act("p1-zalo", message, "reply", author_id="user-9", text="Bổ sung"))
    finally:
        zl.advance(-49 * 3600)

    assert inside is not None and inside.state == "replied"
    assert outside is not None and outside.state == "failed" and outside.reason
    assert "48" in outside.reason
    assert_bilingual(outside.reason)
    assert [m["message"] for m in zl.replies_to("user-9")] == [REPLY]
    # Zalo has no API to hide a message: refused before asking, with where to do it.
    refused = await responder.handle(act("p1-zalo", message, "hide"))
    assert refused is not None and refused.state == "failed" and refused.reason
    assert_bilingual(refused.reason)


async def test_an_expired_token_is_refreshed_and_a_5xx_retried(world: World) -> None:
    yt = world.youtube
    top = yt.comments.comment("vid-any", "Hỏi về giờ làm việc")
    refreshes = yt.refresh_calls
    yt.inject("expire_token", "comment_insert")
    yt.inject("status", "moderate", status=503)
    responder = world.responder()

    replied = await responder.handle(act("p1-yt", top, "reply", text=REPLY))
    hidden = await responder.handle(act("p1-yt", top, "hide"))

    assert replied is not None and replied.state == "replied"
    assert hidden is not None and hidden.state == "hidden"
    assert yt.refresh_calls == refreshes + 2  # the first token of this publisher, then one after the expiry
    assert len(yt.comments.replies_to(top)) == 1


async def test_a_thread_that_pages_for_ever_fails_the_reply_rather_than_risk_a_second(world: World) -> None:
    fb = world.facebook
    top = fb.add_comment("Câu hỏi")
    action = act("p1-fb", top, "reply", text=REPLY)
    world.ledger.start_feedback(
        action.event_id, item_id=action.item_id, channel="p1-fb", external_id=top, action="reply"
    )
    fb.endless_paging = True
    try:
        done = await world.responder().handle(action)
    finally:
        fb.endless_paging = False

    assert done is not None and done.state == "failed" and done.reason
    assert_bilingual(done.reason)
    assert fb.replies_to(top) == []


async def test_acts_not_the_publishers_and_platforms_without_an_api(world: World) -> None:
    responder = world.responder()
    assert await responder.handle(act("p1-yt", "Ugx-any", "handled")) is None
    assert await responder.handle(act("p1-yt", "Ugx-any", "tag", topic="moi-truong")) is None
    tiktok = await responder.handle(act("p1-tt", "7301", "reply", text=REPLY))
    assert tiktok is not None and tiktok.state == "failed" and tiktok.reason
    assert_bilingual(tiktok.reason)
    other_ward = FeedbackAction(
        item_id=feedback_item_id("p1-yt", "Ugx-x"),
        ward="p2",
        channel="p1-yt",
        external_id="Ugx-x",
        action="hide",
        by="editor-2",
    )
    refused = await responder.handle(other_ward)
    assert refused is not None and refused.state == "failed"
    yt = world.youtube
    down = yt.comments.comment("vid-any", "Khi nào có lịch cắt điện?")
    yt.inject("status", "comment_insert", status=503, times=10)  # YouTube stays down through the backoff
    try:
        failed = await responder.handle(act("p1-yt", down, "reply", text=REPLY))
    finally:
        while yt.take_fault("comment_insert"):
            pass
    assert failed is not None and failed.state == "failed" and failed.reason and "ask again" in failed.reason
    assert_bilingual(failed.reason)
    assert yt.comments.replies_to(down) == []


def test_every_answer_is_on_feedback_done(kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path) -> None:
    """What `handle` returns is what went on the topic (read with a plain consumer)."""

    async def run() -> FeedbackDone | None:
        producer = EventProducer(kafka_broker.bootstrap, topic_prefix, service=PUBLISHER)
        try:
            ledger = Ledger.open(tmp_path / "ledger.sqlite3")
            channel = Channel(name="p1-tt", platform="tiktok", profiles=("tiktok",), ward=WARD)
            responder = Responder(channels={"p1-tt": channel}, adapters={}, ledger=ledger, producer=producer)
            return await responder.handle(act("p1-tt", "7301", "reply", text=REPLY))
        finally:
            await producer.stop()

    done = asyncio.run(run())
    assert done is not None
    records = read_topic(kafka_broker.bootstrap, FEEDBACK_DONE.full_name(topic_prefix), lambda r: len(r) >= 1)
    assert [FeedbackDone.from_bytes(r.value) for r in records] == [done]
