"""Log lines for every process of every service: one format, credentials masked (the HTTP side is in
loa_core.observability, which re-exports these; here so a process without an API logs without importing FastAPI)."""

from __future__ import annotations

import logging
import re
import sys

# Anything that looks like a credential is masked before a log line is written.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(authorization:\s*(bearer|oauth)\s+)\S+"),
    re.compile(
        r"(?i)((access_token|refresh_token|client_secret|secret_key|password|token)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,]+"
    ),
)


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(r"\1***", text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs every coordinator hiccup at ERROR while a group forms; those are not errors of ours.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
