"""People's fixes to posts that went out (posts.actions): the pure decision as a table, and the publisher's flow with
an in-process fake adapter and producer: each action acts once, a crash mid-action does it again, refusals say why."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from loa_core.channels import Channel
from loa_core.contracts import (
    POSTS_CHANGED,
    ActionKind,
    PostAction,
    PostChanged,
    Unpublish,
    allows,
    new_id,
)
from loa_core.streaming import PermanentError, RetryableError
from loa_publisher.adapters import LivePost, PostResult, PostText, PublishRequest, UploadSession
from loa_publisher.decide import NOT_OUT, TAKEN_DOWN, Act, ActionStep, Refuse, Repeat, decide_action, no_api
from loa_publisher.ledger import ActionState, Ledger, PostKey, PostState
from loa_publisher.publish import Publisher
from tests.support.publishing import event_for, metadata
from tests.unit.test_publisher_publish import Clock, FakeProducer, rendition

P, D = PostState, ActionState
TIKTOK_NO_API = no_api("tiktok", "unpublish")


@pytest.mark.parametrize(
    ("post", "done", "platform", "action", "how", "expected"),
    [
        # Answered before (a redelivery): the same answer again, nothing done twice.
        (P.POSTED, D.DONE, "youtube", "edit", None, Repeat()),
        (P.EDITED, D.FAILED, "youtube", "unpublish", "delete", Repeat()),
        # A crash after asking the platform: asked again.
        (P.POSTED, D.DOING, "youtube", "edit", None, Act(again=True)),
        (P.POSTED, None, "youtube", "edit", None, Act(again=False)),
        (P.EDITED, None, "youtube", "edit", None, Act(again=False)),
        (P.POSTED, None, "youtube", "unpublish", "private", Act(again=False)),
        (P.POSTED, None, "facebook", "unpublish", "delete", Act(again=False)),
        (P.POSTED, None, "zalo", "unpublish", "delete", Act(again=False)),
        # A post not out has nothing to change.
        (None, None, "youtube", "edit", None, Refuse(NOT_OUT)),
        (P.SCHEDULED, None, "youtube", "unpublish", "delete", Refuse(NOT_OUT)),
        (P.FAILED, None, "youtube", "edit", None, Refuse(NOT_OUT)),
        # What the platform's API cannot do.
        (P.POSTED, None, "tiktok", "unpublish", "delete", Refuse(TIKTOK_NO_API)),
        (P.POSTED, None, "zalo", "edit", None, Refuse(no_api("zalo", "edit"))),
        (P.POSTED, None, "facebook", "unpublish", "private", Refuse(no_api("facebook", "unpublish"))),
        # Taken down: deleting again is harmless, editing or hiding is not possible.
        (P.UNPUBLISHED, None, "youtube", "unpublish", "delete", Act(again=False)),
        (P.UNPUBLISHED, None, "youtube", "unpublish", "private", Refuse(TAKEN_DOWN)),
        (P.UNPUBLISHED, None, "youtube", "edit", None, Refuse(TAKEN_DOWN)),
    ],
)
def test_decide_action(
    post: PostState | None,
    done: ActionState | None,
    platform: str,
    action: ActionKind,
    how: Unpublish | None,
    expected: ActionStep,
) -> None:
    assert decide_action(post, done, platform=platform, action=action, how=how, has_adapter=True) == expected


def test_a_platform_without_the_api_is_refused_with_where_to_do_it_by_hand() -> None:
    assert not allows("tiktok", "edit") and not allows("tiktok", "unpublish", "delete")
    assert "https://www.tiktok.com/tiktokstudio/content" in TIKTOK_NO_API
    assert "không có API" in TIKTOK_NO_API  # bilingual
    assert decide_action(P.POSTED, None, platform="youtube", action="edit", how=None, has_adapter=False) == Refuse(
        no_api("youtube", "edit")
    )


class FakeChanger:
    """A platform's adapter that counts each change, and can fail the next one."""

    platform = "youtube"

    def __init__(self) -> None:
        self.texts: list[tuple[str, PostText]] = []
        self.unpublished: list[tuple[str, str]] = []
        self.fail_next: BaseException | None = None

    async def publish(self, request: PublishRequest, session: UploadSession) -> PostResult:
        return PostResult(post_id="vid-1", url="https://y/vid-1")

    def _maybe_fail(self) -> None:
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            raise failure

    async def update_text(self, post: LivePost, text: PostText) -> None:
        self._maybe_fail()
        self.texts.append((post.post_id, text))

    async def unpublish(self, post: LivePost, how: str) -> None:
        self._maybe_fail()
        self.unpublished.append((post.post_id, how))


CHANNEL = Channel(name="yt", platform="youtube", profiles=("youtube",), ward="p1")


async def posted(tmp_path: Path) -> tuple[Publisher, FakeProducer, Ledger, FakeChanger, str]:
    clock = Clock()
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", clock=clock)
    producer = FakeProducer()
    adapter = FakeChanger()
    publisher = Publisher(
        channels={"yt": CHANNEL},
        adapters={"youtube": adapter},
        ledger=ledger,
        producer=producer,  # type: ignore[arg-type]
        hold_after_transient=timedelta(minutes=5),
        clock=clock,
    )
    footage_id = new_id()
    event = event_for(footage_id, metadata(("yt",)), rendition("youtube")).model_copy(update={"ward": "p1"})
    await publisher.handle(event)
    entry = ledger.get(footage_id, "yt", "youtube")
    assert entry is not None and entry.state is PostState.POSTED and entry.post_id == "vid-1"
    producer.sent.clear()
    return publisher, producer, ledger, adapter, footage_id


def changes(producer: FakeProducer) -> list[PostChanged]:
    return [e for topic, e in producer.sent if topic == POSTS_CHANGED.name]  # type: ignore[misc]


