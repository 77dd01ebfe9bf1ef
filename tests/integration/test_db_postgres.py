"""loa_core.db on a real PostgreSQL: services sharing one database, each in its own schema."""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy import Column, MetaData, Table, Text, insert, select

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
