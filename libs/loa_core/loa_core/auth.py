"""API token check shared by every HTTP endpoint except health and metrics."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are 256-bit random strings, so a plain sha256 is enough to make a leaked hash useless.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_is_valid(token: str, allowed_hashes: frozenset[str]) -> bool:
    digest = hash_token(token)
    return any(hmac.compare_digest(digest, allowed) for allowed in allowed_hashes)


_bearer = HTTPBearer(auto_error=False)


def bearer_dependency(allowed_hashes: Callable[[], frozenset[str]]) -> Callable[..., str]:
    """A FastAPI dependency that answers 401 unless the request carries a known bearer token."""

    def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if credentials is None or not token_is_valid(credentials.credentials, allowed_hashes()):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="A valid API token is required (Authorization: Bearer <token>). / Cần mã truy cập hợp lệ.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return hash_token(credentials.credentials)[:12]

    return require_token
