"""Logging, health and /metrics for every service, FastAPI or Faust alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loa_core.logs import RedactingFormatter as RedactingFormatter
from loa_core.logs import redact as redact
from loa_core.logs import setup_logging as setup_logging
from loa_core.metrics import HTTP_LATENCY, HTTP_REQUESTS

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
        # In a worker thread: collectors that read a database (the metrics service's projection) must not
        # hold up the event loop that also runs the Kafka consumer.
        body = await asyncio.to_thread(generate_latest)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


class HttpMetricsMiddleware:
    """Pure ASGI middleware: request rate, errors and latency per route template (never the raw path).

    Pure ASGI rather than BaseHTTPMiddleware, so streamed uploads pass through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            # Starlette's router puts the matched route into the scope; unmatched paths share one label.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "GET") if scope.get("method") in _METHODS else "other"
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - start)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def instrument_http(app: FastAPI) -> None:
    """Count and time every HTTP request of a FastAPI app (loa_http_requests_total, ..._duration_seconds)."""
    app.add_middleware(HttpMetricsMiddleware)
