"""Who may do what: API tokens with roles, hashed at rest, and a per-token rate limit.

Roles are ordered: a viewer reads status, an uploader also uploads, an admin also manages tokens and sees every
upload. The static hashes in LOA_API_TOKEN_HASHES (what `make run` and the tests use) are admins, so the thin
deployment keeps working without a token database; loa_core.auth checks those, and asks this store about the rest.
"""

from __future__ import annotations

import math
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loa_core.auth import ROLES, Caller, Role, hash_token, new_token, role_allows


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the secret is shown once, to whoever created it, and never stored."""

    token: str
    token_id: str
    role: Role
    label: str


class TokenStore:
    """The role tokens; a `loa_core.auth.RoleTokens`, so ingest checks tokens like every other service."""

    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tokens (token_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE,"
            " role TEXT NOT NULL, label TEXT NOT NULL, created_by TEXT NOT NULL, created_at REAL NOT NULL,"
            " revoked_at REAL)"
        )

    def create(self, role: Role, label: str, created_by: str) -> IssuedToken:
        token = new_token()
        token_id = secrets.token_hex(6)
        with self._lock:
            self._db.execute(
                "INSERT INTO tokens (token_id, sha256, role, label, created_by, created_at) VALUES (?,?,?,?,?,?)",
                (token_id, hash_token(token), role, label, created_by, time.time()),
            )
        return IssuedToken(token, token_id, role, label)

    def revoke(self, token_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE tokens SET revoked_at=? WHERE token_id=? AND revoked_at IS NULL", (time.time(), token_id)
            )
        return cursor.rowcount == 1

    def list(self) -> list[dict[str, object]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT token_id, role, label, created_by, created_at, revoked_at FROM tokens ORDER BY created_at"
            ).fetchall()
        keys = ("token_id", "role", "label", "created_by", "created_at", "revoked_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    async def caller_of(self, token: str) -> Caller | None:
        # Looked up by its hash: the hash is the index, so no token is ever compared in plain text.
        with self._lock:
            row = self._db.execute(
                "SELECT token_id, role, label FROM tokens WHERE sha256=? AND revoked_at IS NULL", (hash_token(token),)
            ).fetchone()
        if row is None:
            return None
        return Caller(id=str(row[0]), role=row[1], label=str(row[2]))


class RateLimiter:
    """A token bucket per API token: `rate` requests per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one request; return 0 if allowed, else the seconds to wait before the next one is."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate


def retry_after_header(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))


__all__ = [
    "ROLES",
    "IssuedToken",
    "RateLimiter",
    "Role",
    "TokenStore",
    "new_token",
    "retry_after_header",
    "role_allows",
]
