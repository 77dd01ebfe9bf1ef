"""Signing in on the page, and who a request is: a bearer token (scripts, the CLI) or the session cookie (people).

Pages: GET/POST /signin (username and password), GET/POST /signin/totp (the code, or enrolment on first sign-in:
the secret and its otpauth:// URI, confirmed with a code), POST /signout. The session cookie is Secure, HttpOnly,
SameSite=Lax and lasts `session_ttl_s`; its id is stored hashed. Every unsafe request the cookie authenticates must
carry the session's CSRF token (header X-CSRF-Token, or form field csrf_token), else 403; bearer requests need none
(a browser never sends a bearer token on its own).
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations.

import asyncio
import hmac
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

import pyotp
from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from loa_core.auth import Caller, RoleTokens, bearer, check_token
from loa_ingest.access import RateLimiter, Role, retry_after_header
from loa_ingest.accounts import (
    TOTP_ISSUER,
    Account,
    Attempt,
    People,
    Session,
    SignIn,
    TotpUnavailable,
    totp_required,
)
from loa_ingest.pages import Strings, render
from loa_ingest.settings import IngestSettings

log = logging.getLogger(__name__)
SESSION_COOKIE = "loa_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
HOME = "/ui/"

WRONG_PASSWORD = "Wrong username or password. / Sai tên đăng nhập hoặc mật khẩu."  # noqa: S105 (a message)
WRONG_CODE = "Wrong code, or a code already used. / Mã không đúng hoặc đã được dùng."
STEP_EXPIRED = "The sign-in has expired; sign in again. / Lượt đăng nhập đã hết hạn; hãy đăng nhập lại."
SESSION_ENDED = "Your session has ended; sign in again. / Phiên làm việc đã kết thúc; hãy đăng nhập lại."
CSRF_REFUSED = (
    "This request lacks the page's security token (CSRF); reload the page and try again. "
    "/ Yêu cầu thiếu mã bảo vệ của trang (CSRF); hãy tải lại trang rồi thử lại."
)


def locked_message(locked_until: float | None, now: float) -> str:
    minutes = max(1, math.ceil(((locked_until or now) - now) / 60))
    return (
        f"This account is locked after too many failed sign-ins; try again in {minutes} minutes. "
        f"/ Tài khoản đang bị khóa vì đăng nhập sai quá nhiều lần; hãy thử lại sau {minutes} phút."
    )


def too_many_message(wait_s: float) -> str:
    seconds = retry_after_header(wait_s)
    return f"Too many sign-in attempts; wait {seconds} seconds. / Quá nhiều lần đăng nhập; hãy chờ {seconds} giây."


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (never //host or a full URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return HOME
    return value


STRINGS: Strings = {
    "signin_title": ("Đăng nhập", "Sign in"),
    "username": ("Tên đăng nhập", "Username"),
    "password": ("Mật khẩu", "Password"),
    "signin_button": ("Đăng nhập", "Sign in"),
    "totp_title": ("Xác minh hai bước", "Two-step verification"),
    "code": ("Mã 6 chữ số trong ứng dụng xác thực", "The 6-digit code from your authenticator app"),
    "verify": ("Xác nhận", "Verify"),
    "enrol_intro": (
        "Tài khoản này cần xác minh hai bước. Thêm khóa dưới đây vào ứng dụng xác thực (Google Authenticator, "
        "Microsoft Authenticator, FreeOTP…) rồi nhập mã nó hiển thị.",
        "This account needs two-step verification. Add the key below to an authenticator app (Google "
        "Authenticator, Microsoft Authenticator, FreeOTP…), then enter the code it shows.",
    ),
    "enrol_optional_intro": (
        "Bật xác minh hai bước cho tài khoản này: thêm khóa dưới đây vào ứng dụng xác thực rồi nhập mã nó hiển thị. "
        "Từ lần đăng nhập sau, cần cả mật khẩu và mã.",
        "Turn on two-step verification for this account: add the key below to an authenticator app, then enter the "
        "code it shows. From the next sign-in on, both the password and a code are needed.",
    ),
    "enrolled": (
        "Xác minh hai bước đang bật cho tài khoản này.",
        "Two-step verification is on for this account.",
    ),
    "secret": ("Khóa", "Key"),
    "open_in_app": ("Mở trong ứng dụng xác thực", "Open in the authenticator app"),
    "token_hint": (
        "Dùng mã truy cập (token) cho dòng lệnh và tập lệnh: trang tải video vẫn nhận mã đó.",
        "Scripts and the CLI use an API token; the upload page still accepts one.",
    ),
}


class TokensAndSessions:
    """The bearer credentials ingest knows beyond the static ones: role tokens, and a signed-in session's id. The
    status relay forwards a person's session id to metrics, which asks ingest's /whoami about it as about a token, so
    metrics filters by the person's ward as it does by a token's. (A bearer header is never sent by a browser on its
    own, so it needs no CSRF token; the session id itself stays in an HttpOnly cookie.)"""

    def __init__(self, tokens: RoleTokens, people: People) -> None:
        self._tokens = tokens
        self._people = people

    async def caller_of(self, token: str) -> Caller | None:
        caller = await self._tokens.caller_of(token)
        if caller is not None:
            return caller
        session = self._people.session(token)
        return session.account.caller() if session is not None and session.stage == "full" else None


async def relayed_credential(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    """What proves the caller to another service (metrics): its bearer token, else its session's id."""
    if credentials is not None:
        return credentials.credentials
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:  # the role dependency refuses such a request first
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, SESSION_ENDED)
    return session_id


