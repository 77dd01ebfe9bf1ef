"""loa_core.db on a real PostgreSQL: services sharing one database, each in its own schema."""

from __future__ import annotations

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
