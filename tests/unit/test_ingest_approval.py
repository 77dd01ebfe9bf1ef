"""Approval over HTTP (loa_ingest/approval_api.py) with ingest's real token store and audit log on SQLite: who may
decide, what a decision records and sends, and the audit log as JSON and CSV. The producer records instead of sending.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from loa_core import db
from loa_core.auth import Role, bearer_dependency
from loa_core.contracts import INGEST, POSTS_DECISIONS, Channel, PostDecision, PostText
from loa_ingest.access import TokenStore
from loa_ingest.approval_api import approval_router
from loa_ingest.audit import AuditLog
from loa_ingest.channels import ChannelStore
from tests.support.bilingual import assert_bilingual
from tests.support.recording import RecordingProducer

FOOTAGE = "3b1f5c0e2d9a4e6f8a7b6c5d4e3f2a1b"
CUT = "a" * 64
TEXT = PostText(title="Lễ ra mắt kênh TikTok phường", description="Phường 1", hashtags=("#Phường1",))
P1_YOUTUBE = Channel(name="p1-youtube", platform="youtube", profiles=("youtube",), ward="p1", approval_required=True)
P2_YOUTUBE = Channel(name="p2-youtube", platform="youtube", profiles=("youtube",), ward="p2", approval_required=True)
P1_LOCAL = Channel(name="p1-local", platform="local", profiles=("tiktok",), ward="p1")


class Env:
    def __init__(self, tmp_path: Path) -> None:
        engine = db.make_engine(tmp_path / "ingest.sqlite3", service=INGEST)
        db.migrate(engine, INGEST)
        self.producer = RecordingProducer(POSTS_DECISIONS, PostDecision)
        self.tokens = TokenStore(engine)
        self.audit = AuditLog(engine, self.producer)
        channels = ChannelStore(engine, self.producer)
        channels.import_if_empty([P1_YOUTUBE, P2_YOUTUBE, P1_LOCAL])

        def requires(role: Role):  # type: ignore[no-untyped-def]
            return bearer_dependency(frozenset, self.tokens, need=role)

        app = FastAPI()
        app.include_router(approval_router(channels, self.audit, requires))
        self.client = TestClient(app)

    def token(self, role: Role, ward: str) -> dict[str, str]:
        issued = self.tokens.create(role, f"{role} of {ward}", "test", ward)
        return {"Authorization": f"Bearer {issued.token}"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield Env(tmp_path)


def _approve(channel: str = "p1-youtube") -> str:
    return f"/posts/{FOOTAGE}/{channel}/approve"


def test_an_approver_approves_exactly_what_it_saw_and_the_decision_is_logged_and_sent(env: Env) -> None:
    approver = env.token("approver", "p1")
    answer = env.client.post(_approve(), json={"cuts": {"youtube": CUT}, "text": TEXT.model_dump()}, headers=approver)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["sent"] is True
    decision = PostDecision.model_validate(body["decision"])
    assert (decision.ward, decision.channel, decision.decision) == ("p1", "p1-youtube", "approved")
    assert decision.cuts == {"youtube": CUT} and decision.text == TEXT and decision.text_sha256 == TEXT.sha256()
    assert decision.by.startswith("token:") and approver["Authorization"].split()[1] not in decision.by
    assert env.producer.sent == [decision]
    own = env.token("viewer", "p1")
    assert [PostDecision.model_validate(d["decision"]) for d in env.client.get("/audit", headers=own).json()] == [
        decision
    ]


def test_an_editor_cannot_decide_and_another_wards_approver_finds_no_post(env: Env) -> None:
    body = {"cuts": {"youtube": CUT}, "text_sha256": TEXT.sha256()}
    refused = env.client.post(_approve(), json=body, headers=env.token("editor", "p1"))
    assert refused.status_code == 403
    assert_bilingual(refused.json()["detail"])
    other = env.client.post(_approve(), json=body, headers=env.token("approver", "p2"))
    assert other.status_code == 404
    assert_bilingual(other.json()["detail"])
    assert env.producer.sent == [] and env.audit.listed(None) == []
    # A district admin decides for any ward.
    assert env.client.post(_approve(), json=body, headers=env.token("district_admin", "p2")).status_code == 201


def test_an_editor_changes_a_posts_text_on_any_channel_of_its_ward_and_it_is_logged_and_sent(env: Env) -> None:
    edited = {"text": TEXT.model_dump()}
    viewer = env.client.post(f"/posts/{FOOTAGE}/p1-local/text", json=edited, headers=env.token("viewer", "p1"))
    assert viewer.status_code == 403
    assert_bilingual(viewer.json()["detail"])
    other = env.client.post(f"/posts/{FOOTAGE}/p1-local/text", json=edited, headers=env.token("editor", "p2"))
    assert other.status_code == 404
    assert_bilingual(other.json()["detail"])
    empty = env.client.post(
        f"/posts/{FOOTAGE}/p1-local/text", json={"text": {"title": ""}}, headers=env.token("editor", "p1")
    )
    assert empty.status_code == 422
    assert env.producer.sent == [] and env.audit.listed(None) == []
    editor = env.token("editor", "p1")
    sent = []
    for channel in ("p1-local", "p1-youtube"):  # without approval (posted as is) and with it (approved again)
        answer = env.client.post(f"/posts/{FOOTAGE}/{channel}/text", json=edited, headers=editor)
        assert answer.status_code == 201, answer.text
        decision = PostDecision.model_validate(answer.json()["decision"])
        assert (decision.ward, decision.channel, decision.decision) == ("p1", channel, "edited")
        assert decision.text == TEXT and decision.text_sha256 == TEXT.sha256() and decision.cuts == {}
        sent.append(decision)
    assert env.producer.sent == sent
    logged = env.client.get("/audit", headers=env.token("viewer", "p1")).json()
    assert [PostDecision.model_validate(d["decision"]) for d in logged] == sent
    # The still picked with it: candidate frame 1-9 only.
    picked = env.client.post(f"/posts/{FOOTAGE}/p1-local/text", json=edited | {"frame": 2}, headers=editor)
    assert picked.status_code == 201 and PostDecision.model_validate(picked.json()["decision"]).frame == 2
    refused = env.client.post(f"/posts/{FOOTAGE}/p1-local/text", json=edited | {"frame": 0}, headers=editor)
    assert refused.status_code == 422


@pytest.mark.parametrize(
    ("channel", "body", "code"),
    [
        ("p1-local", {"cuts": {"tiktok": CUT}, "text_sha256": CUT}, 409),  # posts without approval
        ("p1-youtube", {"cuts": {"tiktok": CUT}, "text_sha256": CUT}, 422),  # not the channel's cut
        ("p1-youtube", {"cuts": {"youtube": CUT}}, 422),  # which text?
        ("p1-youtube", {"cuts": {"youtube": "not-a-sha"}, "text_sha256": CUT}, 422),
        ("p1-youtube", {"cuts": {"youtube": CUT}, "text": {"title": ""}}, 422),
        ("ghost", {"cuts": {"youtube": CUT}, "text_sha256": CUT}, 404),
    ],
)
def test_what_an_approval_cannot_be(env: Env, channel: str, body: dict[str, object], code: int) -> None:
    answer = env.client.post(_approve(channel), json=body, headers=env.token("approver", "p1"))
    assert answer.status_code == code, answer.text
    if code != 422 or isinstance(answer.json()["detail"], str):
        assert_bilingual(answer.json()["detail"])
    assert env.producer.sent == []


def test_a_rejection_needs_a_reason(env: Env) -> None:
    approver = env.token("approver", "p1")
    url = f"/posts/{FOOTAGE}/p1-youtube/reject"
    base = {"cuts": {"youtube": CUT}, "text_sha256": TEXT.sha256()}
    assert env.client.post(url, json=base, headers=approver).status_code == 422
    blank = env.client.post(url, json={**base, "reason": "   "}, headers=approver)
    assert blank.status_code == 422
    assert_bilingual(blank.json()["detail"])
    done = env.client.post(url, json={**base, "reason": "Sai tên đồng chí Bí thư"}, headers=approver)
    assert done.status_code == 201
    assert env.producer.sent[0].decision == "rejected" and env.producer.sent[0].reason == "Sai tên đồng chí Bí thư"


async def test_a_decision_not_sent_is_kept_and_sent_by_the_sweep_in_order(env: Env) -> None:
    env.producer.down = True
    approver = env.token("approver", "p1")
    for reason in ("một", "hai"):
        body = {"cuts": {"youtube": CUT}, "text_sha256": CUT, "reason": reason}
        answer = env.client.post(f"/posts/{FOOTAGE}/p1-youtube/reject", json=body, headers=approver)
        assert answer.status_code == 201 and answer.json()["sent"] is False
    env.producer.down = False
    assert await env.audit.send_pending() == 2
    assert [d.reason for d in env.producer.sent] == ["một", "hai"]
    assert await env.audit.send_pending() == 0
    assert all(e.sent for e in env.audit.listed(None))


def test_the_audit_log_is_per_ward_and_exports_as_csv_for_a_spreadsheet(env: Env) -> None:
    body = {"cuts": {"youtube": CUT}, "text_sha256": TEXT.sha256()}
    env.client.post(_approve(), json={**body, "text": TEXT.model_dump()}, headers=env.token("approver", "p1"))
    reason = '=HYPERLINK("http://x")  sai chính tả'
    env.client.post(
        f"/posts/{FOOTAGE}/p2-youtube/reject", json={**body, "reason": reason}, headers=env.token("approver", "p2")
    )
    p1_viewer = env.token("viewer", "p1")
    assert [d["decision"]["channel"] for d in env.client.get("/audit", headers=p1_viewer).json()] == ["p1-youtube"]
    refused = env.client.get("/audit", params={"ward": "p2"}, headers=p1_viewer)
    assert refused.status_code == 403
    assert_bilingual(refused.json()["detail"])
    district = env.token("district_admin", "p1")
    assert len(env.client.get("/audit", headers=district).json()) == 2
    assert len(env.client.get("/audit", params={"ward": "p2"}, headers=district).json()) == 1

    export = env.client.get("/audit.csv", headers=district)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [(r["ward"], r["channel"], r["decision"]) for r in rows] == [
        ("p1", "p1-youtube", "approved"),
        ("p2", "p2-youtube", "rejected"),
    ]
    assert rows[0]["title"] == "Lễ ra mắt kênh TikTok phường" and rows[0]["cuts"] == f"youtube={CUT}"
    assert rows[0]["text_sha256"] == TEXT.sha256() and rows[0]["by"].startswith("token:")
    assert rows[1]["reason"] == "'" + reason, "a formula stays text in the spreadsheet"
    p1_rows = env.client.get("/audit.csv", headers=p1_viewer).content.decode("utf-8-sig").splitlines()
    assert len(p1_rows) == 2
