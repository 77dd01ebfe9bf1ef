"""The publisher as a process on a real broker answering citizens on the YouTube emulator: a reply is posted once even
when the publisher is SIGKILLed after YouTube made it and before the ledger knew, and when the action is delivered
again; a reply to a deleted comment fails with the reason, and the next act is still done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loa_core.channels import Channel
from loa_core.contracts import FEEDBACK_ACTIONS, FEEDBACK_DONE, FeedbackAction, FeedbackDone, feedback_item_id, new_id
from loa_core.kafka import EventProducer
from loa_dev.kafka import KafkaBroker
from tests.support.bilingual import assert_bilingual
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.kafka import read_topic
from tests.support.publisher_process import PublisherProcess

WARD = "p1"
REPLY = "Cảm ơn chị, tổ dân phố 5 sẽ kiểm tra đèn đường tối nay."


@pytest.fixture
def youtube(tmp_path: Path) -> Iterator[YouTubeEmulator]:
    with YouTubeEmulator(tmp_path / "yt") as emu:
        yield emu


@pytest.fixture
def publisher(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str, youtube: YouTubeEmulator
) -> Iterator[PublisherProcess]:
    channel = Channel(
        name="p1-yt",
        platform="youtube",
        profiles=("youtube",),
        ward=WARD,
        options={"base_url": youtube.base_url, "token_url": f"{youtube.base_url}/token"},
    )
    process = PublisherProcess(
        tmp_path / "publisher",
        bootstrap=kafka_broker.bootstrap,
        prefix=topic_prefix,
        channels=[channel],
        token="test-token-" + new_id(),
        env={
            "LOA_SECRET_P1_YT_CLIENT_ID": youtube.client_id,
            "LOA_SECRET_P1_YT_CLIENT_SECRET": youtube.client_secret,
            "LOA_SECRET_P1_YT_REFRESH_TOKEN": youtube.refresh_token,
        },
    )
    yield process
    process.stop()


def send(bootstrap: str, prefix: str, *actions: FeedbackAction) -> None:
    async def go() -> None:
        producer = EventProducer(bootstrap, prefix)
        try:
            for action in actions:
                await producer.send(FEEDBACK_ACTIONS, action)
        finally:
            await producer.stop()

    asyncio.run(go())


def act(external_id: str, action: str, **fields: object) -> FeedbackAction:
    return FeedbackAction(
        item_id=feedback_item_id("p1-yt", external_id),
        ward=WARD,
        channel="p1-yt",
        external_id=external_id,
        action=action,  # type: ignore[arg-type]
        by="editor-1",
        **fields,  # type: ignore[arg-type]
    )


def answers(bootstrap: str, prefix: str, until: Callable[[list[FeedbackDone]], bool]) -> list[FeedbackDone]:
    records = read_topic(
        bootstrap,
        FEEDBACK_DONE.full_name(prefix),
        lambda r: until([FeedbackDone.from_bytes(x.value) for x in r]),
        timeout_s=120,
    )
    return [FeedbackDone.from_bytes(r.value) for r in records]


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, publisher: PublisherProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s\n{publisher.log_tail()}")
        time.sleep(0.05)


def test_a_reply_is_posted_once_through_a_sigkill_after_the_platform_made_it_and_a_redelivery(
    publisher: PublisherProcess, youtube: YouTubeEmulator, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    top = youtube.comments.comment("vid-any", "Đèn đường ở ngõ 7 bị hỏng mấy hôm nay.")
    action = act(top, "reply", text=REPLY)
    youtube.comments.hold_replies = True  # YouTube makes the reply, then holds its answer: the ledger still says DOING

    publisher.start()
    send(kafka_broker.bootstrap, topic_prefix, action)
    wait_for("YouTube making the reply", youtube.comments.reply_held.is_set, 120, publisher)
    publisher.kill()  # after the platform call, before the ledger's commit (and before the offset's)
    youtube.comments.hold_replies = False
    youtube.comments.release_replies()

    publisher.start()  # the action is delivered again: the reply is looked for in the thread, found, not re-posted
    done = answers(kafka_broker.bootstrap, topic_prefix, lambda d: any(a.action_id == action.event_id for a in d))
    send(kafka_broker.bootstrap, topic_prefix, action)  # and once more, as a redelivery would
    done = answers(kafka_broker.bootstrap, topic_prefix, lambda d: sum(a.action_id == action.event_id for a in d) >= 2)

    mine = [
        c for c in youtube.comments.replies_to(top) if c["snippet"]["authorChannelId"]["value"] == youtube.channel_id
    ]
    assert len(mine) == 1, publisher.log_tail()
    assert youtube.count("comment_insert") == 1, "asked once: the restart found it instead of asking again"
    first, again = [d for d in done if d.action_id == action.event_id]
    assert first.state == "replied" and first.reply_id == mine[0]["id"] and first.text == REPLY
    assert again == first, "the redelivery is answered with the same event, never acted on again"
    for secret in (youtube.client_secret, youtube.refresh_token):
        assert secret not in publisher.log_text()


def test_a_reply_to_a_deleted_comment_fails_with_why_and_the_next_act_is_done(
    publisher: PublisherProcess, youtube: YouTubeEmulator, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    gone = youtube.comments.comment("vid-any", "Sẽ bị xoá")
    youtube.comments.delete(gone)
    spam = youtube.comments.comment("vid-any", "Vay tiền nhanh, lãi suất 0%!!!")
    reply, hide, tag = act(gone, "reply", text=REPLY), act(spam, "hide"), act(spam, "tag", topic="rac-thai")

    publisher.start()
    send(kafka_broker.bootstrap, topic_prefix, reply, tag, hide)
    done = answers(
        kafka_broker.bootstrap, topic_prefix, lambda d: {a.action_id for a in d} >= {reply.event_id, hide.event_id}
    )

    by_action = {d.action_id: d for d in done}
    failed = by_action[reply.event_id]
    assert failed.state == "failed" and failed.reason and "no longer on the platform" in failed.reason
    assert_bilingual(failed.reason)
    assert by_action[hide.event_id].state == "hidden"
    assert youtube.comments.status(spam) == "heldForReview"
    assert tag.event_id not in by_action, "the inbox's own act is not the publisher's"
    assert youtube.count("comment_insert") == 1, "a gone comment is asked about once, not retried"
