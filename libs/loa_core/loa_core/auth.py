"""API token check shared by every HTTP endpoint except health and metrics.

Two kinds of token: the static ones in LOA_API_TOKEN_HASHES (admins; what `make run` and the tests use), and the
role tokens `loa token create` makes, which live in ingest's token store. Ingest looks role tokens up in that store;
every other service asks ingest's /whoami (`IngestRoles`). Both are a `RoleTokens`, so every HTTP edge checks a
token the same way (`check_token`, `bearer_dependency`, `check_authorization`) and gets the same `Caller`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

import httpx
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

# Ordered, each role may do what the ones before it may: a viewer reads its ward's status and posts; an editor also
# uploads and edits post texts; an approver also approves posts; a ward admin also manages the ward's people, tokens
# and channels; a district admin does all of that in every ward, and manages wards. Everything but a district admin
# is confined to its own ward.
Role = Literal["viewer", "editor", "approver", "ward_admin", "district_admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "approver", "ward_admin", "district_admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
# The role names tokens had before accounts and wards (still read from an old token store or /whoami).
LEGACY_ROLES: dict[str, Role] = {"uploader": "editor", "admin": "district_admin"}


def role_allows(have: Role, need: Role) -> bool:
    return _RANK[have] >= _RANK[need]


def parse_role(value: object) -> Role | None:
    """A role name as stored or sent (today's or a legacy one), or None if it is none of them."""
    if not isinstance(value, str):
        return None
    value = LEGACY_ROLES.get(value, value)
    return value if value in _RANK else None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a plain sha256 is enough to make a leaked hash useless.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_hashes(listed: str) -> frozenset[str]:
    """A setting's comma-separated sha256 hex digests (LOA_API_TOKEN_HASHES, LOA_SERVICE_TOKEN_HASHES)."""
    return frozenset(h.strip().lower() for h in listed.split(",") if h.strip())


def token_is_valid(token: str, allowed_hashes: frozenset[str]) -> bool:
    digest = hash_token(token)
    return any(hmac.compare_digest(digest, allowed) for allowed in allowed_hashes)


# The one bearer scheme: every HTTP edge reads the token through it (and the OpenAPI pages describe it once).
bearer = HTTPBearer(auto_error=False, description="An API token: `loa token create` or LOA_API_TOKEN_HASHES")
STATIC_LABEL = "LOA_API_TOKEN_HASHES"


@dataclass(frozen=True)
class Caller:
    """Who sent a request: an id that is safe to log and to own things by (never the token), a role, and the ward the
    caller belongs to (None: the whole installation, only for a district admin, e.g. the static tokens)."""

    id: str
    role: Role
    label: str = ""
    ward: str | None = None
    account: str | None = None  # the account the token or session belongs to, when it belongs to one

    def allows(self, need: Role) -> bool:
        return role_allows(self.role, need)

    @property
    def is_district(self) -> bool:
        return self.role == "district_admin"

    def sees(self, ward: str) -> bool:
        """Whether this caller may read or act on what belongs to `ward`: its own ward, or any for a district admin.

        The one tenancy check: every route that touches a ward's data asks it (404 when not, so another ward's
        footage is not even confirmed to exist)."""
        return self.is_district or self.ward == ward

    def ward_filter(self) -> str | None:
        """The ward a listing is confined to, or None for a district admin (every ward)."""
        return None if self.is_district else self.ward


class RoleTokens(Protocol):
    """Where role tokens are known: ingest's token store inside ingest, ingest's /whoami everywhere else."""

    async def caller_of(self, token: str) -> Caller | None:
        """The caller holding this role token, or None if the token is unknown (never made, or revoked)."""
        ...


@functools.cache
def _tls() -> ssl.SSLContext:
    """The TLS context of every check, built once: building one loads the CA bundle (~85 ms on the test machine),
    which a client made per check paid on every request (a ward's status page polled through metrics, ~175 ms)."""
    return httpx.create_ssl_context()  # what httpx builds for each client by default (its CA bundle, SSL_CERT_FILE)


class IngestRoles:
    """Checks a role token with ingest, which keeps the token store: GET /whoami with the caller's token.

    Not cached, so a revoked token stops working here at the same moment as in ingest; it costs one small local
    request per call on endpoints people call by hand, and ingest's per-token rate limit applies here too.
    """

    def __init__(self, ingest_url: str, timeout_s: float = 5.0) -> None:
        self._whoami = f"{ingest_url.rstrip('/')}/whoami"
        self._timeout_s = timeout_s

    async def caller_of(self, token: str) -> Caller | None:
        """The caller as ingest knows it (the id `loa token list` shows), or None if ingest does not know it."""
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s, verify=_tls()) as client:
                answer = await client.get(self._whoami, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise _cannot_check() from exc
        if answer.status_code == status.HTTP_401_UNAUTHORIZED:
            return None
        if answer.status_code == status.HTTP_429_TOO_MANY_REQUESTS:
            raise HTTPException(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                detail="Too many requests with this token; wait a moment. / Quá nhiều yêu cầu, vui lòng chờ.",
                headers={"Retry-After": answer.headers.get("retry-after", "1")},
            )
        try:
            body = answer.json()
            role, token_id, label = parse_role(body.get("role")), body.get("token_id"), body.get("label", "")
            ward, account = body.get("ward"), body.get("account")
        except (ValueError, AttributeError) as exc:  # not JSON, or not an object: LOA_INGEST_URL is not ingest
            raise _cannot_check() from exc
        if answer.status_code != status.HTTP_200_OK or role is None or not isinstance(token_id, str):
            raise _cannot_check()
        if role != "district_admin" and not isinstance(ward, str):
            raise _cannot_check()  # a caller confined to a ward must name it; never widen it to every ward
        return Caller(
            id=token_id,
            role=role,
            label=str(label),
            ward=ward if isinstance(ward, str) else None,
            account=account if isinstance(account, str) else None,
        )


def _cannot_check() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        detail="Cannot check this token with ingest right now; try again. / Chưa kiểm tra được mã, thử lại sau.",
    )


