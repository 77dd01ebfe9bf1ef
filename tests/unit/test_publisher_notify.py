"""Approval notices: the e-mail says it in Vietnamese and English with the link and exactly what waits, and a notice
that cannot be sent is counted and logged, never raised into the post's path."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from loa_dev.kafka import free_port
from loa_publisher.notify import AwaitingApproval, Notifier, message
from loa_publisher.settings import PublisherSettings

NOTICE = AwaitingApproval(
    footage_id="3b1f5c0e2d9a4e6f8a7b6c5d4e3f2a1b",
    ward="p1",
    channel="p1-youtube",
    platform="youtube",
    profile="youtube",
    title="Lễ chào cờ đầu tháng",
    cut_sha256="a" * 64,
    text_sha256="b" * 64,
)


def test_the_email_names_what_waits_in_both_languages() -> None:
    mail = message(NOTICE, "https://loa.example.vn/ui/footage/x?channel=p1-youtube", "loa@x.vn", ["a@x.vn", "b@x.vn"])
    assert mail["Subject"] == "Chờ duyệt / Awaiting approval: Lễ chào cờ đầu tháng → p1-youtube"
    assert mail["To"] == "a@x.vn, b@x.vn"
    body = mail.get_content()
    assert "đang chờ anh/chị duyệt" in body and "awaits your approval" in body
    assert "https://loa.example.vn/ui/footage/x?channel=p1-youtube" in body
    assert "a" * 64 in body and "b" * 64 in body
    assert b"utf-8" in bytes(mail).lower()


def _failed(way: str) -> float:
    return REGISTRY.get_sample_value("loa_approval_notices_total", {"way": way, "outcome": "failed"}) or 0.0


async def test_a_notice_that_cannot_be_sent_is_counted_and_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = free_port()  # nothing listens there
    settings = PublisherSettings(
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=closed,
        smtp_starttls=False,
        approval_emails={"p1": ["a@x.vn"]},
        approval_webhook_url=f"http://127.0.0.1:{closed}/hook",
        ingest_url="https://loa.example.vn",
    )
    before = _failed("email"), _failed("webhook")
    async with httpx.AsyncClient() as http:
        notifier = Notifier(settings, http)
        assert notifier.link(NOTICE.footage_id, "p1-youtube") == (
            f"https://loa.example.vn/ui/footage/{NOTICE.footage_id}?channel=p1-youtube"
        )
        with caplog.at_level(logging.ERROR, logger="loa_publisher.notify"):
            await notifier.awaiting(NOTICE)
    assert (_failed("email"), _failed("webhook")) == (before[0] + 1, before[1] + 1)
    assert sum("approval notice by" in r.getMessage() for r in caplog.records) == 2
    # Another ward's post: no address configured for it, so no e-mail is attempted.
    async with httpx.AsyncClient() as http:
        await Notifier(settings.model_copy(update={"approval_webhook_url": None}), http).awaiting(
            AwaitingApproval(**{**vars(NOTICE), "ward": "p2"})
        )
    assert _failed("email") == before[0] + 1
