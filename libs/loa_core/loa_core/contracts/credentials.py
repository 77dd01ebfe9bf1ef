"""How the publisher gets a connected channel's credentials from ingest (never through Kafka, never in an event).

Ingest keeps each OAuth connection's tokens encrypted (loa_ingest/credentials.py); the publisher asks for the
connection its registry record names (Channel.connection_id), authenticated by a service token that no person
holds (ingest: LOA_SERVICE_TOKEN_HASHES; publisher: LOA_SERVICE_TOKEN):

- `GET {ingest}/internal/credentials/{channel}?connection_id=…` → `ChannelCredentials` (404: not connected; 409:
  that connection was replaced by a newer sign-in);
- `PUT {ingest}/internal/credentials/{channel}/{connection_id}/refresh_token` with `RotatedRefreshToken`: the
  platform replaced the refresh token (204; 404 when that connection is no longer kept);
- `POST {ingest}/internal/credentials/{channel}/{connection_id}/disconnected` with `AuthorizationLost`: the
  platform refused the refresh token (invalid_grant); ingest marks the channel disconnected and its posts wait for
  a ward admin to connect it again (204; 409 when a newer connection replaced that one).

Metrics polls a connected channel with an access token. TikTok and Zalo rotate the refresh token on a refresh (Zalo
on every one), so only the publisher spends it (a second spender would leave the other holding a dead one); metrics
asks the publisher for a current access token instead, with its own service token (publisher:
LOA_SERVICE_TOKEN_HASHES; metrics: LOA_SERVICE_TOKEN):

- `GET {publisher}/internal/access_tokens/{channel}?connection_id=…&ward=…` → `AccessToken`, refreshed by the
  publisher's own refresher of that connection (one refresh however many ask at once). 401 without a service token,
  403 with another token (a person's included); 404: not a connected channel of that ward on a rotating platform
  (ROTATING_PLATFORMS), or its authorization was lost; 409: that connection was replaced; 502/503: the platform
  refused or did not answer the refresh.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from loa_core.contracts.base import ChannelName

CREDENTIALS_PATH = "/internal/credentials"
ACCESS_TOKENS_PATH = "/internal/access_tokens"
# The platforms whose refresh tokens rotate: their access tokens come from the publisher, the one that refreshes.
ROTATING_PLATFORMS = frozenset({"tiktok", "zalo"})


class ChannelCredentials(BaseModel):
    """A connection's secrets under the names the publisher's adapters read (refresh_token, client_id, …). Its repr
    shows names only."""

    model_config = ConfigDict(frozen=True)

    channel: ChannelName
    connection_id: str = Field(min_length=1, max_length=64)
    secrets: dict[str, SecretStr]

    def values(self) -> dict[str, str]:
        return {name: value.get_secret_value() for name, value in self.secrets.items()}


class RotatedRefreshToken(BaseModel):
    refresh_token: SecretStr = Field(min_length=1, max_length=4096)


class AuthorizationLost(BaseModel):
    # The platform's error code and description: no token (adapters never put one in their messages).
    reason: str = Field(min_length=1, max_length=500)


class AccessToken(BaseModel):
    """A connected channel's current access token, from the publisher (never logged, never in an event)."""

    model_config = ConfigDict(frozen=True)

    channel: ChannelName
    connection_id: str = Field(min_length=1, max_length=64)
    access_token: SecretStr = Field(min_length=1, max_length=4096)
