"""Tell a ward's approvers that a post waits for them: an e-mail over SMTP and a generic webhook, each if configured.

The publisher sends a notice when it first holds a post for approval (decide.AWAITING_APPROVAL): it alone knows that
the post waits, and for exactly which cut and text. The notice links to where the approver decides (a page that
requires signing in; the link carries no credential). A notice that cannot be sent is logged and counted
(loa_approval_notices_failed_total), never retried in a loop and never in the way of a post: the post still waits
in the ledger, and the ward's page lists it.

Recipients are configured per ward (LOA_APPROVAL_EMAILS); once accounts carry e-mail addresses they come from there.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from email.message import EmailMessage

import httpx

from loa_core import mail as mail_out
from loa_core.observability import redact
from loa_publisher import metrics
from loa_publisher.settings import PublisherSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AwaitingApproval:
    """One post that waits for an approver, and exactly what would be approved."""

    footage_id: str
    ward: str
    channel: str
    platform: str
    profile: str
    title: str  # the footage's title, to recognise it
    cut_sha256: str | None
    text_sha256: str


def message(notice: AwaitingApproval, link: str, sender: str, recipients: list[str]) -> EmailMessage:
    """The e-mail: Vietnamese first, English below, UTF-8 throughout (pure)."""
    return mail_out.message(
        sender,
        recipients,
        f"Chờ duyệt / Awaiting approval: {notice.title} → {notice.channel}",
        f"Bài đăng lên kênh {notice.channel} ({notice.platform}) của phường {notice.ward} đang chờ anh/chị duyệt:\n"
        f"  {notice.title}\n"
        f"Xem bản dựng và duyệt hoặc từ chối tại (cần đăng nhập):\n  {link}\n\n"
        f"A post to channel {notice.channel} ({notice.platform}) of ward {notice.ward} awaits your approval:\n"
        f"  {notice.title}\n"
        f"Watch the cut and approve or reject it at (signing in first):\n  {link}\n\n"
        f"Footage {notice.footage_id}, cut {notice.profile} sha256 {notice.cut_sha256 or '-'}, "
        f"text sha256 {notice.text_sha256}\n",
    )


class Notifier:
    def __init__(self, settings: PublisherSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    def link(self, footage_id: str, channel: str) -> str:
        base = (self._settings.ingest_url or "http://localhost:8001").rstrip("/")
        return self._settings.approval_link.format(ingest_url=base, footage_id=footage_id, channel=channel)

    async def awaiting(self, notice: AwaitingApproval) -> None:
        """Send the notice by every configured way; failures are logged and counted, never raised."""
        settings = self._settings
        recipients = settings.approval_emails.get(notice.ward, [])
        if settings.smtp_host and recipients:
            mail = message(notice, self.link(notice.footage_id, notice.channel), settings.smtp_from, recipients)
            await self._try("email", lambda: asyncio.to_thread(self._mail, mail))
        if settings.approval_webhook_url:
            await self._try("webhook", lambda: self._hook(notice))

    async def _try(self, way: str, send: Callable[[], Awaitable[None]]) -> None:
        try:
            await send()
            metrics.APPROVAL_NOTICES.labels(way, "sent").inc()
        except Exception as exc:  # noqa: BLE001 — a notice never stops a post; said and counted
            metrics.APPROVAL_NOTICES.labels(way, "failed").inc()
            log.error("approval notice by %s not sent: %s", way, redact(str(exc)))

    def _mail(self, mail: EmailMessage) -> None:
        smtp = mail_out.smtp_of(self._settings)
        assert smtp is not None
        mail_out.send(smtp, mail)

    async def _hook(self, notice: AwaitingApproval) -> None:
        assert self._settings.approval_webhook_url is not None
        link = self.link(notice.footage_id, notice.channel)
        body = json.dumps({"event": "post.awaiting_approval", **asdict(notice), "link": link}, ensure_ascii=False)
        response = await self._http.post(
            self._settings.approval_webhook_url,
            content=body.encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=15.0,
        )
        response.raise_for_status()