def _unauthorized() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="A valid API token is required (Authorization: Bearer <token>). / Cần mã truy cập hợp lệ.",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def check_token(
    token: str | None, allowed_hashes: frozenset[str], roles: RoleTokens | None, need: Role = "viewer"
) -> Caller:
    """Let in a static token (an admin, known by a short hash of the token) or, when `roles` is given, a role token of
    at least `need`. Raises HTTPException: 401 unknown or missing, 403 a lower role (429 and 503 from `roles`)."""
    if not token:
        raise _unauthorized()
    if token_is_valid(token, allowed_hashes):
        return Caller(id=hash_token(token)[:12], role="district_admin", label=STATIC_LABEL)
    caller = await roles.caller_of(token) if roles is not None else None
    if caller is None:
        raise _unauthorized()
    if not caller.allows(need):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"This needs the {need} role or higher; this token has the {caller.role} role."
            " / Mã này không đủ quyền.",
        )
    return caller


async def check_authorization(
    authorization: str | None, allowed_hashes: frozenset[str], roles: RoleTokens | None, need: Role = "viewer"
) -> Caller:
    """`check_token` on a raw Authorization header, read as `bearer` reads it: for an HTTP edge that is not FastAPI
    (the publisher's Faust web view)."""
    scheme, token = get_authorization_scheme_param(authorization)
    return await check_token(token if scheme.lower() == "bearer" else None, allowed_hashes, roles, need)


def bearer_dependency(
    allowed_hashes: Callable[[], frozenset[str]], roles: RoleTokens | None = None, need: Role = "viewer"
) -> Callable[..., Awaitable[Caller]]:
    """`check_token` as a FastAPI dependency on the request's bearer token."""

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Caller:
        return await check_token(credentials.credentials if credentials else None, allowed_hashes(), roles, need)

    return require_token
