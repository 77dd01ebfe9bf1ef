"""Credentials by channel name, and OAuth access tokens that refresh themselves.

A secret named NAME for channel CHANNEL comes from the environment variable `LOA_SECRET_<CHANNEL>_<NAME>`
(upper case, '-' → '_'), else from the file `<secrets_dir>/<channel>/<name>` (a Docker or Kubernetes secret).
Values never reach a log line, an event or an error message: errors name the variable, never its value.

Refresh tokens that rotate (Zalo's change on every refresh; TikTok's may) are written to the ledger database the
moment they arrive (encrypted), and read from there in preference to the configured one, so a restart never replays
a spent one. They are kept per connection (Channel.connection_id, "" for env/secret-file credentials): a channel that
is connected again starts from its new connection's token.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import httpx

from loa_core.contracts.channels import Channel
from loa_core.streaming import PermanentError
from loa_publisher import metrics
from loa_publisher.adapters.http import RetryPolicy, platform_message, transient_for, with_backoff


class Secrets:
    def __init__(self, secrets_dir: Path | None, environ: dict[str, str] | None = None) -> None:
        self._dir = secrets_dir
        self._environ = os.environ if environ is None else environ

    @staticmethod
    def env_name(channel: str, name: str) -> str:
        return f"LOA_SECRET_{channel}_{name}".upper().replace("-", "_")

    def get(self, channel: str, name: str) -> str | None:
        value = self._environ.get(self.env_name(channel, name))
        if value:
            return value.strip()
        if self._dir is not None:
            path = self._dir / channel / name
            if path.is_file():
                return path.read_text("utf-8").strip() or None
        return None

    def require(self, channel: str, name: str) -> str:
        value = self.get(channel, name)
        if value is None:
            where = f" or the file {self._dir / channel / name}" if self._dir else ""
            raise PermanentError(
                f"channel {channel!r}: secret {name!r} is missing: set {self.env_name(channel, name)}{where}"
            )
        return value


# The platforms whose channels refresh OAuth access tokens (and may get a rotated refresh token to keep).
REFRESHING_PLATFORMS = frozenset({"youtube", "tiktok", "zalo"})


def keeps_refresh_tokens(channels: Iterable[Channel]) -> bool:
    """Whether any of these channels may have a rotated refresh token to store (encrypted: the key is needed)."""
    return any(channel.platform in REFRESHING_PLATFORMS for channel in channels)


class RefreshTokenStore(Protocol):
    def refresh_token(self, channel: str, connection: str) -> str | None: ...

    def store_refresh_token(self, channel: str, connection: str, token: str) -> None: ...


class TokenSource(Protocol):
    async def token(self) -> str:
        """A current access token (refreshed first if none is known or it is about to expire)."""

    async def refresh(self) -> str:
        """A new access token; called once after a 401."""


class StaticToken:
    """A long-lived token (a Facebook Page token): a 401 cannot be cured by refreshing."""

    def __init__(self, channel: str, token: str) -> None:
        self._channel = channel
        self._token = token

    async def token(self) -> str:
        return self._token

    async def refresh(self) -> str:
        raise PermanentError(f"channel {self._channel!r}: the platform rejected the access token; issue a new one")


class OAuthRefresher:
    """`grant_type=refresh_token` against a token endpoint; each platform names its form fields differently.

    `form` carries the client identification (Google: client_id/client_secret; TikTok: client_key/client_secret;
    Zalo: app_id, with the secret in a `secret_key` header).
    """

    def __init__(
        self,
        *,
        channel: str,
        connection: str = "",
        http: httpx.AsyncClient,
        token_url: str,
        form: dict[str, str],
        headers: dict[str, str] | None,
        refresh_token: str,
        store: RefreshTokenStore,
        policy: RetryPolicy,
        access_token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channel = channel
        self._connection = connection
        self._http = http
        self._url = token_url
        self._form = form
        self._headers = headers or {}
        self._configured_refresh = refresh_token
        self._store = store
        self._policy = policy
        self._access = access_token
        self._expires_at = float("inf") if access_token else 0.0
        self._clock = clock
        self._lock = asyncio.Lock()
        self.refresh_count = 0

    async def token(self) -> str:
        if self._access is None or self._clock() >= self._expires_at:
            return await self.refresh()
        return self._access

    async def refresh(self) -> str:
        stale = self._access
        async with self._lock:
            if self._access is not None and self._access != stale and self._clock() < self._expires_at:
                return self._access  # another task refreshed while we waited
            # A rotated token from the ledger wins over the configured one, which it replaced.
            refresh_token = self._store.refresh_token(self._channel, self._connection) or self._configured_refresh
            form = {**self._form, "grant_type": "refresh_token", "refresh_token": refresh_token}

            async def attempt() -> httpx.Response:
                response = await self._http.post(self._url, data=form, headers=self._headers)
                transient = transient_for(response)
                if transient:
                    raise transient
                return response

            response = await with_backoff(self._policy, f"channel {self._channel!r}: token refresh", attempt)
            try:
                body = response.json()
            except ValueError:
                body = {}
            access = body.get("access_token") if isinstance(body, dict) else None
            if response.status_code != 200 or not access:
                metrics.AUTH_FAILURES.labels("refresh_refused").inc()
                raise PermanentError(
                    f"channel {self._channel!r}: OAuth refresh refused ({platform_message(response)}); "
                    "re-authorize the channel"
                )
            rotated = body.get("refresh_token")
            if rotated and rotated != refresh_token:
                # Durable before use: if we crash now, the next start uses the new token, not the spent one.
                self._store.store_refresh_token(self._channel, self._connection, str(rotated))
            expires_in = float(body.get("expires_in") or 3600)
            self._access = str(access)
            # Refresh a minute early so an upload chunk never starts with a token about to die.
            self._expires_at = self._clock() + max(0.0, expires_in - 60)
            self.refresh_count += 1
            return self._access


Body = bytes | Callable[[], AsyncIterator[bytes]] | None


class RefresherPerChannel:
    """One OAuthRefresher per channel connection, made on first use from the channel's secrets: the bookkeeping the
    OAuth adapters share. `form` and `headers` name the secrets that identify the client to the token endpoint."""

    def __init__(
        self, http: httpx.AsyncClient, secrets: Secrets, store: RefreshTokenStore, policy: RetryPolicy
    ) -> None:
        self._http = http
        self._secrets = secrets
        self._store = store
        self._policy = policy
        self._refreshers: dict[tuple[str, str], TokenSource] = {}

    def get(
        self, channel: Channel, *, token_url: str, form: tuple[str, ...], headers: tuple[str, ...] = ()
    ) -> TokenSource:
        key = (channel.name, channel.connection_id or "")
        if key not in self._refreshers:
            name = channel.name
            self._refreshers[key] = OAuthRefresher(
                channel=name,
                connection=key[1],
                http=self._http,
                token_url=token_url,
                form={secret: self._secrets.require(name, secret) for secret in form},
                headers={secret: self._secrets.require(name, secret) for secret in headers} or None,
                refresh_token=self._secrets.require(name, "refresh_token"),
                store=self._store,
                policy=self._policy,
            )
        return self._refreshers[key]


async def authorized_request(
    http: httpx.AsyncClient,
    tokens: TokenSource,
    method: str,
    url: str,
    *,
    header: str = "Authorization",
    scheme: str = "Bearer ",
    body: Body = None,
    unauthorized: Callable[[httpx.Response], bool] = lambda r: r.status_code == 401,
    **kwargs: Any,
) -> httpx.Response:
    """One request with the channel's access token; if the platform says the token is bad, refresh once and
    repeat (a streamed body is made anew by its factory). A second refusal is permanent."""
    headers = dict(kwargs.pop("headers", None) or {})

    async def send(token: str) -> httpx.Response:
        headers[header] = f"{scheme}{token}"
        content = body() if callable(body) else body
        return await http.request(method, url, headers=headers, content=content, **kwargs)

    response = await send(await tokens.token())
    if unauthorized(response):
        metrics.AUTH_FAILURES.labels("token_rejected").inc()
        response = await send(await tokens.refresh())
        if unauthorized(response):
            metrics.AUTH_FAILURES.labels("still_unauthorized").inc()
            raise PermanentError(f"still unauthorized after a token refresh: {platform_message(response)}")
    return response
