"""Who may do what: API tokens with roles, hashed at rest, and a per-token rate limit.

Roles are ordered (loa_core.auth.ROLES): a viewer reads status, an editor also uploads, a district admin also
manages tokens and sees every upload. The static hashes in LOA_API_TOKEN_HASHES (what `make run` and the tests use)
are district admins, so the thin deployment keeps working without a token database; loa_core.auth checks those, and
asks this store about the rest.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Engine, Float, MetaData, Table, Text, delete, insert, select, update

from loa_core import db
from loa_core.auth import ROLES, Caller, Role, hash_token, new_token, parse_role, role_allows
from loa_core.contracts import DEFAULT_WARD


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the secret is shown once, to whoever created it, and never stored."""

    token: str
    token_id: str
    role: Role
    label: str
    ward: str


# The newest revision of the table (loa_ingest/migrations/versions); times are seconds since the epoch.
metadata = MetaData()
tokens = Table(
    "tokens",
    metadata,
    Column("token_id", Text, primary_key=True),
    Column("sha256", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False),
    Column("label", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    Column("ward", Text, nullable=False, server_default=DEFAULT_WARD),
    Column("account_id", Text),  # the account it belongs to (revoked with it); None: made before accounts, or by a
    # static token
)
LISTED = ("token_id", "role", "label", "ward", "account_id", "created_by", "created_at", "revoked_at")


class TokenStore:
    """The role tokens; a `loa_core.auth.RoleTokens`, so ingest checks tokens like every other service."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(
        self, role: Role, label: str, created_by: str, ward: str = DEFAULT_WARD, account_id: str | None = None
    ) -> IssuedToken:
        token = new_token()
        token_id = secrets.token_hex(6)
        values = {
            "token_id": token_id,
            "ward": ward,
            "account_id": account_id,
            "sha256": hash_token(token),
            "role": role,
            "label": label,
            "created_by": created_by,
            "created_at": time.time(),
        }
        db.transaction(self._engine, lambda c: c.execute(insert(tokens).values(values)))
        return IssuedToken(token, token_id, role, label, ward)

    def revoke(self, token_id: str, ward: str | None = None) -> bool:
        """Revoke an active token (of `ward` only, unless None: a district admin's reach)."""
        statement = (
            update(tokens)
            .where(tokens.c.token_id == token_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=time.time())
        )
        if ward is not None:
            statement = statement.where(tokens.c.ward == ward)
        return db.transaction(self._engine, lambda c: c.execute(statement).rowcount) == 1

    def list(self, ward: str | None = None) -> list[dict[str, object]]:
        """The tokens, without their secrets: of `ward` only, or of every ward when None."""
        query = select(*(tokens.c[name] for name in LISTED)).order_by(tokens.c.created_at)
        if ward is not None:
            query = query.where(tokens.c.ward == ward)
        rows = db.transaction(self._engine, lambda c: c.execute(query).all())
        return [dict(row._mapping) for row in rows]

    async def caller_of(self, token: str) -> Caller | None:
        # Looked up by its hash: the hash is the index, so no token is ever compared in plain text.
        query = select(tokens.c.token_id, tokens.c.role, tokens.c.label, tokens.c.ward, tokens.c.account_id).where(
            tokens.c.sha256 == hash_token(token), tokens.c.revoked_at.is_(None)
        )
        row = db.transaction(self._engine, lambda c: c.execute(query).first())
        role = parse_role(row.role) if row is not None else None
        if row is None or role is None:
            return None
        return Caller(id=str(row.token_id), role=role, label=str(row.label), ward=str(row.ward), account=row.account_id)


# A token bucket per key in the database replicas share (RateLimiter.for_replicas): seconds since the epoch.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", Text, primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)


def spend(tokens: float, last: float, now: float, rate: float, burst: float) -> tuple[float, float]:
    """One request from a bucket holding `tokens` at `last`: (tokens left at `now`, 0 if allowed, else the seconds
    to wait). A clock behind `last` (another replica's) refills nothing rather than going back."""
    tokens = min(burst, tokens + max(0.0, now - last) * rate)
    if tokens >= 1.0:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / rate


def full_again_before(now: float, rate: float, burst: float) -> float:
    """The last use before which every bucket is full again at `now`, even one left empty: such a bucket answers
    exactly as a missing one (a new key starts full), so it can be swept."""
    return now - burst / rate


# How often each limiter sweeps its full buckets (on the first request after the interval, so no task to run): often
# enough that the table holds about one interval's worth of callers beyond the ones refilling, rarely enough that
# the sweep (one DELETE, or one pass over a dict) costs nothing next to the requests it rides on.
SWEEP_EVERY_S = 600.0


class RateLimiter:
    """A token bucket per API token: `rate` requests per second on average, bursts up to `burst`.

    In this process, or (`engine`) in the database replicas share: one row per key, read and written in one
    transaction under its row lock (SELECT ... FOR UPDATE on PostgreSQL, SQLite's write lock), so requests reaching
    two replicas spend from one bucket and neither spends a token the other already took. Buckets idle long enough
    to be full again are swept every SWEEP_EVERY_S, so a key used once does not stay forever.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] | None = None,
        *,
        engine: Engine | None = None,
        name: str = "",
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        # Buckets in the database are dated by the wall clock, which every replica shares (more or less).
        self._clock = clock or (time.monotonic if engine is None else time.time)
        self._engine = engine
        self._name = name
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = self._clock() + SWEEP_EVERY_S

    @classmethod
    def for_replicas(cls, rate: float, burst: int, engine: Engine, name: str) -> RateLimiter:
        """In the database when it is one replicas share (PostgreSQL), else in this process; `name` keeps this
        limiter's keys apart from other limiters' in the shared table."""
        return cls(rate, burst, engine=engine if engine.dialect.name == "postgresql" else None, name=name)

    def take(self, key: str) -> float:
        """Spend one request; return 0 if allowed, else the seconds to wait before the next one is."""
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY_S
            self.sweep(now)
        if self._engine is not None:
            return self._take_shared(self._engine, f"{self._name}:{key}", now)
        with self._lock:
            tokens, last = self._buckets.get(key, (self._burst, now))
            tokens, wait = spend(tokens, last, now, self._rate, self._burst)
            self._buckets[key] = (tokens, now)
            return wait

    def sweep(self, now: float) -> int:
        """Forget this limiter's buckets that are full again at `now`; how many were forgotten."""
        before = full_again_before(now, self._rate, self._burst)
        if self._engine is None:
            with self._lock:
                full = [key for key, (_, last) in self._buckets.items() if last < before]
                for key in full:
                    del self._buckets[key]
                return len(full)
        # A take of the same key meanwhile either commits first (PostgreSQL re-checks the row it waited for, now
        # recent, and keeps it) or finds its row swept, which `_take_shared` handles.
        statement = delete(rate_buckets).where(
            rate_buckets.c.key.startswith(f"{self._name}:", autoescape=True), rate_buckets.c.updated_at < before
        )
        return int(db.transaction(self._engine, lambda c: c.execute(statement).rowcount))

    def _take_shared(self, engine: Engine, key: str, now: float) -> float:
        def work(connection: Connection) -> float:
            query = select(rate_buckets.c.tokens, rate_buckets.c.updated_at).where(rate_buckets.c.key == key)
            row = None
            while row is None:  # a row swept between the insert and the select was full: the new one is too
                db.insert_ignore(connection, rate_buckets, {"key": key, "tokens": self._burst, "updated_at": now})
                row = connection.execute(query.with_for_update()).first()
            tokens, wait = spend(row.tokens, row.updated_at, now, self._rate, self._burst)
            values = {"tokens": tokens, "updated_at": max(now, row.updated_at)}
            connection.execute(update(rate_buckets).where(rate_buckets.c.key == key).values(values))
            return wait

        return db.transaction(engine, work, immediate=True)


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
