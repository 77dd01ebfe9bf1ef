"""A connected channel's credentials from ingest, for the services that act for the channel (the publisher posts,
metrics reads figures and comments): loa_core.contracts.credentials is the protocol, a service token the key.

Asked once per connection (Channel.connection_id changes on every sign-in, so a new connection is asked anew).
"""

from __future__ import annotations

import logging

import httpx
from pydantic import SecretStr

from loa_core.contracts.credentials import CREDENTIALS_PATH, ChannelCredentials, RotatedRefreshToken
from loa_core.contracts.credentials import AuthorizationLost as AuthorizationLostReport
from loa_core.errors import PermanentError, RetryableError

log = logging.getLogger(__name__)


class AuthorizationLost(PermanentError):
    """The platform refused a connected channel's authorization: the channel must be connected again."""


class IngestCredentials:
    """A connected channel's secrets from ingest, asked once per connection (the service's token)."""

    def __init__(self, ingest_url: str, service_token: str, http: httpx.AsyncClient) -> None:
        self._base = f"{ingest_url.rstrip('/')}{CREDENTIALS_PATH}"
        self._headers = {"Authorization": f"Bearer {service_token}"}
        self._http = http
        self._cache: dict[tuple[str, str], dict[str, str]] = {}

    async def fetch(self, channel: str, connection_id: str) -> dict[str, str]:
        key = (channel, connection_id)
        if key not in self._cache:
            try:
                answer = await self._http.get(
                    f"{self._base}/{channel}", params={"connection_id": connection_id}, headers=self._headers
                )
            except httpx.HTTPError as exc:
                raise RetryableError(f"channel {channel!r}: ingest did not answer for its credentials") from exc
            if answer.status_code >= 500:
                raise RetryableError(
                    f"channel {channel!r}: ingest could not give its credentials ({answer.status_code})"
                )
            if answer.status_code != 200:
                raise AuthorizationLost(
                    f"channel {channel!r}: ingest has no credentials for its connection {connection_id} "
                    f"(HTTP {answer.status_code}); connect the channel again"
                )
            self._cache[key] = ChannelCredentials.model_validate_json(answer.content).values()
        return self._cache[key]

    async def rotated(self, channel: str, connection_id: str, refresh_token: str) -> None:
        """Keep ingest's copy current (the ledger already holds the new token: a failure here only logs)."""
        body = RotatedRefreshToken(refresh_token=SecretStr(refresh_token))
        url = f"{self._base}/{channel}/{connection_id}/refresh_token"
        try:
            answer = await self._http.put(
                url, json={"refresh_token": body.refresh_token.get_secret_value()}, headers=self._headers
            )
        except httpx.HTTPError:
            log.warning("channel %s: could not tell ingest about its rotated refresh token", channel)
            return
        if answer.status_code != 204:
            log.warning("channel %s: ingest refused the rotated refresh token (HTTP %s)", channel, answer.status_code)
        elif (channel, connection_id) in self._cache:
            self._cache[(channel, connection_id)]["refresh_token"] = refresh_token

    async def lost(self, channel: str, connection_id: str, reason: str) -> None:
        """The platform refused the connection: ingest marks the channel disconnected (its posts then wait)."""
        url = f"{self._base}/{channel}/{connection_id}/disconnected"
        payload = AuthorizationLostReport(reason=reason[:500]).model_dump()
        try:
            answer = await self._http.post(url, json=payload, headers=self._headers)
        except httpx.HTTPError as exc:
            raise RetryableError(f"channel {channel!r}: could not tell ingest it lost its authorization") from exc
        if answer.status_code not in (204, 409):
            log.warning("channel %s: ingest did not take the lost authorization (HTTP %s)", channel, answer.status_code)
        self._cache.pop((channel, connection_id), None)
