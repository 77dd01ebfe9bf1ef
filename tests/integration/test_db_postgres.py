"""loa_core.db on a real PostgreSQL: services sharing one database, each in its own schema."""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy import Column, MetaData, Table, Text, insert, select, text

from loa_core import db
from tests.support.postgres import PostgresServer


def test_two_services_tables_of_one_name_live_side_by_side(postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    posts = Table("posts", MetaData(), Column("post_id", Text, primary_key=True))
    engines = {service: db.make_engine(url, service=service) for service in ("publisher", "metrics")}
    for service, engine in engines.items():
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {service}")  # what migrate does first
            posts.create(connection)
            connection.execute(insert(posts).values(post_id=f"{service}-1"))
    for service, engine in engines.items():
        with engine.connect() as connection:
            assert connection.execute(select(posts.c.post_id)).scalars().all() == [f"{service}-1"]
        engine.dispose()


def test_migrate_refuses_an_engine_made_for_no_service(postgres_server: PostgresServer) -> None:
    # Its tables would land in `public`, where every service's would meet.
    engine = db.make_engine(postgres_server.new_database())
    with pytest.raises(ValueError, match="service='publisher'"):
        db.migrate(engine, "publisher")
    engine.dispose()


def test_a_server_that_accepts_and_never_answers_is_unavailable_not_waited_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen database host accepts the TCP connection (the kernel does) and never speaks; libpq's default is to
    wait for ever, which hung every request of the service behind it."""
    monkeypatch.setattr(db, "POSTGRES_CONNECT_TIMEOUT_S", 2)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        engine = db.make_engine(f"postgresql://loa@127.0.0.1:{port}/loa", service="ingest")
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                db.transaction(engine, lambda connection: connection.exec_driver_sql("SELECT 1").scalar())
            except BaseException as error:  # noqa: BLE001 - the test reads what was raised
                outcome.append(error)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        # Two attempts of 2 s at most; a generous bound, since without a timeout the call never returns.
        worker.join(60)
        assert not worker.is_alive(), "the connection attempt is still waiting on a server that never answers"
        assert len(outcome) == 1 and isinstance(outcome[0], db.DatabaseUnavailable), outcome
        engine.dispose()


def test_a_statement_stuck_behind_a_lock_is_stopped_by_the_server_and_is_unavailable(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hung client holding a row lock would otherwise stall every replica that writes the same row, for ever."""
    monkeypatch.setattr(db, "POSTGRES_STATEMENT_TIMEOUT_MS", 500)
    url = postgres_server.new_database()
    engine = db.make_engine(url, service="publisher")
    rows = Table("rows", MetaData(), Column("row_id", Text, primary_key=True), Column("state", Text))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA publisher")
        rows.create(connection)
        connection.execute(insert(rows).values(row_id="a", state="new"))
    holder = engine.connect()
    holder.begin()
    holder.exec_driver_sql("SELECT * FROM rows WHERE row_id = 'a' FOR UPDATE")  # and never commits
    try:
        with pytest.raises(db.DatabaseUnavailable, match="statement timeout"):
            db.transaction(engine, lambda c: c.exec_driver_sql("UPDATE rows SET state = 'done' WHERE row_id = 'a'"))
        assert holder.exec_driver_sql("SHOW statement_timeout").scalar() == "500ms"
    finally:
        holder.rollback()
        holder.close()
    # The lock gone, the same write goes through: the timeout stopped only what waited on it.
    db.transaction(engine, lambda c: c.exec_driver_sql("UPDATE rows SET state = 'done' WHERE row_id = 'a'"))
    engine.dispose()


def test_a_replica_waits_for_anothers_migration_longer_than_the_statement_timeout(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replicas starting together: one migrates (a revision may rewrite a large table), the others wait on its lock;
    the statement timeout must not turn that wait into a failed start."""
    monkeypatch.setattr(db, "POSTGRES_STATEMENT_TIMEOUT_MS", 300)
    url = postgres_server.new_database()
    engine = db.make_engine(url, service="publisher")
    other_replica = engine.connect()
    other_replica.begin()
    other_replica.exec_driver_sql("SET LOCAL statement_timeout = 0")
    other_replica.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": db.migration_lock_key("publisher")})
    outcome: list[BaseException | None] = []

    def start() -> None:
        try:
            db.migrate(engine, "publisher")
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - the test reads what was raised
            outcome.append(error)

    waiting = threading.Thread(target=start, daemon=True)
    waiting.start()
    waiting.join(1.5)  # five statement timeouts: without the lifted limit, migrate has failed by now
    assert waiting.is_alive() and not outcome, outcome
    other_replica.rollback()  # the other replica's migration is done: its lock goes
    other_replica.close()
    waiting.join(60)
    assert outcome == [None]
    with engine.connect() as connection:
        version = connection.exec_driver_sql(f"SELECT version_num FROM {db.version_table('publisher')}").scalar()
    assert version == db.head_revision("publisher")
    engine.dispose()
