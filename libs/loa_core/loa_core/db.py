"""Every service's state in one database: SQLite (embedded default) or PostgreSQL (shared by replicas).

The pattern every store follows (the publisher's ledger, `loa_publisher/ledger.py`, is the model):

1. **Where.** `database_url(settings, "<file>.sqlite3")`: `LOA_DATABASE_URL` when set (`postgresql://…`, which
   means psycopg 3, or any SQLAlchemy URL), else a SQLite file of that name under the service's `data_dir`.
2. **Connect.** `make_engine(url, service=…)` once per process, in the service's bootstrap: WAL, `busy_timeout`
   and foreign keys on SQLite (`synchronous` FULL or NORMAL per database, see docs/decisions/0007),
   `pool_pre_ping` on PostgreSQL so a connection cut by a server restart is replaced on its next use. All services
   may share one PostgreSQL database: each keeps its tables in a schema of its own name (the connection's
   `search_path`), so the publisher's `posts` and the metrics projection's `posts` never meet; SQLite keeps one
   file per service. The database role needs the right to create schemas (the database's owner has it).
3. **Schema.** A migration history per service in `loa_<service>/migrations/` (an `env.py` that calls
   `alembic_env()`, and `versions/`), applied by `migrate(engine, service)` on start, before anything reads the
   database, each service with its own version table (`alembic_version_<service>`). The first revision creates
   the tables the service's hand-written code made until now *when they are missing* and adds the columns an
   older database lacks, so a database made by that code is adopted with all its rows (test it: build one with
   the old DDL and rows, migrate, read every row). Later revisions are ordinary Alembic ones; a revision
   describes its tables itself (never imports the store's `Table`s, which follow the newest revision).
   Revisions run in one transaction (SQLite too), under an advisory lock on PostgreSQL, so replicas starting
   together migrate once.
4. **Queries.** SQLAlchemy Core: the store declares its `Table`s on its own `MetaData`, matching the newest
   revision, and uses `select`/`insert`/`update`; `upsert(...)` for `INSERT … ON CONFLICT DO UPDATE` and
   `insert_ignore(...)` for `… DO NOTHING` on both databases; `text()` with :named parameters for a report query
   Core would only obscure, in SQL both databases speak (no json_each, no two-argument MAX; NULLS LAST spelled
   out). Every unit of work goes through `transaction(engine, work)`: one transaction, retried once on a fresh
   connection when the old one was cut (so `work` must be safe to run twice: single statements, conditional
   updates), and `DatabaseUnavailable` when the database stays away (a service maps it to its retryable error:
   the event waits, it is not dead-lettered).
5. **Test** the store's behaviour on both databases with the `database_url` fixture
   (tests/integration/conftest_postgres.py: a SQLite file, and a fresh database on one throwaway PostgreSQL server
   per test session).

Timestamps stay ISO-8601 text in UTC (as the hand-written code stored them): they sort as text on both databases.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Executable,
    MetaData,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    exc,
    make_url,
    or_,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from loa_core.settings import CommonSettings

if TYPE_CHECKING:
    from alembic.config import Config

T = TypeVar("T")

# How long a SQLite writer waits for another one before giving up with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000
# libpq waits for ever by default for a server that accepts the connection and never answers (a frozen or
# overloaded host): every request of the service would hang behind it. 10 s, then DatabaseUnavailable.
POSTGRES_CONNECT_TIMEOUT_S = 10
# A statement that runs this long is stopped by the server (statement_timeout), and so is a transaction left idle
# this long (idle_in_transaction_session_timeout): a lock held by a stuck statement or a hung client would otherwise
# stall every replica waiting on the same rows. The service sees DatabaseUnavailable and retries later, as for a
# restart. Every statement of Loa's stores is a single-row or indexed one, far under it; `migrate` lifts the limit,
# since a revision may rewrite a large table.
POSTGRES_STATEMENT_TIMEOUT_MS = 30_000
POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000


class DatabaseUnavailable(Exception):
    """The database did not answer (a PostgreSQL restart or failover, a SQLite file locked too long): retry later."""


class MigrationError(Exception):
    """The database's schema cannot be brought to what this version of the service needs: fix it, then restart."""


def database_url(settings: CommonSettings, sqlite_file: str) -> str:
    """`LOA_DATABASE_URL`, or the service's SQLite file under its data_dir (the embedded default)."""
    if settings.database_url:
        return settings.database_url
    return URL.create("sqlite", database=str(settings.data_dir / sqlite_file)).render_as_string()