class Gate:
    """Who a request is (`requires`), and the pages that sign people in and out (`router`)."""

    def __init__(
        self,
        people: People,
        settings: IngestSettings,
        token_hashes: Callable[[], frozenset[str]],
        tokens: RoleTokens,
    ) -> None:
        self.people = people
        self.settings = settings
        self._token_hashes = token_hashes
        self._tokens = TokensAndSessions(tokens, people)
        by_username = settings.signin_per_username_per_min / 60, settings.signin_per_username_burst
        by_address = settings.signin_per_address_per_min / 60, settings.signin_per_address_burst
        self._by_username = RateLimiter.for_replicas(*by_username, people.engine, "signin-username")
        self._by_address = RateLimiter.for_replicas(*by_address, people.engine, "signin-address")

    # -- who a request is --------------------------------------------------------------------------------------

    def requires(self, need: Role) -> Callable[..., Awaitable[Caller]]:
        """A bearer token (loa_core.auth's check) or else the session cookie (with its CSRF token on unsafe
        methods), of at least `need`."""

        async def authenticate(
            request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
        ) -> Caller:
            session_id = request.cookies.get(SESSION_COOKIE)
            if credentials is not None or not session_id:
                token = credentials.credentials if credentials else None
                return await check_token(token, self._token_hashes(), self._tokens, need)
            session = self.people.session(session_id)
            if session is None or session.stage != "full":
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, SESSION_ENDED)
            if request.method not in SAFE_METHODS:
                await require_csrf(request, session)
            caller = session.account.caller()
            if not caller.allows(need):
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    f"This needs the {need} role or higher; your account has the {caller.role} role. "
                    "/ Tài khoản của bạn không đủ quyền.",
                )
            return caller

        return authenticate

    def session_of(self, request: Request) -> Session | None:
        """The request's signed-in session (not one halfway through the TOTP step), if any."""
        session_id = request.cookies.get(SESSION_COOKIE)
        session = self.people.session(session_id) if session_id else None
        return session if session is not None and session.stage == "full" else None

    # -- the pages ---------------------------------------------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)

        @router.get("/signin")
        async def signin_page(request: Request, next: str | None = None) -> Response:
            if self.session_of(request) is not None:
                return RedirectResponse(safe_next(next), status.HTTP_303_SEE_OTHER)
            return self._signin_page(request, safe_next(next))

        @router.post("/signin")
        async def signin(
            request: Request,
            username: Annotated[str, Form(max_length=64)],
            password: Annotated[str, Form(max_length=1024)],
            next: Annotated[str, Form(max_length=2000)] = HOME,
        ) -> Response:
            target = safe_next(next)
            username = username.strip().lower()
            wait = self._throttle(request, username)
            if wait > 0:
                response = self._signin_page(request, target, too_many_message(wait), status.HTTP_429_TOO_MANY_REQUESTS)
                response.headers["Retry-After"] = retry_after_header(wait)
                return response
            # argon2 is made to be slow (tens to hundreds of ms): off the event loop, so uploads keep flowing.
            attempt = await asyncio.to_thread(self.people.check_password, username, password)
            if attempt.outcome is not SignIn.OK or attempt.account is None:
                return self._signin_page(request, target, *self._refusal(attempt, WRONG_PASSWORD))
            account = attempt.account
            if totp_required(account.role) or account.totp_enrolled:
                session_id = self.people.open_session(account.id, "password", self.settings.signin_step_s)
                step = RedirectResponse(f"/signin/totp?next={quote(target)}", status.HTTP_303_SEE_OTHER)
                self._set_cookie(step, session_id, self.settings.signin_step_s)
                return step
            return self._signed_in(account, target)

        @router.get("/signin/totp")
        async def totp_page(request: Request, next: str | None = None) -> Response:
            session = self._halfway(request)
            if session is None:
                return self._signin_page(request, safe_next(next), STEP_EXPIRED, status.HTTP_401_UNAUTHORIZED)
            try:
                return self._totp_page(request, session, safe_next(next))
            except TotpUnavailable as missing:
                return self._signin_page(request, safe_next(next), str(missing), status.HTTP_503_SERVICE_UNAVAILABLE)

        @router.post("/signin/totp")
        async def totp(
            request: Request,
            code: Annotated[str, Form(max_length=20)],
            csrf_token: Annotated[str, Form(max_length=200)] = "",
            next: Annotated[str, Form(max_length=2000)] = HOME,
        ) -> Response:
            target = safe_next(next)
            session = self._halfway(request)
            if session is None:
                return self._signin_page(request, target, STEP_EXPIRED, status.HTTP_401_UNAUTHORIZED)
            if not hmac.compare_digest(csrf_token, session.csrf_token):
                return self._totp_page(request, session, target, CSRF_REFUSED, status.HTTP_403_FORBIDDEN)
            wait = self._throttle(request, session.account.username)
            if wait > 0:
                message = too_many_message(wait)
                response = self._totp_page(request, session, target, message, status.HTTP_429_TOO_MANY_REQUESTS)
                response.headers["Retry-After"] = retry_after_header(wait)
                return response
            try:
                attempt = self.people.check_totp(session.account.id, code)
            except TotpUnavailable as missing:
                return self._signin_page(request, target, str(missing), status.HTTP_503_SERVICE_UNAVAILABLE)
            if attempt.outcome is not SignIn.OK or attempt.account is None:
                return self._totp_page(request, session, target, *self._refusal(attempt, WRONG_CODE))
            self.people.close_session(request.cookies[SESSION_COOKIE])
            return self._signed_in(attempt.account, target)

        @router.get("/account/totp")
        async def own_totp_page(request: Request) -> Response:
            session = self.session_of(request)
            if session is None:
                return RedirectResponse("/signin?next=/account/totp", status.HTTP_303_SEE_OTHER)
            try:
                return self._totp_page(request, session, HOME, action="/account/totp")
            except TotpUnavailable as missing:
                return self._signin_page(request, HOME, str(missing), status.HTTP_503_SERVICE_UNAVAILABLE)

        @router.post("/account/totp")
        async def own_totp(request: Request, code: Annotated[str, Form(max_length=20)]) -> Response:
            """A signed-in person turns on the optional second factor (viewers and editors; it is required above)."""
            session = self.session_of(request)
            if session is None:
                return self._signin_page(request, HOME, SESSION_ENDED, status.HTTP_401_UNAUTHORIZED)
            await require_csrf(request, session)
            wait = self._throttle(request, session.account.username)
            if wait > 0:
                return self._signin_page(request, HOME, too_many_message(wait), status.HTTP_429_TOO_MANY_REQUESTS)
            try:
                attempt = self.people.check_totp(session.account.id, code)
            except TotpUnavailable as missing:
                return self._signin_page(request, HOME, str(missing), status.HTTP_503_SERVICE_UNAVAILABLE)
            if attempt.outcome is not SignIn.OK:
                message, code_ = self._refusal(attempt, WRONG_CODE)
                return self._totp_page(request, session, HOME, message, code_, action="/account/totp")
            return RedirectResponse("/account/totp", status.HTTP_303_SEE_OTHER)

        @router.post("/signout")
        async def signout(request: Request) -> Response:
            session_id = request.cookies.get(SESSION_COOKIE)
            session = self.people.session(session_id) if session_id else None
            if session is None:
                return RedirectResponse("/signin", status.HTTP_303_SEE_OTHER)
            await require_csrf(request, session)
            assert session_id is not None
            self.people.close_session(session_id)
            response = RedirectResponse("/signin", status.HTTP_303_SEE_OTHER)
            response.delete_cookie(SESSION_COOKIE, path="/", secure=self.settings.session_cookie_secure, httponly=True)
            return response

        return router

    def _throttle(self, request: Request, username: str) -> float:
        """Spend one attempt of the username's and of the client address's allowance: the wait, 0 if allowed."""
        address = request.client.host if request.client else "unknown"
        return max(self._by_address.take(f"address:{address}"), self._by_username.take(f"username:{username}"))

    def _refusal(self, attempt: Attempt, wrong: str) -> tuple[str, int]:
        if attempt.outcome is SignIn.LOCKED:
            return locked_message(attempt.locked_until, self.people.clock()), status.HTTP_423_LOCKED
        return wrong, status.HTTP_401_UNAUTHORIZED

    def _halfway(self, request: Request) -> Session | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        session = self.people.session(session_id) if session_id else None
        return session if session is not None and session.stage == "password" else None

    def _signed_in(self, account: Account, target: str) -> Response:
        # A new session id once signed in: whatever id the browser had before (even a half-way one) is not it.
        session_id = self.people.open_session(account.id, "full", self.settings.session_ttl_s)
        log.info("account %s signed in", account.id)
        response = RedirectResponse(target, status.HTTP_303_SEE_OTHER)
        self._set_cookie(response, session_id, self.settings.session_ttl_s)
        return response

    def _set_cookie(self, response: Response, session_id: str, ttl_s: float) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(ttl_s),
            path="/",
            secure=self.settings.session_cookie_secure,
            httponly=True,
            samesite="lax",
        )

    def _signin_page(
        self, request: Request, target: str, error: str | None = None, status_code: int = status.HTTP_200_OK
    ) -> HTMLResponse:
        return render(request, "signin.html", STRINGS, {"next": target, "error": error}, status_code=status_code)

    def _totp_page(
        self,
        request: Request,
        session: Session,
        target: str,
        error: str | None = None,
        status_code: int = status.HTTP_200_OK,
        *,
        action: str = "/signin/totp",
    ) -> HTMLResponse:
        """The code form of the sign-in's second step (`action` /signin/totp), or of a signed-in person turning it on
        (/account/totp); with the secret to enrol while the account has none confirmed."""
        account = session.account
        optional = action != "/signin/totp"
        context: dict[str, object] = {
            "next": target,
            "error": error,
            "action": action,
            "enrol": not account.totp_enrolled,
            "enrolled_already": optional and account.totp_enrolled,
            "intro": "enrol_optional_intro" if optional else "enrol_intro",
        }
        if not account.totp_enrolled:
            secret = self.people.totp_secret(account.id)
            context["secret"] = secret
            context["uri"] = pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name=TOTP_ISSUER)
        person = account.display_name if optional else None  # signed in already: the layout names the person
        page = render(
            request,
            "totp.html",
            STRINGS,
            context,
            status_code=status_code,
            person=person,
            csrf_token=session.csrf_token,
        )
        page.headers["Cache-Control"] = "no-store"  # it may show the TOTP secret
        return page


async def require_csrf(request: Request, session: Session) -> None:
    """403 unless the request carries the session's CSRF token (header, or form field of a form post)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(FORMS):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if sent is None or not hmac.compare_digest(sent, session.csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, CSRF_REFUSED)
