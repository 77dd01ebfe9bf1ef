"""The publisher as a real process on a real broker, for a channel that requires approval (from its channels file):
a post waits until an approval of exactly its cut arrives on posts.decisions, then goes out once; an approval of
another cut does not release it; a rejection never reaches the platform (the `local` publish folder) and is said on
posts.failed; a decision that arrives before the renditions is applied when they come. The ward's approvers hear of
each post that waits, once, by e-mail (a real SMTP server, aiosmtpd) and on a webhook (a real HTTP server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request

from loa_core.channels import Channel
from loa_core.contracts import (
    POSTS_DECISIONS,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    PostDecision,
    PostFailed,
    PostPublished,
    PostText,
    RenditionsReady,
    new_id,
)
from loa_core.hashing import sha256_file
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from loa_publisher.decide import AWAITING_APPROVAL, rejected_because
from loa_publisher.ledger import Ledger, PostState
from tests.integration.test_publisher_registry import ready, send, wait_for
from tests.support.asgi_server import serve_in_thread
from tests.support.kafka import read_topic
from tests.support.publisher_process import PublisherProcess
from tests.support.publishing import event_for, metadata, stored_rendition
from tests.support.smtp import Inbox, smtp_server

CHANNEL = Channel(name="ward-local", platform="local", profiles=("youtube",), ward="p1", approval_required=True)
OPEN = Channel(name="ward-open", platform="local", profiles=("youtube",), ward="p1", approval_required=False)
EDITED = PostText(
    title="Lễ chào cờ đầu tháng (đã sửa)", description="Nội dung do biên tập viên sửa", hashtags=("#Phường1",)
)


APPROVER = "duyet@phuong1.example.vn"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, object]]]]:
    received: list[dict[str, object]] = []
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        received.append(json.loads(await request.body()))
        return {"ok": True}

    with serve_in_thread(app) as url:
        yield f"{url}/hook", received


@pytest.fixture
def publisher(
    tmp_path: Path,
    kafka_broker: KafkaBroker,
    topic_prefix: str,
    smtp: tuple[Controller, Inbox],
    webhook: tuple[str, list[dict[str, object]]],
) -> Iterator[PublisherProcess]:
    process = PublisherProcess(
        tmp_path / "publisher",
        bootstrap=kafka_broker.bootstrap,
        prefix=topic_prefix,
        channels=[CHANNEL, OPEN],
        token="test-token-" + new_id(),
        env={
            "LOA_SMTP_HOST": "127.0.0.1",
            "LOA_SMTP_PORT": str(smtp[0].port),
            "LOA_SMTP_STARTTLS": "false",
            "LOA_SMTP_FROM": "loa@phuong1.example.vn",
            "LOA_APPROVAL_EMAILS": json.dumps({"p1": [APPROVER], "p2": ["other@phuong2.example.vn"]}),
            "LOA_APPROVAL_WEBHOOK_URL": webhook[0],
            "LOA_INGEST_URL": "https://loa.phuong1.example.vn",
        },
    )
    yield process
    process.stop()


def renditions(publisher: PublisherProcess, channel: str = "ward-local") -> RenditionsReady:
    storage = LocalStorage(publisher.root / "storage")
    footage_id = new_id()
    cut = stored_rendition(storage, 4096, "youtube", footage_id)
    path = storage.local_path(cut.key)
    assert path is not None
    return event_for(footage_id, metadata((channel,)), cut.model_copy(update={"sha256": sha256_file(path)}))


def edit(event: RenditionsReady, channel: str, text: PostText = EDITED) -> PostDecision:
    return PostDecision(
        footage_id=event.footage_id,
        ward="p1",
        channel=channel,
        decision="edited",
        by="acc-editor",
        text=text,
        text_sha256=text.sha256(),
    )


def posted_text(publisher: PublisherProcess, footage_id: str) -> tuple[str, str, list[str]]:
    post = json.loads((publisher.root / "published" / footage_id / "post.json").read_text("utf-8"))
    return post["title"], post["description"], post["hashtags"]


def decision(
    event: RenditionsReady, verdict: str = "approved", cut: str | None = None, text: PostText | None = None
) -> PostDecision:
    return PostDecision(
        footage_id=event.footage_id,
        ward="p1",
        channel="ward-local",
        decision=verdict,  # type: ignore[arg-type]
        by="acc-approver",
        reason="Sai tên đồng chí Bí thư / the Secretary's name is wrong" if verdict == "rejected" else None,
        cuts={"youtube": cut or event.renditions[0].sha256 or ""},
        text=text,
        text_sha256=(text or PostText.of(event.metadata)).sha256(),
    )


def published(publisher: PublisherProcess, footage_id: str) -> bool:
    return (publisher.root / "published" / footage_id / "youtube.mp4").exists()


def test_posts_to_a_channel_that_requires_approval_go_out_only_as_approved(
    publisher: PublisherProcess,
    kafka_broker: KafkaBroker,
    topic_prefix: str,
    smtp: tuple[Controller, Inbox],
    webhook: tuple[str, list[dict[str, object]]],
) -> None:
    bootstrap = kafka_broker.bootstrap
    publisher.start()
    wait_for("/readyz", lambda: ready(publisher), 120, publisher)
    waiting, rejected, early = renditions(publisher), renditions(publisher), renditions(publisher)

    # Decided before its renditions exist: kept, applied when they come.
    send(bootstrap, topic_prefix, POSTS_DECISIONS, decision(early))
    for event in (waiting, rejected):
        send(bootstrap, topic_prefix, RENDITIONS_READY, event)

    ledger = Ledger.open(publisher.root / "data" / "publisher-ledger.sqlite3")
    try:

        def state(event: RenditionsReady) -> tuple[PostState | None, str | None]:
            entry = ledger.get(event.footage_id, "ward-local", "youtube")
            return (entry.state, entry.error) if entry else (None, None)

        for event in (waiting, rejected):
            wait_for("the post held for approval", lambda e=event: state(e)[0] is PostState.SCHEDULED, 60, publisher)
            assert state(event) == (PostState.SCHEDULED, AWAITING_APPROVAL)

        # An approval of another cut (one made before this one, say) does not release it.
        send(bootstrap, topic_prefix, POSTS_DECISIONS, decision(waiting, cut="0" * 64))
        asked = f"approved {waiting.footage_id}/ward-local"
        wait_for("the publisher reading the decision", lambda: asked in publisher.log_text(), 60, publisher)
        rejection = decision(rejected, "rejected")
        send(bootstrap, topic_prefix, POSTS_DECISIONS, rejection)
        failed = read_topic(bootstrap, POSTS_FAILED.full_name(topic_prefix), lambda r: len(r) >= 1, timeout_s=60)
        assert [(f.footage_id, f.reason, f.retryable) for f in (PostFailed.from_bytes(r.value) for r in failed)] == [
            (rejected.footage_id, rejected_because(rejection.reason or ""), False)
        ], publisher.log_tail()
        assert state(rejected) == (PostState.REJECTED, rejected_because(rejection.reason or ""))
        assert state(waiting) == (PostState.SCHEDULED, AWAITING_APPROVAL)

        # The approval of exactly its cut and text releases it; the early one went out when its renditions came.
        send(bootstrap, topic_prefix, POSTS_DECISIONS, decision(waiting))
        send(bootstrap, topic_prefix, RENDITIONS_READY, early)
        records = read_topic(bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 2, timeout_s=60)
        posts = [PostPublished.from_bytes(r.value) for r in records]
        assert sorted(p.footage_id for p in posts) == sorted([waiting.footage_id, early.footage_id])
        # The same approval again, and the renditions redelivered: announced again at most, never posted again.
        send(bootstrap, topic_prefix, POSTS_DECISIONS, decision(waiting))
        send(bootstrap, topic_prefix, RENDITIONS_READY, waiting)
        again = read_topic(bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 3, timeout_s=60)
        assert len({PostPublished.from_bytes(r.value).event_id for r in again}) == 2, publisher.log_tail()
        assert published(publisher, waiting.footage_id) and published(publisher, early.footage_id)
        assert not published(publisher, rejected.footage_id)
        assert state(rejected)[0] is PostState.REJECTED and state(waiting)[0] is PostState.POSTED
        # Posted once (the local adapter's post id is the same for a second copy, so the log says it).
        assert publisher.log_text().count(f"posted PostKey(footage_id='{waiting.footage_id}'") == 1

        # The ward's approver heard once of each post that waited (not of the one approved before it came).
        inbox = smtp[1].messages
        assert "approval notice" not in publisher.log_text(), publisher.log_tail()
        assert (
            sorted(m["Subject"] for m in inbox)
            == ["Chờ duyệt / Awaiting approval: " + waiting.metadata.title + " → ward-local"] * 2
        )
        assert all(m["To"] == APPROVER for m in inbox)
        links = {
            f"https://loa.phuong1.example.vn/ui/footage/{e.footage_id}?channel=ward-local" for e in (waiting, rejected)
        }
        assert {line.strip() for m in inbox for line in m.get_content().splitlines() if "://" in line} == links
        hooks = webhook[1]
        assert sorted(h["footage_id"] for h in hooks) == sorted([waiting.footage_id, rejected.footage_id])  # type: ignore[type-var]
        assert {h["cut_sha256"] for h in hooks if h["footage_id"] == waiting.footage_id} == {
            waiting.renditions[0].sha256
        }
        assert all(h["event"] == "post.awaiting_approval" and h["link"] in links for h in hooks)
    finally:
        ledger.close()


def test_an_editors_text_is_posted_as_is_without_approval_and_approved_again_with_it(
    publisher: PublisherProcess, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    """On a channel without approval the newest edit is what goes out; on one with approval an edit made after
    the approval holds the post again until the approver approves the edited text, which then goes out."""
    bootstrap = kafka_broker.bootstrap
    publisher.start()
    wait_for("/readyz", lambda: ready(publisher), 120, publisher)
    free, held = renditions(publisher, "ward-open"), renditions(publisher)
    first = PostText(title="Bản sửa đầu / a first edit")
    send(bootstrap, topic_prefix, POSTS_DECISIONS, edit(free, "ward-open", first))
    send(bootstrap, topic_prefix, POSTS_DECISIONS, edit(free, "ward-open"))  # the newest edit wins
    send(bootstrap, topic_prefix, POSTS_DECISIONS, decision(held))  # approved as written, then edited
    send(bootstrap, topic_prefix, POSTS_DECISIONS, edit(held, "ward-local"))
    for event in (free, held):
        send(bootstrap, topic_prefix, RENDITIONS_READY, event)

    ledger = Ledger.open(publisher.root / "data" / "publisher-ledger.sqlite3")
    try:
        wait_for("the edited post out", lambda: published(publisher, free.footage_id), 60, publisher)
        assert posted_text(publisher, free.footage_id) == (EDITED.title, EDITED.description, list(EDITED.hashtags))

        def held_state() -> PostState | None:
            entry = ledger.get(held.footage_id, "ward-local", "youtube")
            return entry.state if entry else None

        wait_for("the edited post held", lambda: held_state() is PostState.SCHEDULED, 60, publisher)
        assert not published(publisher, held.footage_id)
        send(bootstrap, topic_prefix, POSTS_DECISIONS, decision(held, text=EDITED))  # the approver saw the edit
        wait_for("the approved edit out", lambda: published(publisher, held.footage_id), 60, publisher)
        assert posted_text(publisher, held.footage_id) == (EDITED.title, EDITED.description, list(EDITED.hashtags))
    finally:
        ledger.close()
