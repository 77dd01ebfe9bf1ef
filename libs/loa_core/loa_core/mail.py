"""E-mail over SMTP, one way for every service (the publisher's approval notices, metrics' monthly reports).

Blocking (smtplib): call `send` in a thread (`asyncio.to_thread`). Errors are smtplib's and OSError: the caller
decides whether a mail that did not go is retried, counted or said.
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from pydantic import SecretStr

__all__ = ["Attachment", "EmailMessage", "Smtp", "SmtpFields", "message", "send", "smtp_of"]


@dataclass(frozen=True)
class Smtp:
    """Where mail goes out: each service's settings build it from their smtp_* fields."""

    host: str
    port: int = 587
    starttls: bool = True
    user: str | None = None
    password: SecretStr | None = None
    sender: str = "loa@localhost"
    timeout_s: float = 30.0


class SmtpFields(Protocol):
    """The smtp_* settings a service that sends mail declares (the same names in each)."""

    @property
    def smtp_host(self) -> str | None: ...
    @property
    def smtp_port(self) -> int: ...
    @property
    def smtp_starttls(self) -> bool: ...
    @property
    def smtp_user(self) -> str | None: ...
    @property
    def smtp_password(self) -> SecretStr | None: ...
    @property
    def smtp_from(self) -> str: ...


def smtp_of(settings: SmtpFields) -> Smtp | None:
    """Where a service's mail goes, or None when it sends none (no smtp_host)."""
    if not settings.smtp_host:
        return None
    return Smtp(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_starttls,
        settings.smtp_user,
        settings.smtp_password,
        settings.smtp_from,
    )


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str  # "application/pdf"


def message(
    sender: str, recipients: Sequence[str], subject: str, body: str, attachments: Sequence[Attachment] = ()
) -> EmailMessage:
    """A UTF-8 message (Vietnamese subjects and bodies intact), with its attachments (pure)."""
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail.set_content(body)
    for attachment in attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        mail.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return mail


def send(smtp: Smtp, mail: EmailMessage) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
        if smtp.starttls:
            client.starttls()
        if smtp.user and smtp.password:
            client.login(smtp.user, smtp.password.get_secret_value())
        client.send_message(mail)
