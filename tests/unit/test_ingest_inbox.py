"""Ingest's inbox routes (loa_ingest/inbox_api.py) over a real SQLite database and the audit log, with metrics' side
(the inbox it reads items from, ward-filtered by the caller) as an in-process fake: who may act, another ward's item
is 404, what a platform's API cannot do is refused with where to do it by hand, and each act is recorded in the
audit log and sent on feedback.actions naming exactly the item metrics holds."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from loa_core import db
from loa_core.auth import Role, bearer_dependency
from loa_core.channels import Channel
from loa_core.contracts import (
    FEEDBACK_ACTIONS,
    INGEST,
    FeedbackAction,
    InboxItem,
    InboxList,
    ReplyView,
)
from loa_core.contracts.feedback import feedback_item_id
from loa_ingest.access import TokenStore
from loa_ingest.accounts import LockoutPolicy, People
from loa_ingest.approval_api import approval_router
from loa_ingest.audit import AuditLog, audit_csv
from loa_ingest.channels import ChannelStore
from loa_ingest.inbox_api import InboxDesk, inbox_router, who_may
from loa_ingest.inbox_page import format_rules, inbox_page_router, parse_rules
from loa_ingest.status import StatusRefused
from tests.support.bilingual import assert_bilingual
from tests.support.recording import RecordingProducer

P1_YOUTUBE = Channel(name="p1-youtube", platform="youtube", profiles=("youtube",), ward="p1")
P1_FACEBOOK = Channel(name="p1-facebook", platform="facebook", profiles=("youtube",), ward="p1", approval_required=True)
P1_ZALO = Channel(name="p1-zalo", platform="zalo", profiles=("zalo",), ward="p1")
P2_YOUTUBE = Channel(name="p2-youtube", platform="youtube", profiles=("youtube",), ward="p2")
P1_TIKTOK = Channel(name="p1-tiktok", platform="tiktok", profiles=("tiktok",), ward="p1")


def item(channel: Channel, external_id: str, kind: str = "comment", **more: Any) -> InboxItem:
    more.setdefault("text", "Đường Lê Lợi bị ngập nước mỗi khi mưa")
    return InboxItem(
        item_id=feedback_item_id(channel.name, external_id),
        ward=channel.ward,
        channel=channel.name,
        platform=channel.platform,
        kind=kind,  # type: ignore[arg-type]
        external_id=external_id,
        written_at=datetime(2026, 12, 1, 2, 8, tzinfo=UTC),
        **more,
    )


YT = item(
    P1_YOUTUBE,
    "Ugx1.reply",
    thread_id="Ugx1",
    overdue=True,
    topic="ha-tang",
    topic_by="rule",
    url="https://www.youtube.com/watch?v=v1&lc=Ugx1.reply",
    replies=(
        ReplyView(action_id="f" * 32, text="Phường đã ghi nhận", by="a-1", at=datetime(2026, 12, 1, 3, tzinfo=UTC),
                  state="failed", reason="The comment was deleted. / Bình luận đã bị xoá."),
    ),
)  # fmt: skip
FB = item(P1_FACEBOOK, "123_456")
ZALO = item(
    P1_ZALO,
    "msg-1",
    kind="message",
    author_id="zalo-user-7",
    text="<script>alert('x')</script> Cho hỏi lịch thu gom rác ạ?",
)
OTHER = item(P2_YOUTUBE, "Ugz9")


class Metrics:
    """Metrics' inbox as ingest sees it: an item of the caller's ward, else metrics' 404."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens
        self.items = {i.item_id: i for i in (YT, FB, ZALO, OTHER)}
        self.asked: list[dict[str, Any]] = []
        self.rules: dict[str, Any] = {
            "target_hours": 48,
            "rules": [{"topic": "dien", "department": "Điện lực", "keywords": ["điện", "mất điện"], "exceptions": []}],
        }

    async def _ward(self, token: str) -> str | None:
        caller = await self.tokens.caller_of(token)
        assert caller is not None
        return caller.ward_filter()

    async def inbox_item(self, item_id: str, caller_token: str) -> InboxItem:
        ward = await self._ward(caller_token)
        found = self.items.get(item_id)
        if found is None or (ward is not None and found.ward != ward):
            raise StatusRefused(404, "No such item. / Không có mục này.")
        return found

    async def inbox_rules(self, caller_token: str, rules: dict[str, Any] | None = None) -> dict[str, Any]:
        if rules is not None:
            self.rules = rules
        return self.rules

    async def inbox(self, params: dict[str, Any], caller_token: str) -> InboxList:
        ward = await self._ward(caller_token)
        self.asked.append(params)
        items = tuple(i for i in self.items.values() if ward is None or i.ward == ward)
        return InboxList(
            items=items,
            limit=params["limit"],
            offset=params["offset"],
            topics=("dien", "ha-tang"),
            departments={"dien": "Điện lực", "ha-tang": "Hạ tầng, thoát nước"},
            open=3,
            overdue=1,
        )


