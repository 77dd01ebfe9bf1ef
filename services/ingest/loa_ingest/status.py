"""Pipeline status for people, relayed from the metrics service (which owns it) so the page talks to one origin;
and the publisher's retry of a footage's failed posts (`retry`), relayed the same way.

Ingest does not project pipeline events itself: metrics already does, and a second projection would drift.
A relay (rather than CORS on metrics) keeps one origin and one sign-in. It sends metrics the caller's own token, never
a service token of its own: metrics checks it (with ingest's /whoami for role tokens) and answers with what the
caller's ward may see, so the ward filter lives in one place and a relay can never widen it.
What metrics answers is read with the contract (`contracts.FootageView`, `FootageList`), so a shape ingest cannot
read is a clear 502, never a page that silently shows nothing.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from loa_core.contracts import FootageList, FootageView, InboxItem, InboxList, Versioned

log = logging.getLogger(__name__)
View = TypeVar("View", bound=Versioned)


class StatusUnavailable(RuntimeError):
    """Metrics did not answer, or answered what this ingest cannot read; the page shows this and keeps polling."""


class StatusRefused(RuntimeError):
    """Metrics refused the request (404 unknown footage, 401, 422…): its status code and detail, passed on."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"metrics answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class RetriedPost(BaseModel):
    channel: str
    profile: str


class Retried(BaseModel):
    """The publisher's answer to POST /posts/{id}/retry: the failed posts it will post again (none: nothing failed)."""

    footage_id: str
    retried: list[RetriedPost]


class StatusRelay:
    def __init__(self, metrics_url: str, timeout_s: float = 10.0, *, publisher_url: str | None = None) -> None:
        self._base = metrics_url.rstrip("/")
        self._publisher = publisher_url.rstrip("/") if publisher_url else None
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def retry(self, footage_id: str, caller_token: str) -> Retried:
        """The publisher's retry of the footage's failed posts, asked with the caller's own credential."""
        if self._publisher is None:
            raise StatusUnavailable("no publisher to relay a retry to")
        response = await self._send("POST", f"{self._publisher}/posts/{footage_id}/retry", {}, caller_token)
        try:
            return Retried.model_validate_json(response.content)
        except ValidationError as exc:
            log.error("the publisher answered a retry ingest cannot read: %s", exc)
            raise StatusUnavailable(f"the publisher answered a retry ingest cannot read: {exc}") from exc

    async def footage(self, footage_id: str, caller_token: str) -> FootageView:
        return await self._get(f"/footage/{footage_id}", {}, caller_token, FootageView)

    async def footage_list(self, params: dict[str, Any], caller_token: str) -> FootageList:
        return await self._get("/footage", params, caller_token, FootageList)

    async def inbox(self, params: dict[str, Any], caller_token: str) -> InboxList:
        """Metrics' GET /inbox: a page of the caller's ward's inbox (loa_ingest/inbox_api.py)."""
        return await self._get("/inbox", params, caller_token, InboxList)

    async def inbox_item(self, item_id: str, caller_token: str) -> InboxItem:
        return await self._get(f"/inbox/{item_id}", {}, caller_token, InboxItem)

    async def inbox_rules(self, caller_token: str, rules: dict[str, Any] | None = None) -> dict[str, Any]:
        """Metrics' triage rules of the caller's ward (GET /inbox/rules), or changed to `rules` (PUT: its ward
        admin; metrics validates them and answers 422 with the reason)."""
        method = "GET" if rules is None else "PUT"
        response = await self._send(method, f"{self._base}/inbox/rules", {}, caller_token, body=rules)
        answer = response.json()
        if not isinstance(answer, dict) or not isinstance(answer.get("rules"), list):
            raise StatusUnavailable("metrics answered triage rules ingest cannot read")
        return answer

    async def posts(self, params: dict[str, Any], caller_token: str) -> list[dict[str, Any]]:
        """Metrics' /posts (the caller's ward's published posts, newest first): its items."""
        response = await self._send("GET", f"{self._base}/posts", params, caller_token)
        items = response.json().get("items", [])
        return [item for item in items if isinstance(item, dict)]

    async def district(self, params: dict[str, Any], caller_token: str) -> dict[str, Any]:
        """Metrics' /reports/district (every ward's totals of a month; district admins only)."""
        response = await self._send("GET", f"{self._base}/reports/district", params, caller_token)
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("wards"), list):
            raise StatusUnavailable("metrics answered a district report ingest cannot read")
        return body

    async def report_document(self, params: dict[str, Any], caller_token: str) -> httpx.Response:
        """Metrics' /reports/upward as a PDF or XLSX (the caller's ward's, or the district's for a district admin):
        drawing the charts takes seconds, so this waits longer than a status read."""
        return await self._send("GET", f"{self._base}/reports/upward", params, caller_token, timeout_s=120.0)

    async def _send(
        self,
        method: str,
        url: str,
        params: dict[str, Any],
        caller_token: str,
        *,
        timeout_s: float | None = None,
        body: Any = None,
    ) -> httpx.Response:
        """One request with the caller's credential: a refusal is passed on (StatusRefused), no answer is
        StatusUnavailable."""
        try:
            response = await self._client.request(
                method,
                url,
                params={k: v for k, v in params.items() if v is not None},
                headers={"Authorization": f"Bearer {caller_token}"},
                timeout=httpx.USE_CLIENT_DEFAULT if timeout_s is None else timeout_s,
                json=body,
            )
        except httpx.HTTPError as exc:
            log.warning("%s did not answer: %s", url.split("/", 3)[2], exc)
            raise StatusUnavailable(str(exc)) from exc
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError as exc:
                raise StatusUnavailable(f"{url.split('/', 3)[2]} answered {response.status_code} without JSON") from exc
            raise StatusRefused(response.status_code, body.get("detail", body) if isinstance(body, dict) else body)
        return response

    async def _get(self, path: str, params: dict[str, Any], caller_token: str, model: type[View]) -> View:
        response = await self._send("GET", f"{self._base}{path}", params, caller_token)
        try:
            return model.from_bytes(response.content)
        except ValueError as exc:  # a ValidationError or UnsupportedSchemaVersion: metrics and ingest disagree
            log.error("metrics answered a %s ingest cannot read: %s", model.__name__, exc)
            raise StatusUnavailable(f"metrics answered a {model.__name__} ingest cannot read: {exc}") from exc

    async def close(self) -> None:
        await self._client.aclose()