def edit(footage_id: str, title: str = "Tiêu đề đã sửa") -> PostAction:
    return PostAction(
        footage_id=footage_id, ward="p1", channel="yt", action="edit", by="acc-1", title=title, description="Mô tả"
    )


def unpublish(footage_id: str, how: Unpublish = "delete") -> PostAction:
    return PostAction(footage_id=footage_id, ward="p1", channel="yt", action="unpublish", by="acc-1", how=how)


def counted(action: str, outcome: str) -> float:
    labels = {"platform": "youtube", "action": action, "outcome": outcome}
    return REGISTRY.get_sample_value("loa_post_actions_total", labels) or 0.0


async def test_an_edit_then_an_unpublish_each_act_once_even_when_redelivered(tmp_path: Path) -> None:
    publisher, producer, ledger, adapter, footage_id = await posted(tmp_path)
    edits_before = counted("edit", "edited")
    action = edit(footage_id)
    assert await publisher.act(action) == 1
    await publisher.act(action)  # redelivered
    assert [(post_id, text.title) for post_id, text in adapter.texts] == [("vid-1", "Tiêu đề đã sửa")]
    first, again = changes(producer)
    assert first == again  # the same answer, the same event id
    assert first.state == "edited" and first.title == "Tiêu đề đã sửa" and first.action_id == action.event_id
    assert first.ward == "p1" and first.post_id == "vid-1"
    assert counted("edit", "edited") == edits_before + 1  # answered twice, counted once
    entry = ledger.get(footage_id, "yt", "youtube")
    assert entry is not None and entry.state is PostState.EDITED

    down = unpublish(footage_id)
    await publisher.act(down)
    await publisher.act(down)
    assert adapter.unpublished == [("vid-1", "delete")]
    assert [c.state for c in changes(producer)] == ["edited", "edited", "unpublished", "unpublished"]
    entry = ledger.get(footage_id, "yt", "youtube")
    assert entry is not None and entry.state is PostState.UNPUBLISHED

    # A renditions.ready redelivered after that never posts it again, nor announces it as published.
    producer.sent.clear()
    event = event_for(footage_id, metadata(("yt",)), rendition("youtube")).model_copy(update={"ward": "p1"})
    await publisher.handle(event)
    assert producer.sent == []


async def test_an_action_cut_short_by_a_crash_is_done_again(tmp_path: Path) -> None:
    publisher, producer, ledger, adapter, footage_id = await posted(tmp_path)
    action = unpublish(footage_id, "private")
    key = PostKey(footage_id, "yt", "youtube")
    ledger.start_action(action.event_id, key)  # the platform may have been asked when the worker died
    await publisher.act(action)
    assert adapter.unpublished == [("vid-1", "private")]
    assert ledger.action(action.event_id, "youtube") is not None
    assert [c.state for c in changes(producer)] == ["unpublished"]


async def test_a_failed_action_is_said_once_and_changes_nothing(tmp_path: Path) -> None:
    publisher, producer, ledger, adapter, footage_id = await posted(tmp_path)
    adapter.fail_next = PermanentError("HTTP 400: The request metadata specifies an invalid video title.")
    action = edit(footage_id)
    await publisher.act(action)
    await publisher.act(action)  # redelivered: the same failure, not a second try
    assert adapter.texts == []
    failed = changes(producer)
    assert [c.state for c in failed] == ["failed", "failed"]
    assert failed[0].reason == "youtube: HTTP 400: The request metadata specifies an invalid video title."
    entry = ledger.get(footage_id, "yt", "youtube")
    assert entry is not None and entry.state is PostState.POSTED


async def test_a_platform_down_through_the_backoff_answers_failed_without_holding_the_topic(tmp_path: Path) -> None:
    publisher, producer, ledger, adapter, footage_id = await posted(tmp_path)
    adapter.fail_next = RetryableError("delete video: gave up after 8 attempts: HTTP 503: Backend Error")
    action = unpublish(footage_id)
    await publisher.act(action)  # no exception: the record is acked, later actions are not held behind it
    (failed,) = changes(producer)
    assert failed.state == "failed" and failed.reason is not None and "HTTP 503" in failed.reason
    entry = ledger.get(footage_id, "yt", "youtube")
    assert entry is not None and entry.state is PostState.POSTED
    again = unpublish(footage_id)  # a person asks again: a new action
    await publisher.act(again)
    assert adapter.unpublished == [("vid-1", "delete")]


async def test_an_action_on_a_post_not_of_that_ward_or_channel_is_dead_lettered(tmp_path: Path) -> None:
    publisher, _, _, adapter, footage_id = await posted(tmp_path)
    other_ward = edit(footage_id).model_copy(update={"ward": "p2"})
    with pytest.raises(PermanentError, match="no post of footage"):
        await publisher.act(other_ward)
    with pytest.raises(PermanentError, match="no post of footage"):
        await publisher.act(edit(new_id()))
    assert adapter.texts == []


async def test_an_action_on_a_post_held_for_approval_is_refused(tmp_path: Path) -> None:
    publisher, producer, ledger, adapter, _ = await posted(tmp_path)
    held = Channel(name="yt", platform="youtube", profiles=("youtube",), ward="p1", approval_required=True)
    publisher.channels = {"yt": held}
    footage_id = new_id()
    event = event_for(footage_id, metadata(("yt",)), rendition("youtube")).model_copy(update={"ward": "p1"})
    await publisher.handle(event)
    entry = ledger.get(footage_id, "yt", "youtube")
    assert entry is not None and entry.state is PostState.SCHEDULED
    await publisher.act(edit(footage_id))
    (refused,) = changes(producer)
    assert refused.state == "failed" and refused.reason == NOT_OUT
    assert adapter.texts == []
