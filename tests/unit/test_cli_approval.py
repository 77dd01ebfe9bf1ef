"""`loa approval`: the approver is shown the cuts' sha256 and the text, and exactly those are decided; the audit log
reads back, and exports as CSV. Against ingest's real approval routes (real token store and audit log on SQLite)
over real HTTP; the status view and the channel it reads are served beside them as ingest relays them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from loa_cli.approval import awaiting_approvers
from loa_cli.main import app as cli
from loa_core import db
from loa_core.auth import Role, bearer_dependency
from loa_core.contracts import (
    INGEST,
    POSTS_DECISIONS,
    ApprovalView,
    Channel,
    FootageStatus,
    FootageView,
    PostDecision,
    PostText,
    PostView,
    PublishedStage,
    RenditionView,
    Stages,
    TranscodedStage,
    UploadedStage,
)
from loa_ingest.access import TokenStore
from loa_ingest.approval_api import approval_router
from loa_ingest.audit import AuditLog
from loa_ingest.channels import ChannelStore
from tests.support.asgi_server import serve_in_thread
from tests.support.recording import RecordingProducer

FOOTAGE = "3b1f5c0e2d9a4e6f8a7b6c5d4e3f2a1b"
CHANNEL = Channel(name="p1-tiktok", platform="tiktok", profiles=("tiktok",), ward="p1", approval_required=True)
TEXT_SHA = PostText(title="Lễ chào cờ").sha256()
VIEW = FootageView(
    footage_id=FOOTAGE,
    title="Lễ chào cờ",
    series=None,
    source="upload",
    channels=("p1-tiktok",),
    status=FootageStatus.TRANSCODED,
    stages=Stages(
        uploaded=UploadedStage(at=None),
        transcoded=TranscodedStage(
            at=None,
            renditions=(
                RenditionView(profile="tiktok", key="k/t.mp4", width=1080, height=1920, duration_s=2, sha256="c" * 64),
                RenditionView(profile="youtube", key="k/y.mp4", width=1920, height=1080, duration_s=2, sha256="d" * 64),
            ),
        ),
        published=PublishedStage(expected=1),
    ),
    text_sha256=TEXT_SHA,
)


class Ingest:
    def __init__(self, tmp_path: Path) -> None:
        engine = db.make_engine(tmp_path / "ingest.sqlite3", service=INGEST)
        db.migrate(engine, INGEST)
        self.producer = RecordingProducer(POSTS_DECISIONS, PostDecision)
        self.tokens = TokenStore(engine)
        channels = ChannelStore(engine, self.producer)
        channels.import_if_empty([CHANNEL])

        def requires(role: Role):  # type: ignore[no-untyped-def]
            return bearer_dependency(frozenset, self.tokens, need=role)

        self.view = VIEW
        self.app = FastAPI()
        self.app.include_router(approval_router(channels, AuditLog(engine, self.producer), requires))

        @self.app.get("/footage/{footage_id}")
        async def footage(footage_id: str) -> FootageView:
            return self.view

        @self.app.get("/channels/{name}")
        async def channel(name: str) -> dict[str, object]:
            return {"channel": CHANNEL.model_dump()}


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[tuple[Ingest, str]]:
    service = Ingest(tmp_path)
    with serve_in_thread(service.app) as url:
        yield service, url


def _env(url: str, token: str, tmp_path: Path) -> dict[str, str]:
    return {
        "LOA_INGEST_URL": url,
        "LOA_METRICS_URL": url,
        "LOA_TOKEN": token,
        "LOA_CLI_CONFIG": str(tmp_path / "none.json"),
    }


def _with(approvals: tuple[ApprovalView, ...], posts: int = 0, expected: int = 1) -> FootageView:
    post = PostView(
        channel="local", profile="tiktok", platform="local", post_id="p", url="file:///p", published_at=None
    )
    stage = PublishedStage(posts=(post,) * posts, expected=expected, approvals=approvals)
    return VIEW.model_copy(update={"stages": VIEW.stages.model_copy(update={"published": stage})})


AWAITING = ApprovalView(channel="p1-tiktok", profile="tiktok", state="awaiting")
REJECTED = ApprovalView(channel="p1-tiktok", profile="tiktok", state="rejected", reason="Sai tên")
APPROVED = ApprovalView(channel="p1-tiktok", profile="tiktok", state="approved")


@pytest.mark.parametrize(
    ("view", "stops"),
    [
        (_with(()), False),  # nothing on approval: the pipeline owes it the post
        (_with((AWAITING,)), True),
        (_with((REJECTED,)), True),
        (_with((APPROVED,)), False),  # approved: it goes out without anyone
        (_with((AWAITING,), posts=1, expected=2), True),  # the other post is out
        (_with((AWAITING,), posts=0, expected=2), False),  # another post is still on its way
    ],
)
def test_status_wait_stops_where_only_an_approver_can_move_it(view: FootageView, stops: bool) -> None:
    assert awaiting_approvers(view) is stops


def test_loa_status_wait_says_it_waits_for_an_approver(ingest: tuple[Ingest, str], tmp_path: Path) -> None:
    service, url = ingest
    service.view = _with((REJECTED,))
    env = _env(url, service.tokens.create("viewer", "xem", "test", "p1").token, tmp_path)
    result = CliRunner().invoke(cli, ["status", FOOTAGE, "--wait", "--timeout", "600"], env=env)
    assert result.exit_code == 1  # not settled: a person must act
    assert "chờ người duyệt" in result.stderr
    assert "p1-tiktok/tiktok: rejected (approval / duyệt): Sai tên" in result.output


def test_an_approver_decides_on_what_it_is_shown(ingest: tuple[Ingest, str], tmp_path: Path) -> None:
    service, url = ingest
    env = _env(url, service.tokens.create("approver", "duyệt", "test", "p1").token, tmp_path)
    shown = CliRunner().invoke(cli, ["approval", "approve", FOOTAGE, "p1-tiktok"], env=env)
    assert shown.exit_code == 0, shown.output
    assert f"cut tiktok: sha256 {'c' * 64}" in shown.output and TEXT_SHA in shown.output
    changed = CliRunner().invoke(
        cli,
        ["approval", "approve", FOOTAGE, "p1-tiktok", "--title", "Lễ chào cờ tháng 12", "--hashtag", "#Phường1"],
        env=env,
    )
    assert changed.exit_code == 0, changed.output
    refused = CliRunner().invoke(cli, ["approval", "reject", FOOTAGE, "p1-tiktok", "--reason", "Sai tên"], env=env)
    assert refused.exit_code == 0, refused.output

    first, second, third = service.producer.sent
    assert (first.cuts, first.text, first.text_sha256) == ({"tiktok": "c" * 64}, None, TEXT_SHA)
    assert second.text == PostText(title="Lễ chào cờ tháng 12", hashtags=("#Phường1",))
    assert (third.decision, third.reason, third.text_sha256) == ("rejected", "Sai tên", TEXT_SHA)

    audit = CliRunner().invoke(cli, ["approval", "audit"], env=env)
    assert audit.exit_code == 0 and len(audit.output.splitlines()) == 3 and "Sai tên" in audit.output
    export = tmp_path / "audit.csv"
    assert CliRunner().invoke(cli, ["approval", "audit", "--csv", str(export)], env=env).exit_code == 0
    assert export.read_bytes().startswith(b"\xef\xbb\xbf") and "Lễ chào cờ tháng 12" in export.read_text("utf-8-sig")


def test_an_editor_is_refused_and_told_why(ingest: tuple[Ingest, str], tmp_path: Path) -> None:
    service, url = ingest
    env = _env(url, service.tokens.create("editor", "biên tập", "test", "p1").token, tmp_path)
    result = CliRunner().invoke(cli, ["approval", "approve", FOOTAGE, "p1-tiktok"], env=env)
    assert result.exit_code == 1 and "Error 403" in result.stderr
    assert service.producer.sent == []
