"""Each platform's OAuth authorization-code sign-in, as Loa's app on that platform: the authorize URL a ward admin
is sent to, and the exchange of the code the platform sends back for the tokens the publisher needs.

Facts (re-checked against the platforms' pages; tests/support/emulators implement them strictly):
- Google: `accounts.google.com/o/oauth2/v2/auth` with client_id, redirect_uri, response_type=code, the
  youtube.upload and youtube.force-ssl scopes, access_type=offline and prompt=consent (without both no refresh
  token comes back), state and an S256 code_challenge; POST `oauth2.googleapis.com/token`
  grant_type=authorization_code with code, client_id, client_secret, redirect_uri and code_verifier.
- TikTok: `www.tiktok.com/v2/auth/authorize/` with client_key, scope (comma-separated), redirect_uri, state,
  response_type=code, code_challenge and code_challenge_method=S256 (documented for desktop and mobile apps; Loa
  sends it always); POST `open.tiktokapis.com/v2/oauth/token/` with client_key, client_secret, code,
  grant_type=authorization_code, redirect_uri and code_verifier.
- Facebook: `www.facebook.com/{version}/dialog/oauth` with client_id, redirect_uri, state, scope and an S256
  challenge; GET `graph.facebook.com/{version}/oauth/access_token` with client_id, client_secret, redirect_uri,
  code, code_verifier gives a short-lived user token, which grant_type=fb_exchange_token makes long-lived; the
  Page token is read from `/me/accounts` (the Page whose id is the channel's `page_id` option).
- Zalo: `oauth.zaloapp.com/v4/oa/permission` with app_id, redirect_uri, code_challenge and state; POST
  `oauth.zaloapp.com/v4/oa/access_token` (header secret_key) with app_id, code, grant_type=authorization_code and
  code_verifier; errors come as HTTP 200 with a negative `error`.

Every URL is a setting (the real one by default), so tests point them at the emulators. The tokens returned are
named as the publisher's adapters read them (refresh_token; Facebook: user_token, page_token); the app's own
credentials are added when the publisher fetches them (IngestSettings.platform_apps), not stored per channel.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from loa_core.contracts.channels import Channel

# youtube.upload posts; youtube.force-ssl lets the publisher change or delete a published video (videos.update and
# videos.delete accept youtube, youtube.force-ssl or youtubepartner, not youtube.upload). Space-separated.
YOUTUBE_SCOPE = "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.force-ssl"
TIKTOK_SCOPE = "video.publish,video.upload"
FACEBOOK_SCOPE = "pages_show_list,pages_read_engagement,pages_manage_posts,publish_video"


class SignInFailed(Exception):
    """The platform did not give tokens for the code. The message names the platform's error code, never a token."""


def challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636): BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class PlatformApp:
    """Loa's app on one platform: its credentials and endpoints (IngestSettings)."""

    platform: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str  # Facebook: the Graph API base, e.g. https://graph.facebook.com/v25.0

    def app_secrets(self) -> dict[str, str]:
        """The app's credentials under the names the publisher's adapters read."""
        names = {
            "youtube": ("client_id", "client_secret"),
            "tiktok": ("client_key", "client_secret"),
            "zalo": ("app_id", "secret_key"),
            "facebook": (),
        }[self.platform]
        return dict(zip(names, (self.client_id, self.client_secret), strict=False))

    def authorize(self, *, state: str, verifier: str, redirect_uri: str) -> str:
        """The URL the ward admin's browser is sent to."""
        pkce = {"code_challenge": challenge(verifier), "code_challenge_method": "S256"}
        query: dict[str, str]
        if self.platform == "youtube":
            query = {
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": YOUTUBE_SCOPE,
                "access_type": "offline",
                "prompt": "consent",
                "state": state,
                **pkce,
            }
        elif self.platform == "tiktok":
            query = {
                "client_key": self.client_id,
                "scope": TIKTOK_SCOPE,
                "redirect_uri": redirect_uri,
                "state": state,
                "response_type": "code",
                **pkce,
            }
        elif self.platform == "facebook":
            query = {
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
                "response_type": "code",
                "scope": FACEBOOK_SCOPE,
                **pkce,
            }
        else:  # zalo: no method parameter, S256 implied
            query = {
                "app_id": self.client_id,
                "redirect_uri": redirect_uri,
                "code_challenge": pkce["code_challenge"],
                "state": state,
            }
        return f"{self.authorize_url}?{urlencode(query)}"

    async def exchange(
        self, http: httpx.AsyncClient, channel: Channel, *, code: str, verifier: str, redirect_uri: str
    ) -> dict[str, str]:
        """The tokens for the code, named as the publisher reads them; SignInFailed when the platform refuses."""
        if self.platform == "facebook":
            return await self._facebook(http, channel, code=code, verifier=verifier, redirect_uri=redirect_uri)
        form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
        headers: dict[str, str] = {}
        if self.platform == "youtube":
            form |= {"client_id": self.client_id, "client_secret": self.client_secret, "redirect_uri": redirect_uri}
        elif self.platform == "tiktok":
            form |= {"client_key": self.client_id, "client_secret": self.client_secret, "redirect_uri": redirect_uri}
        else:  # zalo
            form |= {"app_id": self.client_id}
            headers["secret_key"] = self.client_secret
        body = _json(await http.post(self.token_url, data=form, headers=headers))
        refresh = body.get("refresh_token")
        if not isinstance(refresh, str) or not refresh or not body.get("access_token"):
            raise SignInFailed(f"{self.platform}: {_platform_error(body)}")
        return {"refresh_token": refresh}

    async def _facebook(
        self, http: httpx.AsyncClient, channel: Channel, *, code: str, verifier: str, redirect_uri: str
    ) -> dict[str, str]:
        graph = self.token_url.rstrip("/")
        app = {"client_id": self.client_id, "client_secret": self.client_secret}
        params = {**app, "redirect_uri": redirect_uri, "code": code, "code_verifier": verifier}
        short = _json(await http.get(f"{graph}/oauth/access_token", params=params)).get("access_token")
        if not isinstance(short, str) or not short:
            raise SignInFailed("facebook: the code was refused")
        exchange = {**app, "grant_type": "fb_exchange_token", "fb_exchange_token": short}
        user = _json(await http.get(f"{graph}/oauth/access_token", params=exchange)).get("access_token")
        if not isinstance(user, str) or not user:
            raise SignInFailed("facebook: the long-lived token was refused")
        pages = _json(await http.get(f"{graph}/me/accounts", params={"access_token": user})).get("data")
        wanted = str(channel.options.get("page_id", ""))
        found = [p for p in pages or [] if isinstance(p, dict) and (not wanted or str(p.get("id")) == wanted)]
        if len(found) != 1 or not isinstance(found[0].get("access_token"), str):
            raise SignInFailed(
                f"facebook: the account that signed in does not manage the Page {wanted or '(no page_id option)'}"
            )
        return {"user_token": user, "page_token": found[0]["access_token"]}


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"error": f"HTTP {response.status_code}"}
    return body if isinstance(body, dict) else {"error": f"HTTP {response.status_code}"}


def _platform_error(body: dict[str, Any]) -> str:
    """The platform's error code and description (never a token: error bodies carry none)."""
    error = body.get("error")
    if isinstance(error, dict):  # Graph API
        return f"{error.get('code')} {error.get('message', '')}".strip()
    described = body.get("error_description") or body.get("error_name") or ""
    return f"{error} {described}".strip()
