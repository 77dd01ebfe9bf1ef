"""Ingest's routes to fix what went out (loa_ingest/actions_api.py) over a real SQLite database and the audit log: who
may edit or unpublish, another ward's channel is 404, TikTok is refused with where to do it by hand, and each action
is recorded in the audit log (also its outbox) and sent on posts.actions, once, even after a failed send."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from loa_core import db
from loa_core.auth import Role, bearer_dependency
from loa_core.channels import Channel
from loa_core.contracts import INGEST, POSTS_ACTIONS, PostAction
from loa_ingest.access import TokenStore
from loa_ingest.actions_api import actions_router
from loa_ingest.approval_api import approval_router
from loa_ingest.audit import AuditLog
from loa_ingest.channels import ChannelStore
from tests.support.bilingual import assert_bilingual
from tests.support.recording import RecordingProducer

FOOTAGE = "3b1f5c0e2d9a4e6f8a7b6c5d4e3f2a1b"
P1_YOUTUBE = Channel(name="p1-youtube", platform="youtube", profiles=("youtube",), ward="p1", approval_required=True)
P1_FACEBOOK = Channel(name="p1-facebook", platform="facebook", profiles=("youtube",), ward="p1")
P1_TIKTOK = Channel(name="p1-tiktok", platform="tiktok", profiles=("tiktok",), ward="p1")
P1_ZALO = Channel(name="p1-zalo", platform="zalo", profiles=("zalo",), ward="p1")
P2_YOUTUBE = Channel(name="p2-youtube", platform="youtube", profiles=("youtube",), ward="p2")


class Env:
    def __init__(self, tmp_path: Path) -> None:
        engine = db.make_engine(tmp_path / "ingest.sqlite3", service=INGEST)
        db.migrate(engine, INGEST)
        self.producer = RecordingProducer(POSTS_ACTIONS, PostAction)
        self.tokens = TokenStore(engine)
        self.audit = AuditLog(engine, self.producer)
        channels = ChannelStore(engine, self.producer)
        channels.import_if_empty([P1_YOUTUBE, P1_FACEBOOK, P1_TIKTOK, P1_ZALO, P2_YOUTUBE])

        def requires(role: Role):  # type: ignore[no-untyped-def]
            return bearer_dependency(frozenset, self.tokens, need=role)

        app = FastAPI()
        app.include_router(approval_router(channels, self.audit, requires))
        app.include_router(actions_router(channels, self.audit, requires))
        self.client = TestClient(app)

    def token(self, role: Role, ward: str = "p1") -> dict[str, str]:
        issued = self.tokens.create(role, f"{role} of {ward}", "test", ward)
        return {"Authorization": f"Bearer {issued.token}"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield Env(tmp_path)


def url(channel: str, what: str) -> str:
    return f"/posts/{FOOTAGE}/{channel}/{what}"


EDIT = {"title": "Hội nghị tiếp xúc cử tri (đã sửa)", "description": "Quý IV năm 2026"}


def test_an_approver_changes_the_text_and_it_is_recorded_and_sent(env: Env) -> None:
    response = env.client.post(url("p1-youtube", "edit"), json=EDIT, headers=env.token("approver"))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["sent"] is True and body["decision"] is None
    (sent,) = env.producer.sent
    assert body["action"]["event_id"] == sent.event_id
    assert (sent.action, sent.ward, sent.channel, sent.title, sent.description) == (
        "edit",
        "p1",
        "p1-youtube",
        EDIT["title"],
        EDIT["description"],
    )
    assert sent.by.startswith("token:")
    (logged,) = env.client.get("/audit", headers=env.token("viewer")).json()
    assert logged["action"]["event_id"] == sent.event_id
    csv = env.client.get("/audit.csv", headers=env.token("viewer")).content.decode("utf-8-sig")
    assert f"p1-youtube,edit,{sent.by},,,{EDIT['title']}" in csv


def test_an_editor_unpublishes_but_changes_text_only_where_no_approval_is_needed(env: Env) -> None:
    editor = env.token("editor")
    refused = env.client.post(url("p1-youtube", "edit"), json=EDIT, headers=editor)
    assert refused.status_code == 403
    assert_bilingual(refused.json()["detail"])
    assert env.client.post(url("p1-facebook", "edit"), json=EDIT, headers=editor).status_code == 202
    down = env.client.post(url("p1-youtube", "unpublish"), json={"how": "private"}, headers=editor)
    assert down.status_code == 202
    assert env.client.post(url("p1-zalo", "unpublish"), json={}, headers=editor).status_code == 202
    assert [(a.channel, a.action, a.how) for a in env.producer.sent] == [
        ("p1-facebook", "edit", None),
        ("p1-youtube", "unpublish", "private"),
        ("p1-zalo", "unpublish", "delete"),
    ]
    viewer = env.client.post(url("p1-youtube", "unpublish"), json={}, headers=env.token("viewer"))
    assert viewer.status_code == 403


def test_another_wards_channel_is_404_and_nothing_is_recorded(env: Env) -> None:
    for what, body in (("edit", EDIT), ("unpublish", {})):
        response = env.client.post(url("p2-youtube", what), json=body, headers=env.token("approver"))
        assert response.status_code == 404
        assert_bilingual(response.json()["detail"])
    assert env.client.post(url("ghost", "unpublish"), json={}, headers=env.token("editor")).status_code == 404
    assert env.producer.sent == [] and env.audit.listed(None) == []


def test_what_a_platform_cannot_do_is_refused_with_where_to_do_it_by_hand(env: Env) -> None:
    approver = env.token("approver")
    for what, body in (("edit", EDIT), ("unpublish", {})):
        response = env.client.post(url("p1-tiktok", what), json=body, headers=approver)
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert_bilingual(detail)
        assert "https://www.tiktok.com/tiktokstudio/content" in detail
    # Zalo has no article edit; Facebook cannot make a Page video private through Loa.
    assert env.client.post(url("p1-zalo", "edit"), json=EDIT, headers=approver).status_code == 422
    private = env.client.post(url("p1-facebook", "unpublish"), json={"how": "private"}, headers=approver)
    assert private.status_code == 422
    assert env.producer.sent == [] and env.audit.listed(None) == []


async def test_an_action_recorded_while_the_broker_is_away_is_sent_by_the_sweep_once(env: Env) -> None:
    env.producer.down = True
    response = env.client.post(url("p1-youtube", "unpublish"), json={}, headers=env.token("editor"))
    assert response.status_code == 202 and response.json()["sent"] is False
    env.producer.down = False
    assert await env.audit.send_pending() == 1
    assert await env.audit.send_pending() == 0
    (sent,) = env.producer.sent
    assert sent.event_id == response.json()["action"]["event_id"]
