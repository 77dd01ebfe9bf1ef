"""API token check shared by every HTTP endpoint except health and metrics.

Two kinds of token: the static ones in LOA_API_TOKEN_HASHES (admins; what `make run` and the tests use), and the
role tokens `loa token create` makes, which live in ingest's token store. Ingest looks role tokens up in that store;
every other service asks ingest's /whoami (`IngestRoles`). Both are a `RoleTokens`, so every HTTP edge checks a
token the same way (`check_token`, `bearer_dependency`, `check_authorization`) and gets the same `Caller`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

import httpx
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

# Ordered: a viewer reads status, an uploader also uploads, an admin also manages tokens and sees every upload.
Role = Literal["viewer", "uploader", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "uploader", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


def role_allows(have: Role, need: Role) -> bool:
    return _RANK[have] >= _RANK[need]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a plain sha256 is enough to make a leaked hash useless.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_is_valid(token: str, allowed_hashes: frozenset[str]) -> bool:
    digest = hash_token(token)
    return any(hmac.compare_digest(digest, allowed) for allowed in allowed_hashes)


# The one bearer scheme: every HTTP edge reads the token through it (and the OpenAPI pages describe it once).
bearer = HTTPBearer(auto_error=False, description="An API token: `loa token create` or LOA_API_TOKEN_HASHES")
STATIC_LABEL = "LOA_API_TOKEN_HASHES"


@dataclass(frozen=True)
class Caller:
    """Who sent a request: an id that is safe to log and to own things by (never the token), and a role."""

    id: str
    role: Role
    label: str = ""

    def allows(self, need: Role) -> bool:
        return role_allows(self.role, need)


class RoleTokens(Protocol):
    """Where role tokens are known: ingest's token store inside ingest, ingest's /whoami everywhere else."""

    async def caller_of(self, token: str) -> Caller | None:
        """The caller holding this role token, or None if the token is unknown (never made, or revoked)."""
        ...


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
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
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
            role, token_id, label = body.get("role"), body.get("token_id"), body.get("label", "")
        except (ValueError, AttributeError) as exc:  # not JSON, or not an object: LOA_INGEST_URL is not ingest
            raise _cannot_check() from exc
        if answer.status_code != status.HTTP_200_OK or role not in ROLES or not isinstance(token_id, str):
            raise _cannot_check()
        return Caller(id=token_id, role=role, label=str(label))


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
        return Caller(id=hash_token(token)[:12], role="admin", label=STATIC_LABEL)
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
