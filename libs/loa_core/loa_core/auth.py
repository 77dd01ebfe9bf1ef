"""API token check shared by every HTTP endpoint except health and metrics.

Two kinds of token: the static ones in LOA_API_TOKEN_HASHES (admins; what `make run` and the tests use), and the
role tokens `loa token create` makes, which live in ingest's token store. A service other than ingest accepts a
role token by asking ingest's /whoami (`IngestRoles`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import httpx
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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


_bearer = HTTPBearer(auto_error=False)


class IngestRoles:
    """Checks a role token with ingest, which keeps the token store: GET /whoami with the caller's token.

    Not cached, so a revoked token stops working here at the same moment as in ingest; it costs one small local
    request per call on endpoints people call by hand, and ingest's per-token rate limit applies here too.
    """

    def __init__(self, ingest_url: str, timeout_s: float = 5.0) -> None:
        self._whoami = f"{ingest_url.rstrip('/')}/whoami"
        self._timeout_s = timeout_s

    async def role_of(self, token: str) -> Role | None:
        """The token's role, or None if ingest does not know it (never made, or revoked)."""
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
            role = answer.json().get("role") if answer.status_code == status.HTTP_200_OK else None
        except (ValueError, AttributeError) as exc:  # not JSON, or not an object: LOA_INGEST_URL is not ingest
            raise _cannot_check() from exc
        if role not in ROLES:
            raise _cannot_check()
        return role


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
    token: str | None, allowed_hashes: frozenset[str], roles: IngestRoles | None, need: Role = "viewer"
) -> str:
    """Let in a static token or, when `roles` is given, a role token of at least `need`; return a short, loggable id
    of the token. Raises HTTPException: 401 unknown or missing, 403 a lower role (429 and 503 from `roles`)."""
    if not token:
        raise _unauthorized()
    if not token_is_valid(token, allowed_hashes):
        role = await roles.role_of(token) if roles is not None else None
        if role is None:
            raise _unauthorized()
        if not role_allows(role, need):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"This needs the {need} role or higher; this token has the {role} role."
                " / Mã này không đủ quyền.",
            )
    return hash_token(token)[:12]


def bearer_dependency(
    allowed_hashes: Callable[[], frozenset[str]], roles: IngestRoles | None = None, need: Role = "viewer"
) -> Callable[..., Awaitable[str]]:
    """`check_token` as a FastAPI dependency on the request's bearer token."""

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        return await check_token(credentials.credentials if credentials else None, allowed_hashes(), roles, need)

    return require_token
