"""Session-wide throwaway PostgreSQL server, and `database_url`: each store's behaviour on both of its databases.

tests/conftest.py enables them for every test layer; a store's suite takes `database_url` and runs once on a SQLite
file and once on a fresh database of the shared server (loa_core.db's pattern, step 5).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer

__all__ = ["database_url", "postgres_server"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole session (initdb takes a second); tests isolate themselves by database."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file's path, or the URL of a fresh, empty PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite3")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()
