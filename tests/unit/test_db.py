"""loa_core.db on SQLite: where a service's database is, how it is opened, transactions, and its migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Column, Connection, MetaData, Table, Text, exc, select, text

from loa_archiver.settings import ArchiverSettings
from loa_core import db
from loa_core.settings import CommonSettings
from loa_ingest.settings import IngestSettings
from loa_metrics.settings import MetricsSettings
from loa_publisher.settings import PublisherSettings

T = Table("t", MetaData(), Column("k", Text, primary_key=True), Column("v", Text), Column("w", Text))


def test_where_a_service_database_is(tmp_path: Path) -> None:
    embedded = db.database_url(CommonSettings(data_dir=tmp_path), "svc.sqlite3")
    assert db.normalize_url(embedded).database == str(tmp_path / "svc.sqlite3")
    shared = CommonSettings(data_dir=tmp_path, database_url="postgresql://loa@db:5432/loa")
    assert db.database_url(shared, "svc.sqlite3") == "postgresql://loa@db:5432/loa"
    # What operators write: postgresql:// (and postgres://) mean psycopg 3, a bare path means a SQLite file.
    assert db.normalize_url("postgres://loa@db/loa").drivername == "postgresql+psycopg"
    assert db.normalize_url("postgresql+psycopg://loa@db/loa").drivername == "postgresql+psycopg"
    assert db.normalize_url("relative/state.sqlite3").database == "relative/state.sqlite3"


def test_the_publisher_still_reads_its_old_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A publisher upgraded with LOA_LEDGER_URL still set must not start on an empty SQLite ledger and post again.
    monkeypatch.setenv("LOA_LEDGER_URL", "postgresql://loa@db/ledger")
    assert PublisherSettings(data_dir=tmp_path).ledger_location() == "postgresql://loa@db/ledger"
    monkeypatch.setenv("LOA_DATABASE_URL", "postgresql://loa@db/loa")
    assert PublisherSettings(data_dir=tmp_path).ledger_location() == "postgresql://loa@db/loa"
    monkeypatch.delenv("LOA_DATABASE_URL")
    monkeypatch.delenv("LOA_LEDGER_URL")
    assert PublisherSettings(data_dir=tmp_path).ledger_location().endswith("/publisher-ledger.sqlite3")


def test_every_service_with_state_reads_the_database_url(tmp_path: Path) -> None:
    shared = "postgresql://loa@db/loa"
    assert PublisherSettings(data_dir=tmp_path, database_url=shared).ledger_location() == shared
    assert MetricsSettings(data_dir=tmp_path, database_url=shared).projection_location() == shared
    assert ArchiverSettings(data_dir=tmp_path, database_url=shared).store_location() == shared
    assert IngestSettings(data_dir=tmp_path, database_url=shared).state_location() == shared
    embedded = IngestSettings(data_dir=tmp_path).state_location()
    assert db.normalize_url(embedded).database == str(tmp_path / "ingest.sqlite3")
    embedded = ArchiverSettings(data_dir=tmp_path).store_location()
    assert db.normalize_url(embedded).database == str(tmp_path / "archiver.sqlite3")
    embedded = MetricsSettings(data_dir=tmp_path).projection_location()
    assert db.normalize_url(embedded).database == str(tmp_path / "metrics-projection.sqlite3")


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.sqlite3"
    engine = db.make_engine(path, synchronous="NORMAL", private=True)
    with engine.connect() as connection:
        pragmas = {p: connection.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "busy_timeout")}
        pragmas |= {p: connection.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("synchronous", "foreign_keys")}
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 10_000, "synchronous": 1, "foreign_keys": 1}
    assert path.stat().st_mode & 0o077 == 0
    engine.dispose()
    with db.make_engine(path).connect() as connection:  # FULL is the default
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2


def test_a_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    engine = db.make_engine(tmp_path / "s.sqlite3")
    T.metadata.create_all(engine)

    def half_done(connection: Connection) -> None:
        db.upsert(connection, T, {"k": "a", "v": "1"}, update=["v"])
        connection.execute(text("INSERT INTO no_such_table VALUES (1)"))

    with pytest.raises(exc.OperationalError):  # not a connection problem: raised as is, never retried
        db.transaction(engine, half_done)
    assert db.transaction(engine, lambda c: c.execute(select(T)).all()) == []


def test_upsert_updates_only_the_named_columns(tmp_path: Path) -> None:
    engine = db.make_engine(tmp_path / "s.sqlite3")
    T.metadata.create_all(engine)
    db.transaction(engine, lambda c: db.upsert(c, T, {"k": "a", "v": "1", "w": "x"}, update=["v", "w"]))
    db.transaction(engine, lambda c: db.upsert(c, T, {"k": "a", "v": "2", "w": "y"}, update=["v"]))
    assert db.transaction(engine, lambda c: c.execute(select(T)).all()) == [("a", "2", "x")]


def test_a_locked_database_is_unavailable_not_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "s.sqlite3"
    engine = db.make_engine(path)
    T.metadata.create_all(engine)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past busy_timeout
    try:
        with pytest.raises(db.DatabaseUnavailable, match="locked"):
            db.transaction(engine, lambda c: db.upsert(c, T, {"k": "a"}, update=["v"]))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_one_version_table_per_service_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    engine = db.make_engine(tmp_path / "s.sqlite3")
    db.migrate(engine, "publisher")
    db.migrate(engine, "publisher")  # nothing left to do
    with engine.begin() as connection:
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version_publisher").all()
        assert versions == [(db.head_revision("publisher"),)]
        # A newer publisher migrated this database, then the older one was started again.
        connection.exec_driver_sql("UPDATE alembic_version_publisher SET version_num = '9999'")
    with pytest.raises(db.MigrationError, match=r"Không nâng cấp được.*Cannot migrate publisher"):
        db.migrate(engine, "publisher")
