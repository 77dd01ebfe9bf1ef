"""Credentials by channel name, and OAuth access tokens that refresh themselves.

A secret named NAME for channel CHANNEL comes from the environment variable `LOA_SECRET_<CHANNEL>_<NAME>`
(upper case, '-' → '_'), else from the file `<secrets_dir>/<channel>/<name>` (a Docker or Kubernetes secret).
Values never reach a log line, an event or an error message: errors name the variable, never its value.

A channel connected with its platform's sign-in (Channel.connection_id set) takes its secrets from ingest instead
(`loa_core.ingest_credentials.IngestCredentials`); env and files stay the way for channels without a connection.
When the platform refuses such a channel's refresh token (revoked, expired: `invalid_grant`), ingest is told, marks
the channel disconnected, and its posts wait for a ward admin to connect it again (`AuthorizationLost`).

Refresh tokens that rotate (Zalo's change on every refresh; TikTok's may) are written to the ledger database the
moment they arrive (encrypted), and read from there in preference to the configured one, so a restart never replays
a spent one. They are kept per connection (Channel.connection_id, "" for env/secret-file credentials): a channel that
is connected again starts from its new connection's token.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import httpx

from loa_core.contracts.channels import Channel
from loa_core.ingest_credentials import AuthorizationLost, IngestCredentials
from loa_core.streaming import PermanentError
from loa_publisher import metrics
from loa_publisher.adapters.http import RetryPolicy, platform_message, transient_for, with_backoff

log = logging.getLogger(__name__)


class TokenRejected(PermanentError):
    """The platform rejected a long-lived token (a Facebook user or Page token): refreshing cannot cure it."""


class Secrets:
    def __init__(
        self,
        secrets_dir: Path | None,
        environ: dict[str, str] | None = None,
        connections: IngestCredentials | None = None,
    ) -> None:
        self._dir = secrets_dir
        self._environ = os.environ if environ is None else environ
        self.connections = connections

    async def lost(self, channel: Channel, rejected: TokenRejected) -> AuthorizationLost | TokenRejected:
        """What a rejected long-lived token means: for a connected channel, a lost authorization (ingest is told,
        the channel shows disconnected and its posts wait); for one configured by env or files, a failure."""
        if channel.connection_id is None or self.connections is None:
            return rejected
        await self.connections.lost(channel.name, channel.connection_id, str(rejected))
        return AuthorizationLost(
            f"channel {channel.name!r}: the platform rejected its tokens; the channel is now disconnected: a ward "
            "admin connects it again"
        )

    async def of(self, channel: Channel, names: tuple[str, ...]) -> dict[str, str]:
        """The channel's secrets by name: its connection's (from ingest) when it has one, else env or files."""
        if channel.connection_id is None:
            return {name: self.require(channel.name, name) for name in names}
        if self.connections is None:
            raise PermanentError(
                f"channel {channel.name!r} is connected through ingest, but this publisher has no LOA_INGEST_URL "
                "and LOA_SERVICE_TOKEN to fetch its credentials with"
            )
        values = await self.connections.fetch(channel.name, channel.connection_id)
        missing = [name for name in names if not values.get(name)]
        if missing:
            raise PermanentError(
                f"channel {channel.name!r}: its connection lacks {', '.join(missing)} (is Loa's {channel.platform} "
                "app configured on ingest?)"
            )
        return {name: values[name] for name in names}

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
        raise TokenRejected(f"channel {self._channel!r}: the platform rejected the access token; issue a new one")


class OAuthRefresher:
    """`grant_type=refresh_token` against a token endpoint; each platform names its form fields differently.

    `form` names the secrets that identify the client (Google: client_id/client_secret; TikTok: client_key/
    client_secret; Zalo: app_id, with the secret in a `secret_key` header named by `headers`); `secrets` gives them
    and the configured refresh_token, read when first needed (a connected channel's come from ingest).
    """

    def __init__(
        self,
        *,
        channel: str,
        connection: str = "",
        http: httpx.AsyncClient,
        token_url: str,
        secrets: Callable[[], Awaitable[dict[str, str]]],
        form: tuple[str, ...],
        headers: tuple[str, ...] = (),
        store: RefreshTokenStore,
        policy: RetryPolicy,
        connections: IngestCredentials | None = None,
        access_token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channel = channel
        self._connection = connection
        self._http = http
        self._url = token_url
        self._secrets = secrets
        self._form_names = form
        self._header_names = headers
        self._store = store
        self._policy = policy
        self._connections = connections if connection else None
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
            values = await self._secrets()
            # A rotated token from the ledger wins over the configured one, which it replaced.
            refresh_token = self._store.refresh_token(self._channel, self._connection) or values["refresh_token"]
            form = {name: values[name] for name in self._form_names}
            form |= {"grant_type": "refresh_token", "refresh_token": refresh_token}
            headers = {name: values[name] for name in self._header_names}

            async def attempt() -> httpx.Response:
                response = await self._http.post(self._url, data=form, headers=headers)
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
                said = platform_message(response)
                if self._connections is not None and authorization_lost(body):
                    await self._connections.lost(self._channel, self._connection, said)
                    raise AuthorizationLost(
                        f"channel {self._channel!r}: the platform refused its authorization ({said}); the channel "
                        "is now disconnected: a ward admin connects it again"
                    )
                raise PermanentError(
                    f"channel {self._channel!r}: OAuth refresh refused ({said}); re-authorize the channel"
                )
            rotated = body.get("refresh_token")
            if rotated and rotated != refresh_token:
                # Durable before use: if we crash now, the next start uses the new token, not the spent one.
                self._store.store_refresh_token(self._channel, self._connection, str(rotated))
                if self._connections is not None:
                    await self._connections.rotated(self._channel, self._connection, str(rotated))
            expires_in = float(body.get("expires_in") or 3600)
            self._access = str(access)
            # Refresh a minute early so an upload chunk never starts with a token about to die.
            self._expires_at = self._clock() + max(0.0, expires_in - 60)
            self.refresh_count += 1
            return self._access


def authorization_lost(body: object) -> bool:
    """Whether a refused refresh means the authorization itself is gone (revoked, expired, spent), so only a new
    sign-in helps: OAuth's invalid_grant (Google, TikTok), Zalo's -14014 (invalid refresh token)."""
    if not isinstance(body, dict):
        return False
    return body.get("error") in ("invalid_grant", -14014)


Body = bytes | Callable[[], AsyncIterator[bytes]] | None


class RefresherPerChannel:
    """One OAuthRefresher per channel connection, made on first use: the bookkeeping the OAuth adapters share.
    `form` and `headers` name the secrets that identify the client to the token endpoint."""

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
            names = (*form, *headers, "refresh_token")

            async def secrets() -> dict[str, str]:
                return await self._secrets.of(channel, names)

            self._refreshers[key] = OAuthRefresher(
                channel=channel.name,
                connection=key[1],
                http=self._http,
                token_url=token_url,
                secrets=secrets,
                form=form,
                headers=headers,
                store=self._store,
                policy=self._policy,
                connections=self._secrets.connections,
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
