"""The monthly report upward by e-mail on the 1st: each ward's (and the district's roll-up) PDF and XLSX to its
recipients, once per scope and month, whatever restarts or replicas there are.

`due` (pure) says which (scope, period) to mail at a moment; `ReportMailer.run_once` claims each in the database
(report_sends: the insert only one replica wins), mails it, and marks it sent. A claim left unsent for CLAIM_STALE
(the replica died while mailing) is taken again: a mail may then go twice, never not at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, update

from loa_core import mail as mail_out
from loa_core.channels import Channel
from loa_core.db import insert_ignore
from loa_core.observability import redact
from loa_metrics import metrics, upward
from loa_metrics.engagement_store import EngagementStore
from loa_metrics.reports import Period, previous_month
from loa_metrics.reports_api import MEDIA_TYPES, filename, render
from loa_metrics.store import Database, report_sends, ts
from loa_metrics.verification import Verifications

log = logging.getLogger(__name__)
CLAIM_STALE = timedelta(minutes=15)


def due(now: datetime, recipients: Mapping[str, Sequence[str]], days: int) -> list[tuple[str, Period]]:
    """What to mail at `now`: last month's report of every scope with recipients, within the month's first `days`
    days (pure)."""
    today = now.astimezone(UTC).date()
    if today.day > days:
        return []
    period = previous_month(today)
    return [(scope, period) for scope, addresses in sorted(recipients.items()) if addresses]


def compose(report: upward.UpwardReport, sender: str, recipients: Sequence[str]) -> mail_out.EmailMessage:
    body = (
        f"Kính gửi anh/chị,\n\n{report.title} của {report.scope_name} ({report.period.start:%d/%m/%Y} – "
        f"{report.period.end - timedelta(days=1):%d/%m/%Y}) đính kèm thư này: bản PDF để đọc và in, bản Excel để "
        f"tổng hợp.\n\nThe {report.title_en.lower()} of {report.scope_name} is attached: a PDF to read and print, "
        "an Excel workbook to add up.\n\nLoa\n"
    )
    attachments = [
        mail_out.Attachment(filename(report, fmt), render(report, fmt), MEDIA_TYPES[fmt]) for fmt in ("pdf", "xlsx")
    ]
    return mail_out.message(
        sender, recipients, f"{report.title} – {report.scope_name} / {report.title_en}", body, attachments
    )


class ReportMailer:
    def __init__(
        self,
        db: Database,
        engagement: EngagementStore,
        channels: Mapping[str, Channel],
        smtp: mail_out.Smtp,
        recipients: Mapping[str, Sequence[str]],
        *,
        days: int = 3,
        names: Mapping[str, str] | None = None,
        verifications: Verifications | None = None,
    ) -> None:
        self._db = db
        self._engagement = engagement
        self._channels = channels
        self._smtp = smtp
        self._recipients = recipients
        self._days = days
        self._names = dict(names or {})
        self._verifications = verifications

    async def run_once(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """Mail what is due and not mailed yet; returns the (scope, period) mailed by this call."""
        now = now or datetime.now(UTC)
        sent = []
        for scope, period in due(now, self._recipients, self._days):
            addresses = list(self._recipients[scope])
            if not self._claim(scope, period.label, addresses, now):
                continue
            try:
                await asyncio.to_thread(self._mail, scope, period, addresses)
            except Exception as exc:  # noqa: BLE001 — said and counted; the claim goes stale and is taken again
                metrics.REPORT_MAILS.labels("failed").inc()
                log.error("report %s %s not mailed: %s", scope, period.label, redact(str(exc)))
                self._release(scope, period.label)
                continue
            self._mark_sent(scope, period.label)
            metrics.REPORT_MAILS.labels("sent").inc()
            sent.append((scope, period.label))
        return sent

    def _claim(self, scope: str, period: str, addresses: list[str], now: datetime) -> bool:
        row = {
            "scope": scope,
            "period": period,
            "claimed_at": ts(now),
            "sent_at": None,
            "recipients": ",".join(addresses),
        }
        stale = ts(now - CLAIM_STALE)

        def claim(connection: Connection) -> bool:
            if insert_ignore(connection, report_sends, row):
                return True
            taken = connection.execute(
                update(report_sends)
                .where(
                    report_sends.c.scope == scope,
                    report_sends.c.period == period,
                    report_sends.c.sent_at.is_(None),
                    report_sends.c.claimed_at < stale,
                )
                .values(claimed_at=ts(now))
            )
            return bool(taken.rowcount)

        return self._db.write(claim)

    def _mark_sent(self, scope: str, period: str) -> None:
        statement = (
            update(report_sends)
            .where(report_sends.c.scope == scope, report_sends.c.period == period)
            .values(sent_at=ts(datetime.now(UTC)))
        )
        self._db.write(lambda c: c.execute(statement))

    def _release(self, scope: str, period: str) -> None:
        """A mail that failed is tried again at the next check, not after CLAIM_STALE."""
        self._db.write(
            lambda c: c.execute(
                update(report_sends)
                .where(report_sends.c.scope == scope, report_sends.c.period == period, report_sends.c.sent_at.is_(None))
                .values(claimed_at="")
            )
        )

    def _mail(self, scope: str, period: Period, addresses: list[str]) -> None:
        report = upward.gather(self._engagement, period, scope, self._channels, self._names, self._verifications)
        mail_out.send(self._smtp, compose(report, self._smtp.sender, addresses))
