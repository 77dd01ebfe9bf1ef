"""The monthly report upward by e-mail, to a real SMTP server (aiosmtpd on loopback): on the 1st each ward's and the
district's PDF and XLSX arrive once, and neither a second check nor a restart (a new mailer on the same database)
mails them again; a server that refuses is tried again at the next check."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import load_workbook
from pypdf import PdfReader

from loa_core.mail import Smtp
from loa_metrics.projection import open_projection
from loa_metrics.report_mail import ReportMailer, due
from tests.support.report_month import CHANNELS, NAMES, month_projection
from tests.support.smtp import smtp_server

RECIPIENTS = {"phuong-1": ["ubnd@phuong1.example.vn"], "district": ["vanphong@quan1.example.vn"], "phuong-2": []}
FIRST = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)


def test_what_is_due_when() -> None:
    assert [(s, p.label) for s, p in due(FIRST, RECIPIENTS, 3)] == [("district", "2026-11"), ("phuong-1", "2026-11")]
    assert [p.label for _, p in due(datetime(2027, 1, 3, tzinfo=UTC), RECIPIENTS, 3)] == ["2026-12", "2026-12"]
    assert due(datetime(2026, 12, 4, tzinfo=UTC), RECIPIENTS, 3) == [], "not mid-month"


async def test_the_monthly_report_arrives_once_with_its_attachments(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    month_projection(path).close()
    with smtp_server() as (controller, inbox):
        smtp = Smtp(str(controller.hostname), int(controller.port), starttls=False, sender="loa@quan1.example.vn")

        def mailer() -> ReportMailer:
            projection = open_projection(path, CHANNELS)
            return ReportMailer(
                projection.database,
                projection.engagement,
                CHANNELS,
                smtp,
                RECIPIENTS,
                names=NAMES,
                verifications=projection.verifications,
            )

        first = mailer()
        assert await first.run_once(FIRST) == [("district", "2026-11"), ("phuong-1", "2026-11")]
        assert await first.run_once(FIRST.replace(hour=2)) == []
        # A restart on the 2nd: a new mailer over the same database mails nothing again.
        assert await mailer().run_once(datetime(2026, 12, 2, 8, tzinfo=UTC)) == []

    assert len(inbox.messages) == 2
    by_to = {m["To"]: m for m in inbox.messages}
    ward = by_to["ubnd@phuong1.example.vn"]
    assert ward["Subject"] == "Báo cáo tháng 11/2026 – Phường 1 / Monthly report 2026-11"
    assert ward["From"] == "loa@quan1.example.vn"
    body = ward.get_body(("plain",))
    assert body is not None and "Phường 1" in body.get_content()
    files = {a.get_filename(): a for a in ward.iter_attachments()}
    assert set(files) == {"loa-bao-cao-phuong-1-2026-11.pdf", "loa-bao-cao-phuong-1-2026-11.xlsx"}
    pdf = files["loa-bao-cao-phuong-1-2026-11.pdf"]
    assert pdf.get_content_type() == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.get_content())).pages)
    assert "Báo cáo tháng 11/2026" in text and "Phường 1" in text
    book = load_workbook(io.BytesIO(files["loa-bao-cao-phuong-1-2026-11.xlsx"].get_content()))
    assert book["Tổng quan"]["A1"].value == "Báo cáo tháng 11/2026"
    district = by_to["vanphong@quan1.example.vn"]
    assert "Toàn quận" in district["Subject"]
    assert {a.get_filename() for a in district.iter_attachments()} == {
        "loa-bao-cao-district-2026-11.pdf",
        "loa-bao-cao-district-2026-11.xlsx",
    }


async def test_a_refused_mail_is_tried_again_at_the_next_check(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite3"
    projection = month_projection(path)
    recipients = {"phuong-2": ["ubnd@phuong2.example.vn"]}
    with smtp_server() as (controller, inbox):
        port = int(controller.port)
    # The server is gone: the check fails, says so, and leaves the report due.
    nowhere = Smtp("127.0.0.1", port, starttls=False, timeout_s=5)
    mailer = ReportMailer(projection.database, projection.engagement, CHANNELS, nowhere, recipients, names=NAMES)
    assert await mailer.run_once(FIRST) == []
    with smtp_server() as (controller, inbox):
        smtp = Smtp(str(controller.hostname), int(controller.port), starttls=False)
        mailer = ReportMailer(projection.database, projection.engagement, CHANNELS, smtp, recipients, names=NAMES)
        assert await mailer.run_once(FIRST.replace(hour=3)) == [("phuong-2", "2026-11")]
    assert [m["Subject"] for m in inbox.messages] == [
        "Báo cáo tháng 11/2026 – Phường Bến Thành / Monthly report 2026-11"
    ]
    projection.close()