def normalize_url(location: str | Path) -> URL:
    """A SQLAlchemy URL from what an operator writes: `postgresql://…` (psycopg 3), any SQLAlchemy URL, or a path
    to a SQLite file."""
    if isinstance(location, Path) or "://" not in location:
        return URL.create("sqlite", database=str(location))
    url = make_url(location)
    if url.drivername in ("postgresql", "postgres"):
        # SQLAlchemy's default PostgreSQL driver is psycopg2; Loa ships psycopg 3.
        url = url.set(drivername="postgresql+psycopg")
    return url


def make_engine(
    location: str | Path,
    *,
    service: str | None = None,
    synchronous: Literal["FULL", "NORMAL"] = "FULL",
    private: bool = False,
) -> Engine:
    """The one engine of a service's database.

    `service`: on PostgreSQL, the schema its tables live in (named after it; `migrate` creates it).

    SQLite: WAL (readers never block the writer), `busy_timeout` (a writer waits for another instead of failing),
    foreign keys enforced, `synchronous` as the database's durability needs (FULL: every commit fsynced), and real
    transactions (BEGIN is emitted by us: pysqlite's own would leave DDL and reads outside them). `private`: the
    file is readable by its owner only (it holds secrets such as refresh tokens).
    PostgreSQL: a pooled connection is checked before use, so a server restart costs no failed statement, a
    server that does not answer within POSTGRES_CONNECT_TIMEOUT_S is unavailable rather than waited on for ever, and
    no statement runs longer than POSTGRES_STATEMENT_TIMEOUT_MS (nor a transaction idles longer than
    POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT_MS) before the server stops it (DatabaseUnavailable).
    """
    url = normalize_url(location)
    if url.get_backend_name() != "sqlite":
        settings = [
            f"statement_timeout={POSTGRES_STATEMENT_TIMEOUT_MS}",
            f"idle_in_transaction_session_timeout={POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT_MS}",
        ]
        if service:
            settings.append(f"search_path={_schema(service)}")
        options: dict[str, Any] = {
            "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S,
            "options": " ".join(f"-c {setting}" for setting in settings),
        }
        return create_engine(url, pool_pre_ping=True, connect_args=options)
    if url.database and url.database != ":memory:":
        path = Path(url.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        if private:
            path.touch(mode=0o600, exist_ok=True)  # SQLite gives its -wal and -shm files the same mode
            path.chmod(0o600)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a transaction that reads and then writes waits for another
        # writer (busy_timeout) instead of failing when its snapshot went stale.
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def transaction(engine: Engine, work: Callable[[Connection], T], *, immediate: bool = False) -> T:
    """Run `work` in one transaction and commit. A connection found cut is replaced and `work` run once more
    (so it must be safe to repeat); a database that stays unreachable raises DatabaseUnavailable.
    `immediate`: on SQLite, take the write lock at BEGIN (for work that reads, then writes what it read)."""
    for attempt in (1, 2):
        try:
            with engine.connect() as connection:
                if immediate:
                    connection = connection.execution_options(sqlite_immediate=True)
                with connection.begin():
                    return work(connection)
        except exc.DBAPIError as error:
            if error.connection_invalidated and attempt == 1:
                continue
            if _unavailable(error):
                raise DatabaseUnavailable(f"database unavailable: {error.orig}") from error
            raise
    raise AssertionError("unreachable")


def _unavailable(error: exc.DBAPIError) -> bool:
    """A database away or busy (try later), as opposed to a statement that is wrong (a bug: raised as is)."""
    if error.connection_invalidated:
        return True
    if isinstance(error.orig, sqlite3.Error):
        # SQLITE_BUSY, SQLITE_LOCKED and their extended codes: another writer held the file past busy_timeout.
        return error.orig.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    # psycopg's OperationalError: the server is unreachable, restarting or shutting down.
    return isinstance(error, exc.OperationalError)


@functools.cache
def _upsert_statement(table: Table, dialect: str, columns: tuple[str, ...], update: tuple[str, ...]) -> Executable:
    # Built once per shape and reused: building and hashing a statement costs more than running it on SQLite.
    keys = [column.name for column in table.primary_key]
    if dialect == "postgresql":
        pg = postgresql.insert(table).values({c: bindparam(c) for c in columns})
        return pg.on_conflict_do_update(index_elements=keys, set_={c: pg.excluded[c] for c in update})
    lite = sqlite.insert(table).values({c: bindparam(c) for c in columns})
    return lite.on_conflict_do_update(index_elements=keys, set_={c: lite.excluded[c] for c in update})


def upsert(connection: Connection, table: Table, values: Mapping[str, Any], *, update: Iterable[str]) -> None:
    """INSERT the row, or UPDATE the `update` columns of the row with the same primary key (both databases)."""
    statement = _upsert_statement(table, connection.dialect.name, tuple(values), tuple(update))
    connection.execute(statement, dict(values))


@functools.cache
def _insert_ignore_statement(table: Table, dialect: str, columns: tuple[str, ...]) -> Executable:
    key = list(table.primary_key)
    values: dict[str, Any] = {c: bindparam(c) for c in columns}
    if dialect == "postgresql":
        return postgresql.insert(table).values(values).on_conflict_do_nothing().returning(*key)
    return sqlite.insert(table).values(values).on_conflict_do_nothing().returning(*key)


def insert_ignore(connection: Connection, table: Table, values: Mapping[str, Any]) -> int:
    """INSERT the row unless one with the same primary key exists (both databases); 1 if it was inserted.

    Counted from RETURNING: an INSERT's rowcount is -1 on psycopg through SQLAlchemy 2.1."""
    statement = _insert_ignore_statement(table, connection.dialect.name, tuple(values))
    return len(connection.execute(statement, dict(values)).all())


def lease_table(metadata: MetaData) -> Table:
    """Which replica holds a named task until when (`take_lease`), as the services that run replicas declare it."""
    return Table(
        "leases",
        metadata,
        Column("name", Text, primary_key=True),
        Column("holder", Text, nullable=False),
        Column("expires_at", Text, nullable=False),
    )


def take_lease(connection: Connection, leases: Table, name: str, holder: str, *, now: str, expires: str) -> bool:
    """Hold the lease `name` until `expires` if it is free, lapsed (it ended before `now`) or already `holder`'s;
    False if another holds it. Times are text that sorts as time (UTC ISO strings)."""
    if insert_ignore(connection, leases, {"name": name, "holder": holder, "expires_at": expires}):
        return True
    c = leases.c
    mine_or_lapsed = or_(c.holder == holder, c.expires_at < now)
    statement = update(leases).where(c.name == name, mine_or_lapsed).values(holder=holder, expires_at=expires)
    return bool(connection.execute(statement).rowcount)


def _schema(service: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", service):
        raise ValueError(f"not a service name: {service!r}")
    return service


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


# Alembic's `context` and `op` are module-wide proxies: one migration at a time per process.
_MIGRATING = threading.Lock()


def _config(service: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(importlib.resources.files(f"loa_{service}") / "migrations"))
    return config


def head_revision(service: str) -> str:
    """The newest revision of the service's migrations: what `migrate` brings a database to."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config(service)).get_current_head()
    assert head is not None, f"loa_{service} has no migrations"
    return head


def migration_lock_key(service: str) -> int:
    """The PostgreSQL advisory lock a service's replicas take in turn to migrate its schema."""
    return int.from_bytes(hashlib.sha256(version_table(service).encode()).digest()[:8], "big", signed=True)


def migrate(engine: Engine, service: str, *, to: str = "head") -> None:
    """Bring the service's tables to its newest revision (loa_<service>/migrations), in one transaction (`to` an
    older one: a test of the revisions after it)."""
    from alembic import command
    from alembic.util import CommandError

    config = _config(service)
    with _MIGRATING, engine.connect() as connection:
        connection = connection.execution_options(sqlite_immediate=True)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                # Replicas starting together: one migrates, the others wait for it and then find nothing to do.
                # A revision may rewrite a large table, and a replica waits here for another's migration.
                connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": migration_lock_key(service)})
                if connection.execute(text("SELECT current_setting('search_path')")).scalar() != _schema(service):
                    raise ValueError(f"the engine of {service} is made with make_engine(..., service={service!r})")
                connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {_schema(service)}")
            config.attributes["connection"] = connection
            config.attributes["version_table"] = version_table(service)
            try:
                command.upgrade(config, to)
            except CommandError as error:
                raise MigrationError(
                    f"Không nâng cấp được cơ sở dữ liệu của {service} ({error}); có thể nó đã được một phiên bản "
                    f"mới hơn nâng cấp. / Cannot migrate {service}'s database ({error}); a newer version of the "
                    "service may have migrated it."
                ) from error


def alembic_env() -> None:
    """The body of every service's migrations/env.py: run the revisions on the connection `migrate` passes in."""
    from alembic import context

    context.configure(
        connection=context.config.attributes["connection"],
        version_table=context.config.attributes["version_table"],
        # make_engine gives SQLite real transactions: a revision that fails leaves nothing half-done.
        transactional_ddl=True,
    )
    context.run_migrations()
