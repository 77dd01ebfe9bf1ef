"""People, not just tokens: wards, accounts and their browser sessions, in ingest's database.

An account has a username, a display name, a ward and a role (loa_core.auth.ROLES). It signs in on the page with a
password (argon2id, argon2-cffi) and, for approvers and admins, a TOTP code (pyotp; the secret encrypted at rest with
the operator's key, loa_core.secrets). Five failures in a row (password or code) lock it for 15 minutes (both in
IngestSettings). A session is a random id in an HttpOnly cookie, stored as its sha256, with a CSRF token of its own.
API tokens (access.py) may belong to an account; disabling the account revokes them and ends its sessions.

The decisions are plain functions (`after_failure`, `may_manage`, `totp_required`); `People` is the store.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)

from loa_core import db
from loa_core.auth import Caller, Role, hash_token, role_allows
from loa_core.contracts import DEFAULT_WARD, FIRST_ADMIN, FIRST_ADMIN_PASSWORD_FILE
from loa_core.secrets import SecretBox
from loa_ingest.access import tokens

log = logging.getLogger(__name__)

# The newest revision of the tables (loa_ingest/migrations/versions/0003_accounts.py); times are seconds since epoch.
metadata = MetaData()
wards = Table(
    "wards",
    metadata,
    Column("id", Text, primary_key=True),
    Column("display_name", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
accounts = Table(
    "accounts",
    metadata,
    Column("id", Text, primary_key=True),
    Column("username", Text, nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("ward", Text, ForeignKey("wards.id"), nullable=False),
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("totp_secret", Text),  # encrypted (SecretBox)
    Column("totp_confirmed_at", Float),
    Column("totp_last_step", BigInteger),
    Column("failed_count", Integer, nullable=False, server_default="0"),
    Column("locked_until", Float),
    Column("disabled_at", Float),
    Column("created_by", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
# The people's encrypted secrets, re-encrypted with the first key at start after a key rotation
# (loa_ingest.credentials.reencrypt).
ENCRYPTED_COLUMNS = ((accounts, "totp_secret", ("id",)),)
sessions = Table(
    "sessions",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("account_id", Text, ForeignKey("accounts.id"), nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("stage", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

DEFAULT_WARD_NAME = "Phường mặc định"
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
TOTP_STEP_S = 30
TOTP_ISSUER = "Loa"
Stage = Literal["password", "full"]  # password: right, the TOTP step still to come; full: signed in


# -- decisions -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lockout_s: float = 15 * 60.0


def after_failure(failed_count: int, now: float, policy: LockoutPolicy) -> tuple[int, float | None]:
    """One more failure in a row: the new count, and when the lock it causes ends (None: no lock). The lock starts
    the count again, so after it a person has the whole allowance back."""
    count = failed_count + 1
    if count >= policy.max_failures:
        return 0, now + policy.lockout_s
    return count, None


def is_locked(locked_until: float | None, now: float) -> bool:
    return locked_until is not None and now < locked_until


def may_manage(caller: Caller, ward: str, role: Role) -> bool:
    """Whether `caller` may create, change or disable an account (or token) of `ward` with `role`: a ward admin in
    its own ward, up to its own role; a district admin in every ward."""
    return caller.allows("ward_admin") and caller.sees(ward) and role_allows(caller.role, role)


def totp_required(role: Role) -> bool:
    """Approvers and admins sign in with a second factor; viewers and editors may."""
    return role_allows(role, "approver")


def totp_step(now: float) -> int:
    return int(now // TOTP_STEP_S)


def accepted_step(secret: str, code: str, now: float, last_step: int | None) -> int | None:
    """The 30 s step `code` is right for (now, or one step either side for clock drift), if it is later than the last
    step accepted (a code is good once), else None."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    for step in (totp_step(now) - 1, totp_step(now), totp_step(now) + 1):
        if (last_step is None or step > last_step) and hmac.compare_digest(totp.at(step * TOTP_STEP_S), code):
            return step
    return None