class Env:
    def __init__(self, tmp_path: Path) -> None:
        engine = db.make_engine(tmp_path / "ingest.sqlite3", service=INGEST)
        db.migrate(engine, INGEST)
        self.producer = RecordingProducer(FEEDBACK_ACTIONS, FeedbackAction)
        self.tokens = TokenStore(engine)
        self.audit = AuditLog(engine, self.producer)
        self.people = People(
            engine, None, LockoutPolicy(), hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        for ward in ("p1", "p2"):
            self.people.create_ward(ward, ward)
        self.metrics = Metrics(self.tokens)
        channels = ChannelStore(engine, self.producer)
        channels.import_if_empty([P1_YOUTUBE, P1_FACEBOOK, P1_ZALO, P1_TIKTOK, P2_YOUTUBE])

        def requires(role: Role):  # type: ignore[no-untyped-def]
            return bearer_dependency(frozenset, self.tokens, need=role)

        app = FastAPI()
        app.include_router(approval_router(channels, self.audit, requires))
        desk = InboxDesk(self.metrics, channels, self.audit, self.people)
        app.include_router(inbox_router(desk, requires))
        app.include_router(inbox_page_router(desk, channels, requires, lambda request: None))
        self.client = TestClient(app)

    def token(self, role: Role, ward: str = "p1") -> dict[str, str]:
        issued = self.tokens.create(role, f"{role} of {ward}", "test", ward)
        return {"Authorization": f"Bearer {issued.token}"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield Env(tmp_path)


def test_an_editor_tags_assigns_marks_handled_and_replies_and_each_act_is_audited_and_sent(env: Env) -> None:
    editor = env.token("editor")
    person = env.people.create("lan", "Chị Lan", "p1", "editor", "mật khẩu đủ dài 1", "test")
    base = f"/inbox/{YT.item_id}"
    assert env.client.post(f"{base}/tag", json={"topic": "ha-tang"}, headers=editor).status_code == 202
    assert env.client.post(f"{base}/assign", json={"assignee": person.id}, headers=editor).status_code == 202
    answer = env.client.post(f"{base}/reply", json={"text": "Phường đã ghi nhận, cảm ơn anh."}, headers=editor)
    assert answer.status_code == 202, answer.text
    assert env.client.post(f"{base}/handled", headers=editor).status_code == 202
    assert env.client.post(f"{base}/reopen", headers=editor).status_code == 202
    assert env.client.post(f"{base}/assign", json={}, headers=editor).status_code == 202  # nobody
    sent = env.producer.sent
    assert [a.action for a in sent] == ["tag", "assign", "reply", "handled", "reopen", "assign"]
    # The item as metrics holds it, never what the request claimed; by: who acted (a token's id, never the token).
    assert {(a.item_id, a.ward, a.channel, a.external_id, a.thread_id) for a in sent} == {
        (YT.item_id, "p1", "p1-youtube", "Ugx1.reply", "Ugx1")
    }
    assert (sent[0].topic, sent[1].assignee, sent[2].text, sent[5].assignee) == (
        "ha-tang",
        person.id,
        "Phường đã ghi nhận, cảm ơn anh.",
        None,
    )
    assert all(a.by.startswith("token:") and a.by != editor["Authorization"] for a in sent)
    body = answer.json()
    assert body["sent"] is True and body["feedback"]["event_id"] == sent[2].event_id
    logged = env.client.get("/audit", headers=env.token("viewer")).json()
    assert [entry["feedback"]["action"] for entry in logged] == [
        "tag",
        "assign",
        "reply",
        "handled",
        "reopen",
        "assign",
    ]
    assert [e.entry for e in env.audit.listed("p1", item_id=YT.item_id)] == sent
    rows = list(csv.DictReader(io.StringIO(audit_csv(env.audit.listed("p1")))))
    assert {k: rows[2][k] for k in ("footage_id", "channel", "decision", "by", "description", "item_id")} == {
        "footage_id": "",
        "channel": "p1-youtube",
        "decision": "inbox.reply",
        "by": sent[2].by,
        "description": "Phường đã ghi nhận, cảm ơn anh.",
        "item_id": YT.item_id,
    }
    assert rows[0]["reason"] == "ha-tang" and rows[1]["reason"] == person.id


def test_another_wards_item_is_404_and_acts_on_nothing(env: Env) -> None:
    for path, body in (("tag", {"topic": "dien"}), ("reply", {"text": "x"}), ("handled", None)):
        response = env.client.post(f"/inbox/{OTHER.item_id}/{path}", json=body, headers=env.token("ward_admin"))
        assert response.status_code == 404, response.text
    assert env.client.get(f"/inbox/{OTHER.item_id}", headers=env.token("viewer")).status_code == 404
    assert env.producer.sent == [] and env.audit.listed(None) == []
    # A district admin reaches every ward's item.
    district = env.token("district_admin", "p1")
    assert env.client.post(f"/inbox/{OTHER.item_id}/handled", headers=district).status_code == 202
    assert env.producer.sent[0].ward == "p2"


def test_viewers_read_editors_act_and_approvers_hide_or_reply_where_approval_is_required(env: Env) -> None:
    viewer, editor, approver = env.token("viewer"), env.token("editor"), env.token("approver")
    listing = env.client.get("/inbox", params={"state": "open", "overdue": True}, headers=viewer)
    assert listing.status_code == 200
    assert {i["item_id"] for i in listing.json()["items"]} == {YT.item_id, FB.item_id, ZALO.item_id}
    assert env.metrics.asked[-1] == {
        "state": "open", "overdue": "true", "assignee": None, "topic": None, "channel": None, "limit": 50, "offset": 0
    }  # fmt: skip
    assert env.client.get(f"/inbox/{YT.item_id}", headers=viewer).json()["thread_id"] == "Ugx1"
    assert env.client.post(f"/inbox/{YT.item_id}/handled", headers=viewer).status_code == 403
    refused = env.client.post(f"/inbox/{YT.item_id}/hide", headers=editor)
    assert refused.status_code == 403
    assert_bilingual(refused.json()["detail"])
    refused = env.client.post(f"/inbox/{FB.item_id}/reply", json={"text": "Cảm ơn chị"}, headers=editor)
    assert refused.status_code == 403  # the Facebook channel requires approval
    assert (
        env.client.post(f"/inbox/{FB.item_id}/reply", json={"text": "Cảm ơn chị"}, headers=approver).status_code == 202
    )
    assert env.client.post(f"/inbox/{YT.item_id}/hide", headers=approver).status_code == 202
    assert env.client.post(f"/inbox/{YT.item_id}/unhide", headers=approver).status_code == 202
    assert [(a.channel, a.action) for a in env.producer.sent] == [
        ("p1-facebook", "reply"),
        ("p1-youtube", "hide"),
        ("p1-youtube", "unhide"),
    ]
    assert who_may("tag", True) == "editor" and who_may("reply", False) == "editor"
    assert who_may("reply", True) == who_may("hide", False) == "approver"


def test_what_the_platform_cannot_do_is_refused_with_where_to_do_it_by_hand(env: Env) -> None:
    approver = env.token("approver")
    refused = env.client.post(f"/inbox/{ZALO.item_id}/hide", headers=approver)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert_bilingual(detail)
    assert "oa.zalo.me" in detail
    # A Zalo message is answered through the API (within its consultation window).
    assert env.client.post(f"/inbox/{ZALO.item_id}/reply", json={"text": "Dạ"}, headers=approver).status_code == 202
    assert [a.action for a in env.producer.sent] == ["reply"]
    assert env.producer.sent[0].author_id == "zalo-user-7", "whom the publisher sends the reply to"


def test_an_assignee_must_be_a_person_of_the_items_ward_and_a_reply_has_words(env: Env) -> None:
    editor = env.token("editor")
    stranger = env.people.create("minh", "Anh Minh", "p2", "editor", "mật khẩu đủ dài 2", "test")
    for assignee in (stranger.id, "a-000000000000"):
        refused = env.client.post(f"/inbox/{YT.item_id}/assign", json={"assignee": assignee}, headers=editor)
        assert refused.status_code == 422
        assert_bilingual(refused.json()["detail"])
    assert env.client.post(f"/inbox/{YT.item_id}/reply", json={"text": ""}, headers=editor).status_code == 422
    long = "ạ" * 2001
    assert env.client.post(f"/inbox/{YT.item_id}/reply", json={"text": long}, headers=editor).status_code == 422
    assert env.client.post(f"/inbox/{YT.item_id}/tag", json={"topic": "Điện"}, headers=editor).status_code == 422
    assert env.producer.sent == []


def test_an_act_not_sent_is_sent_again_by_the_outbox_with_the_same_id(env: Env) -> None:
    env.producer.down = True
    answer = env.client.post(f"/inbox/{YT.item_id}/handled", headers=env.token("editor"))
    assert answer.status_code == 202 and answer.json()["sent"] is False
    env.producer.down = False
    assert asyncio.run(env.audit.send_pending()) == 1
    (sent,) = env.producer.sent
    assert sent.event_id == answer.json()["feedback"]["event_id"]
    assert asyncio.run(env.audit.send_pending()) == 0


def test_the_page_shows_the_wards_inbox_escaped_with_what_each_person_may_do(env: Env) -> None:
    page = env.client.get("/ui/inbox", headers=env.token("editor"))
    assert page.status_code == 200, page.text
    html = page.text
    assert "Hộp thư người dân" in html and "Đường Lê Lợi bị ngập nước mỗi khi mưa" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Cho hỏi" in html
    assert f'id="item-{YT.item_id}"' in html and 'class="card item overdue"' in html
    assert "Hạ tầng, thoát nước" in html and "Không đăng được" in html and "Bình luận đã bị xoá" in html
    assert "https://www.youtube.com/watch?v=v1&amp;lc=Ugx1.reply" in html
    assert "Kênh p1-tiktok (tiktok) không thu thập bình luận" in html
    assert OTHER.item_id not in html
    # An editor: no hiding (an approver's), and Zalo offers none at all (where by hand instead).
    assert 'class="hide-form"' not in html and "oa.zalo.me" in html and 'class="reply-form"' in html
    assert "Ẩn bình luận cần người duyệt." in html and "Trả lời trên kênh này cần người duyệt" in html
    approver = env.client.get("/ui/inbox", params={"lang": "en"}, headers=env.token("approver")).text
    assert "Citizens&#39; inbox" in approver and approver.count('class="hide-form"') == 2  # YouTube and Facebook
    viewer = env.client.get("/ui/inbox", headers=env.token("viewer")).text
    assert 'class="reply-form"' not in viewer and 'class="tag-form"' not in viewer


def test_a_reply_from_the_page_is_audited_and_sent_and_returns_to_the_item(env: Env) -> None:
    editor = env.token("editor")
    form = {"action": "reply", "text": "  Phường sẽ kiểm tra trong tuần.  ", "back": "/ui/inbox?state=all"}
    answer = env.client.post(f"/ui/inbox/{YT.item_id}", data=form, headers=editor, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/ui/inbox?state=all#item-{YT.item_id}"
    (sent,) = env.producer.sent
    assert (sent.action, sent.text, sent.item_id) == ("reply", "Phường sẽ kiểm tra trong tuần.", YT.item_id)
    away = {"action": "handled", "back": "https://example.org/"}
    answer = env.client.post(f"/ui/inbox/{YT.item_id}", data=away, headers=editor, follow_redirects=False)
    assert answer.headers["location"] == f"/ui/inbox#item-{YT.item_id}"  # never back to another site
    refused = env.client.post(f"/ui/inbox/{YT.item_id}", data={"action": "hide"}, headers=editor)
    assert refused.status_code == 403 and "Chỉ người duyệt" in refused.text
    empty = env.client.post(f"/ui/inbox/{YT.item_id}", data={"action": "reply", "text": "   "}, headers=editor)
    assert empty.status_code == 422 and "Câu trả lời có từ 1 đến" in empty.text
    assert [a.action for a in env.producer.sent] == ["reply", "handled"]


def test_a_ward_admin_changes_the_triage_rules_from_a_form_of_one_line_per_topic(env: Env) -> None:
    text = "dien | Điện lực | điện, mất điện, cúp điện | điện thoại\n\nha-tang | Hạ tầng | ngập nước, cống"
    rules = parse_rules(text)
    assert rules[0] == {
        "topic": "dien",
        "department": "Điện lực",
        "keywords": ["điện", "mất điện", "cúp điện"],
        "exceptions": ["điện thoại"],
    }
    assert rules[1]["exceptions"] == [] and format_rules(rules) == text.replace("\n\n", "\n")
    with pytest.raises(ValueError, match=r"Line 2.*Dòng 2"):
        parse_rules("dien | Điện lực | điện\nchỉ một cột")
    admin = env.token("ward_admin")
    form = env.client.get("/ui/inbox/rules", headers=admin)
    assert form.status_code == 200 and "dien | Điện lực | điện, mất điện" in form.text
    saved = env.client.post(
        "/ui/inbox/rules", data={"target_hours": "24", "rules": text}, headers=admin, follow_redirects=False
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/ui/inbox/rules?saved=1"
    assert env.metrics.rules == {"target_hours": 24, "rules": rules}
    wrong = env.client.post("/ui/inbox/rules", data={"target_hours": "24", "rules": "chỉ một cột"}, headers=admin)
    assert wrong.status_code == 422 and "Dòng 1" in wrong.text and "chỉ một cột" in wrong.text  # kept to fix
    assert env.client.get("/ui/inbox/rules", headers=env.token("editor")).status_code == 403
    assert 'id="rules-link"' in env.client.get("/ui/inbox", headers=admin).text
