"""Pipeline status for people, relayed from the metrics service (which owns it) so the page talks to one origin.

Ingest does not project pipeline events itself: metrics already does, and a second projection would drift.
A relay (rather than CORS on metrics) keeps one origin, one sign-in, and lets ingest's role tokens work: the
relay authenticates the person with ingest's tokens and talks to metrics with its own service token.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)


class StatusUnavailable(RuntimeError):
    """Metrics did not answer; the page shows this and keeps polling."""


class StatusRelay:
    def __init__(self, metrics_url: str, service_token: str | None, timeout_s: float = 10.0) -> None:
        self._base = metrics_url.rstrip("/")
        self._service_token = service_token
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def get(self, path: str, params: dict[str, Any], caller_token: str) -> tuple[int, Any]:
        token = self._service_token or caller_token
        try:
            response = await self._client.get(
                f"{self._base}{path}",
                params={k: v for k, v in params.items() if v is not None},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            log.warning("metrics at %s did not answer: %s", self._base, exc)
            raise StatusUnavailable(str(exc)) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise StatusUnavailable(f"metrics answered {response.status_code} without JSON") from exc
        return response.status_code, body

    async def close(self) -> None:
        await self._client.aclose()
