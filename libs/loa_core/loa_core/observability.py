"""Logging, health and /metrics for every service, FastAPI or Faust alike."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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


ReadinessCheck = Callable[[], Awaitable[str | None]]


def health_router(readiness: ReadinessCheck) -> APIRouter:
    """/healthz (the process answers), /readyz (its dependencies answer), /metrics. No token needed."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(response: Response) -> dict[str, str]:
        problem = await readiness()
        if problem:
            response.status_code = 503
            return {"status": "not ready", "reason": problem}
        return {"status": "ready"}

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
