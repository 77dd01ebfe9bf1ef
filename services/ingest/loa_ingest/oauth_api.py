"""Connecting a channel with its platform's own sign-in, and the publisher's internal credentials endpoints.

- `GET /channels/{name}/connect` (a ward admin of the channel's ward): a new sign-in (state, PKCE verifier, a cookie
  that binds it to this browser), then a redirect to the platform's authorize URL.
- `GET /oauth/callback`: the platform sends the browser back here. The state must be known, unexpired, unused, made
  in this browser and of the caller's ward; then the code is exchanged (with the verifier), the tokens are stored
  encrypted under a new connection id and the channel is connected. Any refusal is a 400 in both languages and
  changes nothing.
- `/internal/credentials/…` (loa_core.contracts.credentials): for the publisher only, by its service token.

Tokens never reach a log line, an event, a response to a person or an error message.
"""
# No `from __future__ import annotations`: FastAPI must resolve the route annotations, which use locals.

import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

import httpx
from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import Engine

from loa_core.auth import Caller, Role, bearer, token_is_valid
from loa_core.contracts.base import ChannelName
from loa_core.contracts.channels import Channel, ChannelState
from loa_core.contracts.credentials import CREDENTIALS_PATH, AuthorizationLost, RotatedRefreshToken
from loa_core.secrets import SecretBox, new_key
from loa_ingest.credentials import Credentials, SignIns, StateRefused, reencrypt
from loa_ingest.oauth import PlatformApp, SignInFailed
from loa_ingest.settings import IngestSettings

log = logging.getLogger(__name__)
Requires = Callable[[Role], Callable[..., Awaitable[Caller]]]
CALLBACK_PATH = "/oauth/callback"
BROWSER_COOKIE = "loa_oauth_browser"

REFUSED_STATE = {
    StateRefused.UNKNOWN: "This sign-in is not known (the link is wrong or was made by another installation). "
    "/ Không nhận ra lượt đăng nhập này (đường dẫn sai hoặc của hệ thống khác).",
    StateRefused.EXPIRED: "This sign-in took too long and expired; start it again from the channel. "
    "/ Lượt đăng nhập đã quá hạn; hãy bắt đầu lại từ trang kênh.",
    StateRefused.USED: "This sign-in was already used; start a new one from the channel. "
    "/ Lượt đăng nhập này đã được dùng; hãy bắt đầu lượt mới từ trang kênh.",
    StateRefused.OTHER_BROWSER: "This sign-in was started in another browser; start it again here. "
    "/ Lượt đăng nhập được bắt đầu ở trình duyệt khác; hãy bắt đầu lại tại đây.",
}
OTHER_WARD = (
    "This sign-in belongs to another ward's channel. / Lượt đăng nhập này thuộc kênh của phường khác."
)  # fmt: skip
NO_CHANNEL = "No such channel. / Không tìm thấy kênh."


class _Stored(Protocol):
    @property
    def channel(self) -> Channel: ...


class ChannelDirectory(Protocol):
    """What the connect flow needs of the channels store (loa_ingest.channels.ChannelStore)."""

    def get(self, name: str) -> _Stored | None: ...

    async def connect(self, name: str, connection_id: str) -> object: ...

    async def disconnect(self, name: str, reason: str) -> object: ...


def _bad(detail: str, code: int = status.HTTP_400_BAD_REQUEST) -> HTTPException:
    return HTTPException(code, detail)


