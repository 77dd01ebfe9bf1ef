"""The OAuth authorization-code grant the platform emulators share: the consent page and the codes it grants.

Each emulator validates its own authorize parameters and maps the outcomes to its own error format; this module
keeps what they have in common, as RFC 6749 and RFC 7636 (PKCE) state it:

- the consent page is HTML with an Allow and a Deny button (a form POST, so a browser, Playwright or a test's HTTP
  client can click it); Allow redirects to the redirect_uri with `code` and `state`, Deny with
  `error=access_denied` and `state` (plus what the platform adds);
- a code is bound to the client, the redirect_uri and the code_challenge it was asked with, lives
  `CODE_LIFETIME_S` on the emulator's clock and is redeemed at most once: any redemption attempt by the right
  client spends it, a wrong verifier included, so a code cannot be tried against several verifiers;
- S256 only: BASE64URL(SHA256(verifier)) without padding must equal the challenge.

Redirect URIs must be registered with the emulator first (`register_redirect`), as with every platform's app
settings; an unregistered one gets an error page, never a redirect.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlencode

import httpx
from aiohttp import web

from tests.support.emulators import Emulator

# Google: "short-lived" (about 10 minutes, 2nd-hand); TikTok, Facebook, Zalo: unstated. One value for all.
CODE_LIFETIME_S = 600.0


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Grant:
    """What the person allowed: bound to the client, the redirect_uri and the PKCE challenge."""

    client: str
    redirect_uri: str
    scope: str
    challenge: str | None
    expires_at: float
    extra: dict[str, str] = field(default_factory=dict)  # e.g. Google's access_type and prompt
    spent: bool = False


class Refusal(Enum):
    """Why a code was not redeemed; each platform words it in its own format."""

    UNKNOWN_CODE = "unknown_code"  # never issued, or issued to another client
    SPENT_CODE = "spent_code"
    EXPIRED_CODE = "expired_code"
    REDIRECT_MISMATCH = "redirect_mismatch"
    MISSING_VERIFIER = "missing_verifier"
    WRONG_VERIFIER = "wrong_verifier"


@dataclass
class _Pending:
    grant: Grant
    state: str | None
    # What a Deny adds beside error=access_denied and state (Facebook's error_reason, …).
    denied_extra: dict[str, str]
    allowed_extra: dict[str, str]


class Consent:
    """The consent page and the codes of one emulator. Routes: `/__consent/{id}` (the buttons' form target)."""

    def __init__(self, emulator: Emulator, platform: str) -> None:
        self._emulator = emulator
        self._platform = platform
        self.redirect_uris: set[str] = set()
        self._pending: dict[str, _Pending] = {}
        self._codes: dict[str, Grant] = {}
        self.decisions: list[str] = []  # "allow" / "deny", for assertions

    def register_redirect(self, uri: str) -> None:
        self.redirect_uris.add(uri)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/__consent/{pending}", self._decide)

    def error_page(self, message: str) -> web.Response:
        """What the platform shows instead of redirecting when the request itself is wrong."""
        body = f"<!doctype html><title>{html.escape(self._platform)}: error</title><p>{html.escape(message)}</p>"
        return web.Response(status=400, text=body, content_type="text/html")

    def page(
        self,
        grant: Grant,
        state: str | None,
        *,
        app_name: str,
        denied_extra: dict[str, str] | None = None,
        allowed_extra: dict[str, str] | None = None,
    ) -> web.Response:
        """The consent page for a checked authorize request."""
        pending_id = secrets.token_urlsafe(16)
        self._pending[pending_id] = _Pending(grant, state, denied_extra or {}, allowed_extra or {})
        platform, scope = html.escape(self._platform), html.escape(grant.scope)
        body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{platform}: allow {html.escape(app_name)}?</title></head>
<body><h1>{html.escape(app_name)} wants to use your {platform} account</h1>
<p>Permissions: <code id="scope">{scope}</code></p>
<form method="post" action="/__consent/{pending_id}">
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form></body></html>"""
        return web.Response(text=body, content_type="text/html")

    async def _decide(self, request: web.Request) -> web.Response:
        pending = self._pending.pop(request.match_info["pending"], None)
        if pending is None:
            return self.error_page("This sign-in request is no longer valid.")
        decision = str((await request.post()).get("decision", ""))
        self.decisions.append(decision)
        state = {"state": pending.state} if pending.state is not None else {}
        if decision != "allow":
            query = {"error": "access_denied", **pending.denied_extra, **state}
        else:
            code = secrets.token_urlsafe(24)
            pending.grant.expires_at = self._emulator.now() + CODE_LIFETIME_S
            self._codes[code] = pending.grant
            query = {"code": code, **pending.allowed_extra, **state}
        separator = "&" if "?" in pending.grant.redirect_uri else "?"
        raise web.HTTPFound(f"{pending.grant.redirect_uri}{separator}{urlencode(query)}")

    def grant(self, client: str, redirect_uri: str, scope: str, challenge: str | None, **extra: str) -> Grant:
        return Grant(client, redirect_uri, scope, challenge, expires_at=0.0, extra=dict(extra))

    def redeem(self, code: str, *, client: str, redirect_uri: str | None, verifier: str | None) -> Grant | Refusal:
        """The grant behind `code` for this client, spending it; or why not. `redirect_uri` None: the platform's
        token request does not carry one (Zalo)."""
        grant = self._codes.get(code)
        if grant is None or grant.client != client:
            return Refusal.UNKNOWN_CODE
        if grant.spent:
            return Refusal.SPENT_CODE
        grant.spent = True
        if self._emulator.now() >= grant.expires_at:
            return Refusal.EXPIRED_CODE
        if redirect_uri is not None and redirect_uri != grant.redirect_uri:
            return Refusal.REDIRECT_MISMATCH
        if grant.challenge is not None:
            if not verifier:
                return Refusal.MISSING_VERIFIER
            if not secrets.compare_digest(s256(verifier), grant.challenge):
                return Refusal.WRONG_VERIFIER
        return grant


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), as a client makes them."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


_FORM = re.compile(r'<form method="post" action="([^"]+)">')


def click_consent(http: httpx.Client, authorize_url: str, decision: str = "allow") -> httpx.URL:
    """What a person's browser does: open the authorize URL, press Allow or Deny on the consent page; the URL the
    platform redirects to (not followed). AssertionError when the platform showed an error page instead."""
    page = http.get(authorize_url)
    assert page.status_code == 200, f"no consent page ({page.status_code}): {page.text}"
    action = _FORM.search(page.text)
    assert action is not None, page.text
    answer = http.post(str(page.url.join(action.group(1))), data={"decision": decision})
    assert answer.status_code == 302, f"{answer.status_code}: {answer.text}"
    return httpx.URL(answer.headers["Location"])
