"""A channel's OAuth sign-in in ingest's database: pending sign-ins (states) and each connection's tokens.

A state is a random 256-bit value that travels through the platform and back; only its sha256 is kept, with the
channel and ward it was made for, who made it, the hash of the browser cookie that binds it to the browser that
started it, and the PKCE verifier (encrypted). It is good for one callback, before it expires. The tokens a
platform gives are kept per connection (a new connection id on every sign-in), encrypted with the operator's key
(loa_core.secrets) as one JSON object; a new connection deletes the tokens of the ones it replaced.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    Float,
    MetaData,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
    update,
)

from loa_core import db
from loa_core.auth import hash_token
from loa_core.secrets import SecretBox, SecretUndecryptable
from loa_ingest.provenance_keys import ENCRYPTED_COLUMNS as PROVENANCE_KEYS

metadata = MetaData()
oauth_states = Table(
    "oauth_states",
    metadata,
    Column("state_sha256", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("ward", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("browser_sha256", Text, nullable=False),
    Column("verifier", Text, nullable=False),  # encrypted
    Column("redirect_uri", Text, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
)
channel_credentials = Table(
    "channel_credentials",
    metadata,
    Column("channel", Text, primary_key=True),
    Column("connection_id", Text, primary_key=True),
    Column("tokens", Text, nullable=False),  # encrypted JSON object
    Column("created_at", Float, nullable=False),
    Column("rotated_at", Float),
)


@dataclass(frozen=True)
class PendingSignIn:
    """A state just made: the state and verifier go to the platform (the verifier only as its challenge), the
    browser value into a cookie."""

    state: str
    verifier: str
    browser: str


@dataclass(frozen=True)
class SignIn:
    """What a valid state stood for."""

    channel: str
    ward: str
    created_by: str
    verifier: str
    redirect_uri: str


class StateRefused(Enum):
    """Why a callback's state is refused (each with its bilingual message in oauth_api)."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    OTHER_BROWSER = "other_browser"


class SignIns:
    """The pending sign-ins."""

    def __init__(self, engine: Engine, box: SecretBox, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._box = box
        self._ttl_s = ttl_s
        self._clock = clock

    def start(self, channel: str, ward: str, created_by: str, redirect_uri: str) -> PendingSignIn:
        pending = PendingSignIn(secrets.token_urlsafe(32), secrets.token_urlsafe(48), secrets.token_urlsafe(32))
        values = {
            "state_sha256": hash_token(pending.state),
            "channel": channel,
            "ward": ward,
            "created_by": created_by,
            "browser_sha256": hash_token(pending.browser),
            "verifier": self._box.encrypt(pending.verifier),
            "redirect_uri": redirect_uri,
            "expires_at": self._clock() + self._ttl_s,
        }
        db.transaction(self._engine, lambda c: c.execute(insert(oauth_states).values(values)))
        return pending

    def finish(self, state: str, browser: str | None) -> SignIn | StateRefused:
        """Spend the state (once, whatever follows) and say what it stood for; or why it is refused."""
        key = oauth_states.c.state_sha256 == hash_token(state)
        now = self._clock()

        def work(c: Connection) -> SignIn | StateRefused:
            row = c.execute(select(oauth_states).where(key)).first()
            if row is None:
                return StateRefused.UNKNOWN
            if row.used_at is not None:
                return StateRefused.USED
            # The claim: one UPDATE that only one callback can win, even on two replicas.
            claim = update(oauth_states).where(key, oauth_states.c.used_at.is_(None)).values(used_at=now)
            if c.execute(claim).rowcount != 1:
                return StateRefused.USED
            if now >= row.expires_at:
                return StateRefused.EXPIRED
            if browser is None or not secrets.compare_digest(hash_token(browser), row.browser_sha256):
                return StateRefused.OTHER_BROWSER
            return SignIn(row.channel, row.ward, row.created_by, self._box.decrypt(row.verifier), row.redirect_uri)

        return db.transaction(self._engine, work)

    def sweep(self) -> int:
        """Forget the states that expired (used or not) a day ago."""
        old = oauth_states.c.expires_at < self._clock() - 86400
        return int(db.transaction(self._engine, lambda c: c.execute(delete(oauth_states).where(old)).rowcount))


class Credentials:
    """Each connection's tokens, encrypted."""

    def __init__(self, engine: Engine, box: SecretBox, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._box = box
        self._clock = clock

    def store(self, channel: str, tokens: dict[str, str]) -> str:
        """The tokens of a new connection of `channel`; its connection id. The channel's older connections' tokens
        are deleted: only the newest sign-in counts."""
        connection_id = secrets.token_hex(16)
        values = {
            "channel": channel,
            "connection_id": connection_id,
            "tokens": self._box.encrypt(json.dumps(tokens, sort_keys=True)),
            "created_at": self._clock(),
        }

        def work(c: Connection) -> None:
            c.execute(delete(channel_credentials).where(channel_credentials.c.channel == channel))
            c.execute(insert(channel_credentials).values(values))

        db.transaction(self._engine, work)
        return connection_id

    def tokens(self, channel: str, connection_id: str) -> dict[str, str] | None:
        query = select(channel_credentials.c.tokens).where(_key(channel, connection_id))
        stored = db.transaction(self._engine, lambda c: c.execute(query).scalar())
        if stored is None:
            return None
        tokens = json.loads(self._box.decrypt(stored))
        return {str(k): str(v) for k, v in tokens.items()}

    def rotate(self, channel: str, connection_id: str, name: str, value: str) -> bool:
        """A token the platform replaced (a rotated refresh token); False if that connection is not kept."""

        def work(c: Connection) -> bool:
            stored = c.execute(select(channel_credentials.c.tokens).where(_key(channel, connection_id))).scalar()
            if stored is None:
                return False
            tokens = {**json.loads(self._box.decrypt(stored)), name: value}
            encrypted = self._box.encrypt(json.dumps(tokens, sort_keys=True))
            c.execute(
                update(channel_credentials)
                .where(_key(channel, connection_id))
                .values(tokens=encrypted, rotated_at=self._clock())
            )
            return True

        return db.transaction(self._engine, work)


# Each encrypted column ingest keeps: its table, the column, and the columns that identify a row.
EncryptedColumn = tuple[Table, str, tuple[str, ...]]
ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    (channel_credentials, "tokens", ("channel", "connection_id")),
    (oauth_states, "verifier", ("state_sha256",)),
    *PROVENANCE_KEYS,  # the wards' and the root's signing keys (loa_ingest/provenance_keys.py)
)


def reencrypt(engine: Engine, box: SecretBox, columns: tuple[EncryptedColumn, ...] = ENCRYPTED_COLUMNS) -> int:
    """Encrypt with the first key every value of `columns` that is not (after the operator put a new key first); one
    no key opens is left as it is, an empty one too. How many were re-encrypted."""

    def work(c: Connection) -> int:
        done = 0
        for table, column, key in columns:
            for row in c.execute(select(table)).all():
                value = getattr(row, column)
                if value is None or not box.needs_reencryption(value):
                    continue
                try:
                    again = box.reencrypt(value)
                except SecretUndecryptable:
                    continue
                where = and_(*(table.c[k] == getattr(row, k) for k in key), table.c[column] == value)
                c.execute(update(table).where(where).values({column: again}))
                done += 1
        return done

    return int(db.transaction(engine, work))


def _key(channel: str, connection_id: str) -> ColumnElement[bool]:
    return and_(channel_credentials.c.channel == channel, channel_credentials.c.connection_id == connection_id)
