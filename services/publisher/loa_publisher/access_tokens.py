"""`GET /internal/access_tokens/{channel}`: a connected TikTok or Zalo channel's current access token, for metrics.

Their refresh tokens rotate, so the publisher is the only one that spends them (loa_core.contracts.credentials):
the token handed out is the one its own refresher holds for that connection (the one its uploads and replies use),
refreshed through it when none is known or it is about to expire; concurrent asks wait for one refresh. Only a
service token (LOA_SERVICE_TOKEN_HASHES) is let in, never a person's. The token is never logged: errors name the
channel and the platform's words, never a value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from faust.web import Request, Response, View

from loa_core.auth import token_is_valid
from loa_core.channel_registry import ChannelRegistry
from loa_core.contracts import ChannelState
from loa_core.contracts.channels import Channel
from loa_core.contracts.credentials import ACCESS_TOKENS_PATH, ROTATING_PLATFORMS
from loa_core.ingest_credentials import AuthorizationLost
from loa_core.streaming import PermanentError, RetryableError, ServiceApp
from loa_publisher.auth import TokenSource

log = logging.getLogger(__name__)
TokensOf = Callable[[Channel], TokenSource]

NO_SERVICE_TOKEN = "A service token is required. / Cần mã dịch vụ."  # noqa: S105 — words, not a password
NOT_A_SERVICE = "Only Loa's services read access tokens. / Chỉ các dịch vụ của Loa được lấy mã truy cập."
NOT_SERVED = (
    "No connected TikTok or Zalo channel of that ward by this name. "
    "/ Không có kênh TikTok hoặc Zalo đã kết nối nào của phường đó với tên này."
)
REPLACED = "A newer sign-in replaced that connection. / Kết nối đó đã được thay bằng lượt mới."
NOT_READY = "The publisher has not read its channels yet. / Dịch vụ đăng bài chưa đọc xong danh sách kênh."


def refusal(authorization: str | None, hashes: frozenset[str]) -> tuple[int, str] | None:
    """Why this caller may not have a token (status, bilingual detail), or None for one of Loa's services."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return 401, NO_SERVICE_TOKEN
    if not token_is_valid(given.strip(), hashes):
        return 403, NOT_A_SERVICE
    return None


def served(
    channels: Mapping[str, Channel], name: str, connection_id: str | None, ward: str | None
) -> Channel | tuple[int, str]:
    """The channel whose token may be handed out, or why not (status, bilingual detail)."""
    channel = channels.get(name)
    if (
        channel is None
        or channel.platform not in ROTATING_PLATFORMS
        or channel.connection_id is None
        or channel.state is not ChannelState.CONNECTED
        or (ward is not None and ward != channel.ward)
    ):
        return 404, NOT_SERVED
    if connection_id is not None and connection_id != channel.connection_id:
        return 409, REPLACED
    return channel


def serve_access_tokens(
    app: ServiceApp, channels: ChannelRegistry, tokens_of: Mapping[str, TokensOf], hashes: frozenset[str]
) -> None:
    """Plugs the route into the publisher's web server; `tokens_of` gives each rotating platform's token source."""

    @app.page(f"{ACCESS_TOKENS_PATH}/{{channel}}")
    class AccessTokens(View):
        async def get(self, request: Request, channel: str) -> Response:
            refused = refusal(request.headers.get("Authorization"), hashes)
            if refused is not None:
                status, detail = refused
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                return self.json({"detail": detail}, status=status, headers=headers)
            if not channels.ready:
                return self.json({"detail": NOT_READY}, status=503)
            query = request.query
            found = served(channels, channel, query.get("connection_id"), query.get("ward"))
            if isinstance(found, tuple):
                return self.json({"detail": found[1]}, status=found[0])
            assert found.connection_id is not None
            try:
                token = await tokens_of[found.platform](found).token()
            except AuthorizationLost:
                return self.json({"detail": NOT_SERVED}, status=404)
            except RetryableError as exc:
                log.warning("channel %s: no access token for metrics: %s", found.name, exc)
                return self.json({"detail": f"{exc} / Nền tảng chưa trả lời, thử lại sau."}, status=503)
            except PermanentError as exc:
                log.warning("channel %s: no access token for metrics: %s", found.name, exc)
                return self.json({"detail": f"{exc} / Nền tảng từ chối làm mới mã truy cập."}, status=502)
            body = {"channel": found.name, "connection_id": found.connection_id, "access_token": token}
            return self.json(body, headers={"Cache-Control": "no-store"})