def oauth_router(
    settings: IngestSettings,
    channels: ChannelDirectory,
    sign_ins: SignIns,
    credentials: Credentials,
    requires: Requires,
    http: httpx.AsyncClient,
) -> APIRouter:
    router = APIRouter(tags=["channels"])
    apps = settings.platform_apps()
    redirect_uri = settings.public_url.rstrip("/") + CALLBACK_PATH
    secure_cookie = settings.public_url.startswith("https://")
    WardAdmin = Annotated[Caller, Depends(requires("ward_admin"))]

    def app_for(channel: Channel) -> PlatformApp:
        if channel.platform == "local":
            raise _bad("A local channel needs no sign-in. / Kênh nội bộ không cần đăng nhập.")
        app = apps.get(channel.platform)
        if app is None:
            raise _bad(
                f"Loa's {channel.platform} app is not configured on this installation (its id and secret in ingest's "
                f"settings, see docs/configuration.md). / Ứng dụng {channel.platform} của Loa chưa được cấu hình.",
                status.HTTP_409_CONFLICT,
            )
        return app

    @router.get(
        "/channels/{name}/connect",
        status_code=status.HTTP_302_FOUND,
        summary="Connect a channel: sends the browser to the platform's sign-in (ward admins of its ward)",
        response_class=RedirectResponse,
    )
    async def connect(name: ChannelName, who: WardAdmin) -> RedirectResponse:
        stored = channels.get(name)
        if stored is None or stored.channel.state is ChannelState.REMOVED or not who.sees(stored.channel.ward):
            raise _bad(NO_CHANNEL, status.HTTP_404_NOT_FOUND)
        channel = stored.channel
        app = app_for(channel)
        pending = sign_ins.start(channel.name, channel.ward, who.id, redirect_uri)
        log.info("sign-in started for channel %s by %s", channel.name, who.id)
        response = RedirectResponse(
            app.authorize(state=pending.state, verifier=pending.verifier, redirect_uri=redirect_uri),
            status_code=status.HTTP_302_FOUND,
        )
        response.set_cookie(
            BROWSER_COOKIE,
            pending.browser,
            max_age=int(settings.oauth_state_ttl_s),
            path=CALLBACK_PATH,
            httponly=True,
            secure=secure_cookie,
            samesite="lax",  # sent on the platform's top-level redirect back, not on cross-site subrequests
        )
        return response

    @router.get(CALLBACK_PATH, summary="Where the platform sends the browser back after its sign-in")
    async def callback(
        request: Request,
        who: WardAdmin,
        state: Annotated[str | None, Query(max_length=200)] = None,
        code: Annotated[str | None, Query(max_length=4000)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
    ) -> HTMLResponse:
        if not state:
            raise _bad(REFUSED_STATE[StateRefused.UNKNOWN])
        sign_in = sign_ins.finish(state, request.cookies.get(BROWSER_COOKIE))
        if isinstance(sign_in, StateRefused):
            raise _bad(REFUSED_STATE[sign_in])
        if not who.sees(sign_in.ward):
            raise _bad(OTHER_WARD)
        stored = channels.get(sign_in.channel)
        if stored is None or stored.channel.state is ChannelState.REMOVED:
            raise _bad(NO_CHANNEL)
        channel = stored.channel
        if error or not code:
            reason = html.escape(error or "no code")
            raise _bad(
                f"The sign-in on {channel.platform} did not give Loa access ({reason}); the channel is unchanged. "
                f"/ Đăng nhập {channel.platform} không cấp quyền cho Loa ({reason}); kênh không thay đổi."
            )
        app = app_for(channel)
        try:
            tokens = await app.exchange(
                http, channel, code=code, verifier=sign_in.verifier, redirect_uri=sign_in.redirect_uri
            )
        except SignInFailed as refused:
            raise _bad(
                f"{channel.platform} refused the sign-in ({refused}); the channel is unchanged, start again. "
                f"/ {channel.platform} từ chối đăng nhập; kênh không thay đổi, hãy thử lại."
            ) from None
        except httpx.HTTPError:
            raise _bad(
                f"{channel.platform} did not answer; the channel is unchanged, try again shortly. "
                f"/ {channel.platform} không trả lời; kênh không thay đổi, hãy thử lại sau.",
                status.HTTP_502_BAD_GATEWAY,
            ) from None
        connection_id = credentials.store(channel.name, tokens)
        await channels.connect(channel.name, connection_id)
        log.info("channel %s connected by %s (connection %s)", channel.name, who.id, connection_id)
        name = html.escape(channel.name)
        page = HTMLResponse(
            f"""<!doctype html><html lang="vi"><meta charset="utf-8"><title>Loa: {name}</title>
<p id="connected" data-channel="{name}">Đã kết nối kênh {name}. / Channel {name} is connected.</p>
<p><a href="/ui/">Quay lại / Back</a></p></html>"""
        )
        page.delete_cookie(BROWSER_COOKIE, path=CALLBACK_PATH)
        return page

    return router


def internal_router(settings: IngestSettings, channels: ChannelDirectory, credentials: Credentials) -> APIRouter:
    """The publisher's credentials endpoints (loa_core.contracts.credentials), by service token only."""
    router = APIRouter(prefix=CREDENTIALS_PATH, include_in_schema=False)
    apps = settings.platform_apps()

    async def service(
        given: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if given is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "A service token is required. / Cần mã dịch vụ.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not token_is_valid(given.credentials, settings.service_tokens()):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "Only Loa's services read channel credentials. / Chỉ các dịch vụ của Loa được đọc thông tin kênh.",
            )

    Service = Annotated[None, Depends(service)]

    def connected(name: str, connection_id: str | None) -> Channel:
        stored = channels.get(name)
        if stored is None or stored.channel.connection_id is None:
            raise _bad("This channel has no connection. / Kênh chưa được kết nối.", status.HTTP_404_NOT_FOUND)
        if connection_id is not None and connection_id != stored.channel.connection_id:
            raise _bad(
                "A newer sign-in replaced that connection. / Kết nối đó đã được thay bằng lượt mới.",
                status.HTTP_409_CONFLICT,
            )
        return stored.channel

    @router.get("/{name}")
    async def read(
        name: ChannelName, _: Service, connection_id: Annotated[str | None, Query(max_length=64)] = None
    ) -> JSONResponse:
        channel = connected(name, connection_id)
        assert channel.connection_id is not None
        tokens = credentials.tokens(name, channel.connection_id)
        if tokens is None or channel.state is not ChannelState.CONNECTED:
            raise _bad("This channel is not connected. / Kênh chưa được kết nối.", status.HTTP_404_NOT_FOUND)
        app = apps.get(channel.platform)
        secrets = {**(app.app_secrets() if app else {}), **tokens}
        return JSONResponse({"channel": name, "connection_id": channel.connection_id, "secrets": secrets})

    @router.put("/{name}/{connection_id}/refresh_token", status_code=status.HTTP_204_NO_CONTENT)
    async def rotated(
        name: ChannelName, connection_id: str, _: Service, body: Annotated[RotatedRefreshToken, Body()]
    ) -> Response:
        connected(name, connection_id)
        if not credentials.rotate(name, connection_id, "refresh_token", body.refresh_token.get_secret_value()):
            raise _bad("That connection is not kept. / Không còn kết nối đó.", status.HTTP_404_NOT_FOUND)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/{name}/{connection_id}/disconnected", status_code=status.HTTP_204_NO_CONTENT)
    async def lost(
        name: ChannelName, connection_id: str, _: Service, body: Annotated[AuthorizationLost, Body()]
    ) -> Response:
        channel = connected(name, connection_id)
        if channel.state is ChannelState.CONNECTED:
            await channels.disconnect(name, body.reason)
            log.warning("channel %s disconnected: the platform refused its authorization (%s)", name, body.reason)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


@dataclass(frozen=True)
class ChannelSignIn:
    """The connect flow's parts, made once by the bootstrap; `routers` plugs them into the API."""

    settings: IngestSettings
    sign_ins: SignIns
    credentials: Credentials
    http: httpx.AsyncClient

    @classmethod
    def build(cls, settings: IngestSettings, engine: Engine) -> "ChannelSignIn":
        """With the operator's key: required as soon as one platform app is configured (tokens would be stored);
        without any app nothing can be connected, so nothing is ever encrypted (SecretKeyError, bilingual)."""
        box = settings.required_secret_box() if settings.platform_apps() else settings.secret_box()
        if box is None:
            box = SecretBox([new_key()])  # no app: stores nothing, a throwaway key is as good as none
        elif reencrypted := reencrypt(engine, box):
            log.info("re-encrypted %d stored channel secret(s) with the first key", reencrypted)
        return cls(
            settings,
            SignIns(engine, box, settings.oauth_state_ttl_s),
            Credentials(engine, box),
            httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)),
        )

    def routers(self, channels: ChannelDirectory, requires: Requires) -> list[APIRouter]:
        return [
            oauth_router(self.settings, channels, self.sign_ins, self.credentials, requires, self.http),
            internal_router(self.settings, channels, self.credentials),
        ]