# -- the store -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    display_name: str
    ward: str
    role: Role
    totp_enrolled: bool
    locked_until: float | None
    disabled_at: float | None
    created_at: float

    def caller(self) -> Caller:
        return Caller(id=self.id, role=self.role, label=self.display_name, ward=self.ward, account=self.id)

    def public(self) -> dict[str, Any]:
        """What the accounts API shows (no hash, no secret)."""
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "ward": self.ward,
            "role": self.role,
            "totp_enrolled": self.totp_enrolled,
            "locked_until": self.locked_until,
            "disabled_at": self.disabled_at,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Session:
    account: Account
    csrf_token: str
    stage: Stage
    expires_at: float


class SignIn(Enum):
    OK = "ok"
    WRONG = "wrong"  # unknown username, disabled account or wrong password/code: the same answer for each
    LOCKED = "locked"


@dataclass(frozen=True)
class Attempt:
    outcome: SignIn
    account: Account | None = None
    locked_until: float | None = None


class AccountRefused(ValueError):
    """An account cannot be created as asked; the message says why, in English and Vietnamese. `conflict`: with
    what exists (a taken username), rather than a bad request."""

    def __init__(self, message: str, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


class TotpUnavailable(RuntimeError):
    """No operator key to encrypt TOTP secrets with (LOA_SECRET_KEY / LOA_SECRET_KEY_FILE)."""

    def __init__(self) -> None:
        super().__init__(
            "Two-step sign-in needs the operator's secret key (LOA_SECRET_KEY or LOA_SECRET_KEY_FILE), which is not "
            "set. / Đăng nhập hai bước cần khóa bí mật của người vận hành (LOA_SECRET_KEY hoặc LOA_SECRET_KEY_FILE), "
            "hiện chưa được đặt."
        )


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        ward=row.ward,
        role=row.role,
        totp_enrolled=row.totp_confirmed_at is not None,
        locked_until=row.locked_until,
        disabled_at=row.disabled_at,
        created_at=row.created_at,
    )


def _taken(username: str) -> str:
    return f"The username {username!r} is taken. / Tên đăng nhập {username!r} đã có người dùng."


def new_password() -> str:
    return secrets.token_urlsafe(12)


