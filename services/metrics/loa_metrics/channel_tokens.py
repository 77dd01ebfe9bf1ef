"""The poller's credentials per channel: a connected channel's from ingest (like the publisher's), else the file.

- A channel connected with its platform's sign-in (Channel.connection_id) has its secrets in ingest, read with the
  service token (loa_core.ingest_credentials, once per connection). YouTube: an access token from Google's token
  endpoint with the connection's refresh token and Loa's client (Google's refresh tokens do not rotate, so the
  publisher's copy stays good), kept until a minute before it expires. Facebook: the Page token (long-lived).
- TikTok and Zalo rotate the refresh token on a refresh (Zalo on every one): a second service spending it would
  leave the publisher holding a dead one and disconnect the channel. Their access tokens come from the publisher
  (`LOA_PUBLISHER_URL`, the same service token: loa_core.contracts.credentials), asked every round, which refreshes
  through its own refresher of the connection.
- A channel without a connection: `LOA_STATS_CREDENTIALS_FILE` ({"<channel>": {"access_token", "api_key"}}), re-read
  every round, for channels configured by hand.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from loa_core.channels import Channel
from loa_core.contracts import ChannelState
from loa_core.contracts.credentials import ACCESS_TOKENS_PATH, ROTATING_PLATFORMS, AccessToken
from loa_core.errors import PermanentError, RetryableError
from loa_core.ingest_credentials import IngestCredentials
from loa_metrics.engagement import Credentials, load_credentials

log = logging.getLogger(__name__)

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 — a URL, not a password


class PublisherTokens:
    """A connected TikTok or Zalo channel's current access token, from the publisher (the one that refreshes)."""

    def __init__(self, publisher_url: str, service_token: str, http: httpx.AsyncClient) -> None:
        self._base = f"{publisher_url.rstrip('/')}{ACCESS_TOKENS_PATH}"
        self._headers = {"Authorization": f"Bearer {service_token}"}
        self._http = http

    async def access_token(self, channel: Channel, connection_id: str) -> str:
        params = {"connection_id": connection_id, "ward": channel.ward}
        try:
            answer = await self._http.get(f"{self._base}/{channel.name}", params=params, headers=self._headers)
        except httpx.HTTPError as exc:
            raise RetryableError("the publisher did not answer for its access token") from exc
        if answer.status_code != 200:  # its reason is in the publisher's log; this round goes without
            error = RetryableError if answer.status_code >= 500 else PermanentError
            raise error(f"the publisher gave no access token (HTTP {answer.status_code})")
        return AccessToken.model_validate_json(answer.content).access_token.get_secret_value()


class ChannelTokens:
    """`refresh()` once a round gathers every channel's credentials; `current()` answers the last gathered (the
    pollers' synchronous view)."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        file: Path | None,
        ingest: IngestCredentials | None,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.monotonic,
        publisher: PublisherTokens | None = None,
    ) -> None:
        self._channels = channels
        self._file = file
        self._ingest = ingest
        self._publisher = publisher
        self._http = http
        self._clock = clock
        self._access: dict[tuple[str, str], tuple[str, float]] = {}  # (channel, connection) -> (token, expires at)
        self._said: set[str] = set()
        self._latest: dict[str, Credentials] = {}

    def current(self) -> dict[str, Credentials]:
        return dict(self._latest)

    async def refresh(self) -> dict[str, Credentials]:
        found = load_credentials(self._file)
        for channel in sorted(self._channels.values(), key=lambda c: c.name):
            if channel.connection_id is None or channel.state is not ChannelState.CONNECTED:
                continue
            try:
                creds = await self._connected(channel, channel.connection_id)
            except (PermanentError, RetryableError, httpx.HTTPError) as exc:
                log.warning("channel %s: no credentials this round: %s", channel.name, exc)
                continue
            if creds is not None:
                found[channel.name] = creds
        self._latest = found
        return self.current()

    def _once(self, channel: str, why: str) -> None:
        if channel not in self._said:
            self._said.add(channel)
            log.info("channel %s is not polled: %s", channel, why)

    async def _connected(self, channel: Channel, connection: str) -> Credentials | None:
        if channel.platform in ROTATING_PLATFORMS:
            if self._publisher is None:
                self._once(channel.name, "connected, but metrics has no LOA_PUBLISHER_URL and LOA_SERVICE_TOKEN")
                return None
            return Credentials(access_token=await self._publisher.access_token(channel, connection))
        if self._ingest is None:
            self._once(channel.name, "connected, but metrics has no LOA_INGEST_URL and LOA_SERVICE_TOKEN")
            return None
        secrets = await self._ingest.fetch(channel.name, connection)
        if channel.platform == "facebook":
            page = secrets.get("page_token")
            return Credentials(access_token=page) if page else None
        if channel.platform == "youtube":
            return Credentials(access_token=await self._google_token(channel, connection, secrets))
        return None

    async def _google_token(self, channel: Channel, connection: str, secrets: Mapping[str, str]) -> str:
        key = (channel.name, connection)
        known = self._access.get(key)
        if known is not None and self._clock() < known[1]:
            return known[0]
        missing = [n for n in ("client_id", "client_secret", "refresh_token") if not secrets.get(n)]
        if missing:
            raise PermanentError(f"its connection lacks {', '.join(missing)} (is Loa's Google app configured?)")
        form = {name: secrets[name] for name in ("client_id", "client_secret", "refresh_token")}
        url = str(channel.options.get("token_url", GOOGLE_TOKEN_URL))
        answer = await self._http.post(url, data={**form, "grant_type": "refresh_token"})
        body = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if answer.status_code != 200 or not token:
            error = body.get("error") if isinstance(body, dict) else None
            raise PermanentError(f"Google refused the token refresh (HTTP {answer.status_code}, {error})")
        expires_in = float(body.get("expires_in") or 3600)
        self._access[key] = (str(token), self._clock() + max(0.0, expires_in - 60))
        return str(token)
