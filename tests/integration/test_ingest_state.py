"""Ingest's stores on both of their databases (SQLite and a real PostgreSQL server): the tus upload records, the
catalog with its outbox, the role tokens; and a database made by the previous code adopted with every row."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from loa_core import db
from loa_core.auth import hash_token
from loa_core.contracts import DEFAULT_WARD, FootageUploaded
from loa_ingest.__main__ import build_app
from loa_ingest.access import RateLimiter, rate_buckets
from loa_ingest.settings import IngestSettings
from loa_ingest.state import IngestState, open_state
from loa_ingest.uploads import Upload
from tests.support.metrics_events import new_id, uploaded
from tests.support.postgres import PostgresServer


@pytest.fixture
def state(database_url: str, tmp_path: Path) -> Iterator[IngestState]:
    opened = open_state(database_url, tmp_path / "tus")
    yield opened
    opened.close()


def footage_of(sha256: str) -> FootageUploaded:
    event = uploaded(new_id())
    return event.model_copy(update={"media": event.media.model_copy(update={"sha256": sha256})})


def test_the_catalog_reserves_a_file_once_and_keeps_the_outbox(database_url: str, state: IngestState) -> None:
    first, second = footage_of("a" * 64), footage_of("b" * 64)
    assert state.catalog.find("a" * 64, "default") is None
    assert state.catalog.reserve(first) and state.catalog.reserve(second)
    assert not state.catalog.reserve(footage_of("a" * 64)), "the same file already has a footage"
    entry = state.catalog.find("a" * 64, "default")
    assert entry is not None and (entry.footage_id, entry.event, entry.announced) == (first.footage_id, first, False)
    assert state.catalog.pending() == [first, second], "in the order they were recorded"
    state.catalog.mark_announced(first)
    assert state.catalog.pending() == [second]
    state.close()
    reopened = open_state(database_url, Path(state.uploads.spool_dir))  # a restarted ingest
    assert reopened.catalog.pending() == [second]
    entry = reopened.catalog.find("a" * 64, "default")
    assert entry is not None and entry.announced
    reopened.close()


def test_one_request_at_a_time_announces_a_footage_and_a_lapsed_claim_is_taken_over(state: IngestState) -> None:
    catalog, event = state.catalog, footage_of("c" * 64)
    assert catalog.reserve(event, "first", until=110.0), "recorded with the recording request's claim"
    assert not catalog.claim(event, "second", now=60.0, until=120.0), "claimed"
    assert catalog.renew(event, "first", until=130.0)
    assert not catalog.claim(event, "second", now=120.0, until=180.0), "renewed"
    # The first request's replica died: once its claim lapsed, another takes it over, and the first cannot renew.
    assert catalog.claim(event, "second", now=131.0, until=191.0)
    assert not catalog.renew(event, "first", until=200.0)
    catalog.release(event, "first")  # not its claim any more: nothing changes
    assert not catalog.claim(event, "third", now=140.0, until=200.0)
    catalog.release(event, "second")  # its send failed: the next request claims at once
    assert catalog.claim(event, "third", now=141.0, until=201.0)
    catalog.mark_announced(event)
    assert not catalog.renew(event, "third", until=210.0), "announced: nothing left to claim"
    assert not catalog.claim(event, "fourth", now=300.0, until=360.0)


async def test_created_tokens_authenticate_with_their_role_and_are_stored_hashed(
    database_url: str, state: IngestState, tmp_path: Path
) -> None:
    store = state.tokens
    issued = store.create("editor", "phường 1", created_by="admin")
    who = await store.caller_of(issued.token)
    assert who is not None and who.role == "editor" and who.id == issued.token_id and who.label == "phường 1"
    # Hashed at rest: the secret itself is in no column, and in no file of a SQLite database.
    (listed,) = store.list()
    assert listed["token_id"] == issued.token_id and listed["role"] == "editor" and listed["revoked_at"] is None
    engine = db.make_engine(database_url, service="ingest")
    with engine.connect() as connection:
        assert all(
            issued.token not in str(value) for row in connection.execute(text("SELECT * FROM tokens")) for value in row
        )
    engine.dispose()
    for path in tmp_path.glob("*.sqlite3*"):
        assert issued.token.encode() not in path.read_bytes()
    assert store.revoke(issued.token_id)
    assert await store.caller_of(issued.token) is None
    assert not store.revoke(issued.token_id)
    assert isinstance(store.list()[0]["revoked_at"], float)


def an_upload(upload_id: str, expires_at: float) -> Upload:
    return Upload(
        id=upload_id,
        length=21 * 1024**3,  # beyond 32 bits: a long ceremony in high quality
        offset=0,
        raw_metadata="filename bGUubXA0",
        metadata_json='{"title": "Lễ chào cờ"}',
        owner="admin",
        created_at=1_765_000_000.125,
        expires_at=expires_at,
        state="receiving",
    )


def test_upload_records_move_through_their_states(database_url: str, state: IngestState) -> None:
    store = state.uploads
    store.create(an_upload("u1", expires_at=100.0))
    store.create(an_upload("u2", expires_at=300.0))
    assert store.spool_path("u1").exists()
    assert store.get("u1") == an_upload("u1", expires_at=100.0)
    assert store.get("nope") is None
    store.set_offset("u2", 16 * 1024**3, 400.5, "received")
    assert store.expired_ids(now=200.0) == ["u1"]
    store.finish("u1", "accepted", footage_id="f" * 32, duplicate=True)
    assert not store.spool_path("u1").exists(), "its bytes are dropped"
    assert store.expired_ids(now=1000.0) == ["u2"], "a finished upload never expires"
    state.close()
    reopened = open_state(database_url, store.spool_dir)
    u1, u2 = reopened.uploads.get("u1"), reopened.uploads.get("u2")
    assert u1 is not None and (u1.state, u1.footage_id, u1.duplicate, u1.reason) == ("accepted", "f" * 32, True, None)
    assert u2 is not None and (u2.offset, u2.expires_at, u2.state) == (16 * 1024**3, 400.5, "received")
    reopened.close()


# What the previous code made (its last version, before Alembic), copied from it: one table per SQLite file, the
# catalog as its first version made it (the outbox's two columns were added by a later start-up's ALTER).
PREVIOUS_DDL = {
    "ingest-uploads.sqlite3": [
        "CREATE TABLE IF NOT EXISTS uploads (id TEXT PRIMARY KEY, length INTEGER NOT NULL, offset INTEGER NOT NULL,"
        " raw_metadata TEXT NOT NULL, metadata_json TEXT NOT NULL, owner TEXT NOT NULL, created_at REAL NOT NULL,"
        " expires_at REAL NOT NULL, state TEXT NOT NULL, footage_id TEXT, duplicate INTEGER NOT NULL DEFAULT 0,"
        " reason TEXT)"
    ],
    "ingest-catalog.sqlite3": [
        "CREATE TABLE IF NOT EXISTS footage (sha256 TEXT PRIMARY KEY, footage_id TEXT NOT NULL, created_at TEXT "
        "NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    ],
    "ingest-tokens.sqlite3": [
        "CREATE TABLE IF NOT EXISTS tokens (token_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE,"
        " role TEXT NOT NULL, label TEXT NOT NULL, created_by TEXT NOT NULL, created_at REAL NOT NULL,"
        " revoked_at REAL)"
    ],
}
FILE_TABLE = {
    "ingest-uploads.sqlite3": "uploads",
    "ingest-catalog.sqlite3": "footage",
    "ingest-tokens.sqlite3": "tokens",
}
OUTBOX_ALTERS = [
    "ALTER TABLE footage ADD COLUMN event TEXT",
    "ALTER TABLE footage ADD COLUMN announced INTEGER NOT NULL DEFAULT 1",
]
# Sizes within 32 bits and times whole multiples of 128 s: on PostgreSQL the old DDL's INTEGER and REAL are 4 bytes
# until the revision widens them (then a 4 GiB offset and a time to the half second fit, as the test checks).
PENDING = footage_of("c" * 64)
PREVIOUS_ROWS = {
    "uploads": [
        {
            "id": "up-receiving", "length": 2_000_000_000, "offset": 1_000_000_000, "raw_metadata": "filename YS5tcDQ=",
            "metadata_json": '{"title": "Họp dân"}', "owner": "tok1", "created_at": 1_764_979_200.0,
            "expires_at": 1_765_065_600.0, "state": "receiving", "footage_id": None, "duplicate": 0, "reason": None,
        },
        {
            "id": "up-rejected", "length": 10, "offset": 10, "raw_metadata": "", "metadata_json": "{}",
            "owner": "admin", "created_at": 1_764_979_200.0, "expires_at": 1_765_065_600.0, "state": "rejected",
            "footage_id": "e" * 32, "duplicate": 1, "reason": "Tệp này đã được tải lên. / Already uploaded.",
        },
    ],
    "footage": [
        {
            "sha256": "a" * 64, "footage_id": "a" * 32, "created_at": "2026-11-01 08:00:00", "event": None,
            "announced": 1,
        },
        {
            "sha256": "c" * 64, "footage_id": PENDING.footage_id, "created_at": "2026-11-02 08:00:00",
            "event": PENDING.to_bytes().decode(), "announced": 0,
        },
    ],
    "tokens": [
        {
            "token_id": "tok1", "sha256": "1" * 64, "role": "uploader", "label": "phường 1", "created_by": "admin",
            "created_at": 1_764_979_200.0, "revoked_at": None,
        },
        {
            "token_id": "tok2", "sha256": "2" * 64, "role": "viewer", "label": "tổ dân phố", "created_by": "admin",
            "created_at": 1_764_979_328.0, "revoked_at": 1_765_065_600.0,
        },
    ],
}  # fmt: skip


def assert_every_previous_row(database_url: str) -> None:
    engine = db.make_engine(database_url, service="ingest")
    with engine.connect() as connection:
        for table, rows in PREVIOUS_ROWS.items():
            order = "id" if table == "uploads" else "token_id" if table == "tokens" else "sha256"
            found = [dict(r._mapping) for r in connection.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))]
            # Every row, with every value it had; columns later revisions added come with their defaults.
            assert [{name: row[name] for name in rows[0]} for row in found] == rows, table
            if table == "tokens":
                assert {row["ward"] for row in found} == {DEFAULT_WARD}  # tokens from before wards: the default's
        head = db.head_revision("ingest")
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version_ingest").all() == [(head,)]
    engine.dispose()


def test_the_three_sqlite_files_of_the_previous_code_are_adopted_with_every_row(tmp_path: Path) -> None:
    for file, ddl in PREVIOUS_DDL.items():
        with sqlite3.connect(tmp_path / file) as old:
            for statement in ddl + (OUTBOX_ALTERS if file == "ingest-catalog.sqlite3" else []):
                old.execute(statement)
            table = FILE_TABLE[file]
            for row in PREVIOUS_ROWS[table]:
                names = ", ".join(f'"{name}"' for name in row)
                old.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
        old.close()

    location = IngestSettings(data_dir=tmp_path).state_location()  # the new code's default, beside them
    state = open_state(location, tmp_path / "tus")
    assert_every_previous_row(location)
    assert state.catalog.pending() == [PENDING]
    upload = state.uploads.get("up-receiving")
    assert upload is not None and upload.offset == 1_000_000_000
    state.close()


async def test_a_database_made_with_the_previous_ddl_is_adopted_with_every_row(
    database_url: str, tmp_path: Path
) -> None:
    """The same tables in the database itself (one SQLite file, or PostgreSQL), the catalog from before the outbox."""
    engine = db.make_engine(database_url, service="ingest")
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("CREATE SCHEMA ingest")
        for statement in [*PREVIOUS_DDL["ingest-uploads.sqlite3"], *PREVIOUS_DDL["ingest-tokens.sqlite3"]]:
            # `offset` is a reserved word on PostgreSQL: quoted, as SQLite also accepts.
            connection.exec_driver_sql(statement.replace(" offset ", ' "offset" '))
        connection.exec_driver_sql(PREVIOUS_DDL["ingest-catalog.sqlite3"][0])
        for table, rows in PREVIOUS_ROWS.items():
            for row in rows:
                if table == "footage" and row["event"] is not None:
                    continue  # no outbox yet in this version
                values = {
                    k: v for k, v in row.items() if table != "footage" or k in ("sha256", "footage_id", "created_at")
                }
                names = ", ".join(f'"{name}"' for name in values)
                connection.execute(
                    text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + k for k in values)})"), values
                )
    engine.dispose()

    state = open_state(database_url, tmp_path / "tus")
    old_footage = PREVIOUS_ROWS["footage"][0]
    engine = db.make_engine(database_url, service="ingest")
    with engine.connect() as connection:
        for table, rows in PREVIOUS_ROWS.items():
            expected = [old_footage] if table == "footage" else rows
            found = [dict(r._mapping) for r in connection.execute(text(f"SELECT * FROM {table}"))]
            kept = [{name: row[name] for name in expected[0]} for row in found]  # later columns: their defaults
            assert sorted(kept, key=str) == sorted(expected, key=str), table
    engine.dispose()
    entry = state.catalog.find("a" * 64, "default")
    assert entry is not None and entry.announced and entry.event is None, "announced before the outbox kept events"
    assert state.catalog.reserve(PENDING) and state.catalog.pending() == [PENDING]
    upload = state.uploads.get("up-receiving")
    assert upload is not None and upload.length == 2_000_000_000
    state.uploads.set_offset("up-receiving", 4 * 1024**3 + 1, 1_765_065_600.5, "receiving")
    upload = state.uploads.get("up-receiving")
    assert upload is not None and (upload.offset, upload.expires_at) == (4 * 1024**3 + 1, 1_765_065_600.5)
    caller = await state.tokens.caller_of("no such token")
    assert caller is None and [t["token_id"] for t in state.tokens.list()] == ["tok1", "tok2"]
    state.close()


async def test_a_database_away_is_a_503_to_retry_not_a_server_error(tmp_path: Path) -> None:
    """PostgreSQL restarting (a failover, an upgrade): tus clients and the page are told to come back, in both
    languages, instead of a 500."""
    server = PostgresServer()
    server.start()
    try:
        settings = IngestSettings(
            data_dir=tmp_path, storage_root=tmp_path / "storage", database_url=server.new_database(),
            api_token_hashes=hash_token("admin-token"),
        )  # fmt: skip
        app = build_app(settings)  # its lifespan (Kafka) is not run: no request here announces anything
    finally:
        server.stop()  # then the request below
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://ingest") as client:
        answer = await client.get("/files/u1", headers={"Authorization": "Bearer admin-token"})
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5" and answer.headers["Tus-Resumable"] == "1.0.0"
    assert "database" in answer.json()["detail"] and "Cơ sở dữ liệu" in answer.json()["detail"]


def test_two_replicas_racing_on_one_range_commit_it_once(database_url: str, state: IngestState) -> None:
    replica = open_state(database_url, None)  # another replica, with the shared spool (no local file)
    try:
        upload = Upload(
            id=new_id(), length=100, offset=0, raw_metadata="", metadata_json="{}", owner="t",
            created_at=0.0, expires_at=1e12, state="receiving",
        )  # fmt: skip
        replica.uploads.create(upload)
        seen_here, seen_there = state.uploads.get(upload.id), replica.uploads.get(upload.id)
        assert seen_here is not None and seen_there is not None
        assert state.uploads.commit_part(seen_here, ("tus/a", 40), 1e12, "receiving")
        assert not replica.uploads.commit_part(seen_there, ("tus/b", 40), 1e12, "receiving"), "the range is taken"
        now = replica.uploads.get(upload.id)
        assert now is not None and (now.offset, now.parts) == (40, (("tus/a", 40),))
        assert replica.uploads.commit_part(now, ("tus/c", 60), 1e12, "received")
        done = state.uploads.get(upload.id)
        assert done is not None and (done.offset, done.state) == (100, "received")
        assert done.parts == (*now.parts, ("tus/c", 60))
        state.uploads.finish(upload.id, "terminated")
        assert not state.uploads.commit_part(done, None, 1e12, "received"), "an upload that ended takes nothing"
    finally:
        replica.close()


def test_one_request_at_a_time_finishes_an_upload_and_a_lapsed_claim_is_taken_over(
    database_url: str, state: IngestState
) -> None:
    store = state.uploads
    store.create(an_upload("u", expires_at=100.0))
    assert not store.claim_finish("u", "first", now=50.0, until=110.0), "not all bytes are in"
    store.set_offset("u", 1000, 100.0, "received")
    assert store.claim_finish("u", "first", now=50.0, until=110.0)
    assert not store.claim_finish("u", "second", now=60.0, until=120.0), "claimed"
    assert store.expired_ids(now=105.0) == [], "past its expiry, but being finished"
    assert not store.finish("u", "terminated", unclaimed_at=60.0), "no termination while it is being finished"
    assert store.renew_claim("u", "first", until=130.0)
    assert not store.claim_finish("u", "second", now=120.0, until=180.0), "renewed"
    # The first request's replica died: once its claim lapsed, another takes it over, and the first cannot renew.
    assert store.claim_finish("u", "second", now=131.0, until=191.0)
    assert not store.renew_claim("u", "first", until=200.0)
    store.release_claim("u", "first")  # the first's is gone already: the second's stays
    assert not store.claim_finish("u", "third", now=140.0, until=200.0)
    assert store.finish("u", "accepted", footage_id="f" * 32)
    assert not store.finish("u", "accepted", footage_id="g" * 32), "the first outcome recorded stays"
    assert not store.claim_finish("u", "third", now=500.0, until=560.0), "nothing left to finish"
    done = store.get("u")
    assert done is not None and (done.state, done.footage_id) == ("accepted", "f" * 32)
    # A retryable failure gives its claim up: the next request claims at once.
    store.create(an_upload("v", expires_at=100.0))
    store.set_offset("v", 1000, 100.0, "received")
    assert store.claim_finish("v", "first", now=50.0, until=110.0)
    store.release_claim("v", "first")
    assert store.claim_finish("v", "second", now=51.0, until=111.0)


def test_a_rate_limit_in_the_shared_database_counts_every_replica(postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    one, two = open_state(url, None), open_state(url, None)
    try:
        now = [1000.0]
        clock = lambda: now[0]  # noqa: E731
        limiters = [RateLimiter(1.0, 3, clock, engine=s.engine, name="api") for s in (one, two)]
        assert [limiters[i % 2].take("caller") for i in range(4)] == [0.0, 0.0, 0.0, 1.0]
        other = RateLimiter(1.0, 3, clock, engine=one.engine, name="verify")
        assert other.take("caller") == 0.0, "another limiter's bucket of the same key"
        now[0] += 1.0
        assert limiters[1].take("caller") == 0.0
        assert limiters[0].take("caller") == pytest.approx(1.0)
        assert RateLimiter.for_replicas(1.0, 3, one.engine, "api")._engine is one.engine
    finally:
        one.close()
        two.close()


def test_the_shared_rate_limit_sweeps_buckets_that_are_full_again(database_url: str, state: IngestState) -> None:
    now = [1000.0]
    limiter = RateLimiter(1.0, 3, lambda: now[0], engine=state.engine, name="api")
    other = RateLimiter(1.0, 3, lambda: now[0], engine=state.engine, name="verify")
    for key in ("once", "emptied", "recent"):
        limiter.take(key)
    limiter.take("emptied")
    limiter.take("emptied")  # 0 tokens left at 1000: full again at 1003
    other.take("once")
    now[0] = 1002.5
    limiter.take("recent")

    def keys() -> set[str]:
        with state.engine.connect() as connection:
            return set(connection.execute(select(rate_buckets.c.key)).scalars())

    assert limiter.sweep(1003.5) == 2, "full again: 'once' and 'emptied'; 'recent' is refilling"
    assert keys() == {"api:recent", "verify:once"}, "another limiter's buckets are its own to sweep"
    now[0] = 1003.5
    assert [limiter.take("emptied") for _ in range(4)] == [0.0, 0.0, 0.0, 1.0], "swept: starts full"