class People:
    """Wards, accounts and sessions (SQLAlchemy Core on loa_core.db, like the token store)."""

    def __init__(
        self,
        engine: Engine,
        box: SecretBox | None,
        policy: LockoutPolicy,
        clock: Callable[[], float] = time.time,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._engine = engine
        self.engine = engine  # for what shares the database with the accounts (the sign-in limits)
        self._box = box
        self.policy = policy
        self.clock = clock
        self._hasher = hasher or PasswordHasher()

    @functools.cached_property
    def _dummy_hash(self) -> str:
        """Checked against when the username is unknown, so an unknown name costs the same time as a wrong password
        (made on first use: a start of ingest does not pay for it)."""
        return self._hasher.hash(secrets.token_urlsafe(16))

    # -- wards ---------------------------------------------------------------------------------------------------

    def create_ward(self, ward_id: str, display_name: str) -> bool:
        """False when a ward with that id exists."""
        values = {"id": ward_id, "display_name": display_name, "created_at": self.clock()}
        return db.transaction(self._engine, lambda c: db.insert_ignore(c, wards, values)) == 1

    def wards(self, ward: str | None = None) -> list[dict[str, Any]]:
        query = select(wards).order_by(wards.c.id)
        if ward is not None:
            query = query.where(wards.c.id == ward)
        return [dict(r._mapping) for r in db.transaction(self._engine, lambda c: c.execute(query).all())]

    # -- accounts ------------------------------------------------------------------------------------------------

    def count(self) -> int:
        query = select(func.count()).select_from(accounts)
        return int(db.transaction(self._engine, lambda c: c.execute(query).scalar_one()))

    def create(
        self, username: str, display_name: str, ward: str, role: Role, password: str, created_by: str
    ) -> Account:
        """A new account; AccountRefused (bilingual) for a bad username or password, an unknown ward, a taken name."""
        if not USERNAME.fullmatch(username):
            raise AccountRefused(
                "A username is 2 to 64 lowercase letters, digits, dots, dashes or underscores. / Tên đăng nhập gồm 2 "
                "đến 64 chữ thường không dấu, chữ số, dấu chấm, gạch ngang hoặc gạch dưới."
            )
        if not MIN_PASSWORD <= len(password) <= 1024:
            raise AccountRefused(
                f"A password has at least {MIN_PASSWORD} characters. / Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự."
            )
        now = self.clock()
        values = {
            "id": f"a-{secrets.token_hex(6)}",
            "username": username,
            "display_name": display_name or username,
            "ward": ward,
            "role": role,
            "password_hash": self._hasher.hash(password),
            "failed_count": 0,
            "created_by": created_by,
            "created_at": now,
        }

        def work(c: Connection) -> int:
            if c.execute(select(wards.c.id).where(wards.c.id == ward)).first() is None:
                raise AccountRefused(f"No ward {ward!r}. / Không có phường {ward!r}.")
            if c.execute(select(accounts.c.id).where(accounts.c.username == username)).first() is not None:
                raise AccountRefused(_taken(username), conflict=True)
            return db.insert_ignore(c, accounts, values)

        if db.transaction(self._engine, work, immediate=True) != 1:
            raise AccountRefused(_taken(username), conflict=True)
        account = self.get(str(values["id"]))
        assert account is not None
        return account

    def get(self, account_id: str) -> Account | None:
        query = select(accounts).where(accounts.c.id == account_id)
        row = db.transaction(self._engine, lambda c: c.execute(query).first())
        return _account(row) if row is not None else None

    def list(self, ward: str | None = None) -> list[Account]:
        query = select(accounts).order_by(accounts.c.ward, accounts.c.username)
        if ward is not None:
            query = query.where(accounts.c.ward == ward)
        return [_account(r) for r in db.transaction(self._engine, lambda c: c.execute(query).all())]

    def disable(self, account_id: str) -> bool:
        """Disable an active account, revoke its API tokens and end its sessions, at once; False if none such."""
        now = self.clock()

        def work(c: Connection) -> bool:
            done = c.execute(
                update(accounts)
                .where(accounts.c.id == account_id, accounts.c.disabled_at.is_(None))
                .values(disabled_at=now)
            ).rowcount
            if done != 1:
                return False
            c.execute(
                update(tokens)
                .where(tokens.c.account_id == account_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            c.execute(delete(sessions).where(sessions.c.account_id == account_id))
            return True

        return db.transaction(self._engine, work)

    # -- signing in ----------------------------------------------------------------------------------------------

    def check_password(self, username: str, password: str) -> Attempt:
        """The password step. A locked account is refused before its password is looked at (so the answer says
        nothing about it); an unknown or disabled one is WRONG, after the same argon2 work as a known one."""
        row = db.transaction(
            self._engine, lambda c: c.execute(select(accounts).where(accounts.c.username == username)).first()
        )
        now = self.clock()
        if row is None or row.disabled_at is not None:
            self._verify(self._dummy_hash, password)
            return Attempt(SignIn.WRONG)
        if is_locked(row.locked_until, now):
            return Attempt(SignIn.LOCKED, locked_until=row.locked_until)
        if not self._verify(row.password_hash, password):
            return self._failed(row.id)
        if self._hasher.check_needs_rehash(row.password_hash):
            rehashed = self._hasher.hash(password)
            db.transaction(
                self._engine,
                lambda c: c.execute(update(accounts).where(accounts.c.id == row.id).values(password_hash=rehashed)),
            )
        return self._succeeded(row.id)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _failed(self, account_id: str) -> Attempt:
        now = self.clock()

        def work(c: Connection) -> float | None:
            row = c.execute(select(accounts.c.failed_count).where(accounts.c.id == account_id)).one()
            count, locked_until = after_failure(row.failed_count, now, self.policy)
            values: dict[str, Any] = {"failed_count": count}
            if locked_until is not None:
                values["locked_until"] = locked_until
            c.execute(update(accounts).where(accounts.c.id == account_id).values(values))
            return locked_until

        locked_until = db.transaction(self._engine, work, immediate=True)
        if locked_until is not None:
            log.warning("account %s locked after %d failed sign-ins", account_id, self.policy.max_failures)
            return Attempt(SignIn.LOCKED, locked_until=locked_until)
        return Attempt(SignIn.WRONG)

    def _succeeded(self, account_id: str, **values: Any) -> Attempt:
        statement = update(accounts).where(accounts.c.id == account_id).values(failed_count=0, **values)
        db.transaction(self._engine, lambda c: c.execute(statement))
        return Attempt(SignIn.OK, account=self.get(account_id))

    def totp_secret(self, account_id: str) -> str:
        """The account's TOTP secret, made now (unconfirmed) if it has none: what enrolment shows."""
        if self._box is None:
            raise TotpUnavailable()
        box = self._box
        row = db.transaction(
            self._engine, lambda c: c.execute(select(accounts.c.totp_secret).where(accounts.c.id == account_id)).one()
        )
        if row.totp_secret is not None:
            return box.decrypt(row.totp_secret)
        secret = pyotp.random_base32()
        sealed = box.encrypt(secret)
        statement = (
            update(accounts)
            .where(accounts.c.id == account_id, accounts.c.totp_secret.is_(None))
            .values(totp_secret=sealed, totp_confirmed_at=None)
        )
        if db.transaction(self._engine, lambda c: c.execute(statement).rowcount) != 1:
            return self.totp_secret(account_id)  # made by a concurrent request meanwhile: show that one
        return secret

    def check_totp(self, account_id: str, code: str) -> Attempt:
        """The second step: a code for the account's secret (which it confirms, at enrolment). Failures count
        toward the same lock as wrong passwords."""
        if self._box is None:
            raise TotpUnavailable()
        row = db.transaction(
            self._engine, lambda c: c.execute(select(accounts).where(accounts.c.id == account_id)).one()
        )
        now = self.clock()
        if row.disabled_at is not None or row.totp_secret is None:
            return Attempt(SignIn.WRONG)
        if is_locked(row.locked_until, now):
            return Attempt(SignIn.LOCKED, locked_until=row.locked_until)
        step = accepted_step(self._box.decrypt(row.totp_secret), code, now, row.totp_last_step)
        if step is None:
            return self._failed(account_id)
        confirmed = row.totp_confirmed_at if row.totp_confirmed_at is not None else now
        return self._succeeded(account_id, totp_last_step=step, totp_confirmed_at=confirmed)

    # -- sessions ------------------------------------------------------------------------------------------------

    def open_session(self, account_id: str, stage: Stage, ttl_s: float) -> str:
        """A new session; its id (for the cookie, never stored)."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        values = {
            "sha256": hash_token(session_id),
            "account_id": account_id,
            "csrf_token": secrets.token_urlsafe(32),
            "stage": stage,
            "created_at": now,
            "expires_at": now + ttl_s,
        }

        def work(c: Connection) -> None:
            c.execute(delete(sessions).where(sessions.c.expires_at < now))  # the expired ones go as new ones come
            c.execute(insert(sessions).values(values))

        db.transaction(self._engine, work)
        return session_id

    def session(self, session_id: str) -> Session | None:
        """The live session with this id, of an account not disabled; None if unknown, expired or ended."""
        query = (
            select(accounts, sessions.c.csrf_token, sessions.c.stage, sessions.c.expires_at)
            .join(accounts, accounts.c.id == sessions.c.account_id)
            .where(sessions.c.sha256 == hash_token(session_id), accounts.c.disabled_at.is_(None))
        )
        row = db.transaction(self._engine, lambda c: c.execute(query).first())
        if row is None or row.expires_at <= self.clock():
            return None
        return Session(_account(row), row.csrf_token, row.stage, row.expires_at)

    def close_session(self, session_id: str) -> None:
        statement = delete(sessions).where(sessions.c.sha256 == hash_token(session_id))
        db.transaction(self._engine, lambda c: c.execute(statement))

    # -- zero configuration --------------------------------------------------------------------------------------

    def ensure_first_admin(self, data_dir: Path) -> Path | None:
        """With no account at all: the default ward and its district admin `admin`, whose random password goes to
        `<data_dir>/admin-password` (mode 0600), never to a log. Returns that file when it made the account."""
        if self.count() > 0:
            return None
        self.create_ward(DEFAULT_WARD, DEFAULT_WARD_NAME)
        password = new_password()
        try:
            account = self.create(FIRST_ADMIN, "Quản trị quận", DEFAULT_WARD, "district_admin", password, "ingest")
        except AccountRefused:
            return None  # another replica made it first
        path = data_dir / FIRST_ADMIN_PASSWORD_FILE
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            os.fchmod(file.fileno(), 0o600)
            file.write(password + "\n")
        log.warning(
            "no account existed: made the district admin %r (%s) in ward %r; its password is in %s",
            account.username,
            account.id,
            DEFAULT_WARD,
            path,
        )
        return path
