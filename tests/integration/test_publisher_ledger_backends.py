"""The ledger's contract on both backends: SQLite (embedded) and a real PostgreSQL server (shared by replicas)."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier as BarrierType
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from loa_core import db
from loa_core.channels import Channel
from loa_core.hashing import sha256_file
from loa_core.secrets import SecretBox, new_key
from loa_core.storage import LocalStorage
from loa_publisher.adapters import RetryableError
from loa_publisher.adapters.http import RetryPolicy
from loa_publisher.adapters.youtube import YouTubeAdapter
from loa_publisher.auth import Secrets
from loa_publisher.ledger import Ledger, PostKey, PostState
from tests.support.emulators.youtube import ALIGN, YouTubeEmulator
from tests.support.postgres import PostgresServer
from tests.support.publishing import FAST, ledger_session, metadata, request_for, stored_rendition

KEY = PostKey("b" * 32, "ward-yt", "youtube")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


BOX = SecretBox([new_key()])


def stored_tokens(database_url: str) -> str:
    """Every refresh token column as the database holds it."""
    engine = db.make_engine(database_url, service="publisher")
    with engine.connect() as connection:
        stored = " ".join(str(t) for t in connection.exec_driver_sql("SELECT token FROM connection_tokens").scalars())
    engine.dispose()
    return stored


def get(ledger: Ledger, key: PostKey = KEY):  # type: ignore[no-untyped-def]
    return ledger.get(key.footage_id, key.channel, key.profile)


def test_lifecycle_survives_reconnect(database_url: str) -> None:
    ledger = Ledger.open(database_url)
    assert ledger.shared is database_url.startswith("postgresql://")  # several workers may share it
    ledger.mark_pending(KEY, '{"event": "Lễ chào cờ"}', "default")
    ledger.save_session(KEY, {"uri": "https://upload/x?upload_id=1", "size": 123})
    ledger.close()
    ledger = Ledger.open(database_url)  # a restarted publisher
    entry = get(ledger)
    assert entry.state is PostState.UPLOADING and entry.session == {"uri": "https://upload/x?upload_id=1", "size": 123}
    assert entry.request == '{"event": "Lễ chào cờ"}'
    ledger.clear_session(KEY)
    assert get(ledger).session is None
    ledger.mark_posted(KEY, post_id="vid1", url="https://youtu.be/vid1", published_at=NOW)
    entry = get(ledger)
    assert (entry.state, entry.post_id, entry.published_at) == (PostState.POSTED, "vid1", NOW)
    ledger.close()


def test_schedule_due_claim_and_retry(database_url: str) -> None:
    ledger = Ledger.open(database_url)
    ledger.schedule(KEY, NOW + timedelta(minutes=5), request="{}", ward="default", reason="youtube: quota")
    assert ledger.due(NOW) == [] and ledger.next_due() == NOW + timedelta(minutes=5)
    assert [e.key for e in ledger.due(NOW + timedelta(minutes=5))] == [KEY]
    # Two replicas race for the same held post: exactly one gets it.
    other = Ledger.open(database_url)
    assert [ledger.claim_due(KEY), other.claim_due(KEY)] == [True, False]
    other.close()
    ledger.mark_failed(KEY, "youtube: HTTP 403: forbidden")
    assert get(ledger).error == "youtube: HTTP 403: forbidden"
    assert ledger.retry_failed(KEY.footage_id, None) == [KEY]
    assert get(ledger).state is PostState.SCHEDULED and ledger.retry_failed(KEY.footage_id, None) == []
    ledger.close()


def test_rotating_refresh_tokens(database_url: str) -> None:
    ledger = Ledger.open(database_url, secrets=BOX)
    assert ledger.refresh_token("ward-oa", "") is None
    ledger.store_refresh_token("ward-oa", "", "zrt-2")
    ledger.store_refresh_token("ward-oa", "", "zrt-3")
    ledger.store_refresh_token("ward-oa", "c2", "zrt-new")  # the channel connected again
    ledger.close()
    reopened = Ledger.open(database_url, secrets=BOX)
    assert reopened.refresh_token("ward-oa", "") == "zrt-3"
    assert reopened.refresh_token("ward-oa", "c2") == "zrt-new"
    assert reopened.refresh_token("ward-oa", "c3") is None
    assert "zrt" not in stored_tokens(database_url)


async def test_an_interrupted_youtube_upload_resumes_from_the_stored_session(database_url: str, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    rendition = stored_rendition(storage, 6 * ALIGN + 99, footage_id=KEY.footage_id)
    with YouTubeEmulator(tmp_path / "yt") as emulator:
        channel = Channel(
            name="ward-yt",
            platform="youtube",
            profiles=("youtube",),
            options={"base_url": emulator.base_url, "token_url": f"{emulator.base_url}/token"},
        )
        secrets = Secrets(
            None,
            {
                "LOA_SECRET_WARD_YT_CLIENT_ID": emulator.client_id,
                "LOA_SECRET_WARD_YT_CLIENT_SECRET": emulator.client_secret,
                "LOA_SECRET_WARD_YT_REFRESH_TOKEN": emulator.refresh_token,
            },
        )
        request = request_for(channel, rendition, KEY.footage_id, metadata(("ward-yt",)))
        emulator.inject("status", on="chunk", status=503, times=2, skip=2)  # two chunks in, the platform fails
        async with httpx.AsyncClient(timeout=30) as http:
            ledger = Ledger.open(database_url)
            first = YouTubeAdapter(
                storage, http, secrets, ledger, chunk_size=ALIGN, policy=RetryPolicy(attempts=2, initial_s=0.01)
            )
            with pytest.raises(RetryableError):
                await first.publish(request, ledger_session(ledger, KEY))
            ledger.close()
            ledger = Ledger.open(database_url)  # a restarted publisher, possibly another replica
            second = YouTubeAdapter(storage, http, secrets, ledger, chunk_size=ALIGN, policy=FAST)
            result = await second.publish(request, ledger_session(ledger, KEY))
            ledger.close()
        assert list(emulator.videos) == [result.post_id] and len(emulator.sessions) == 1
        assert sha256_file(emulator.videos[result.post_id].path) == sha256_file(storage.root / rendition.key)


def test_postgres_ledger_reconnects_after_a_server_restart(postgres_server: PostgresServer) -> None:
    ledger = Ledger.open(postgres_server.new_database())
    ledger.mark_pending(KEY, "{}", "default")
    postgres_server.restart()  # every connection is cut; the next statement reconnects
    ledger.save_session(KEY, {"uri": "u", "size": 1})
    assert get(ledger).session == {"uri": "u", "size": 1}
    ledger.close()


def test_abandoned_in_flight_posts_are_reclaimed_once(database_url: str) -> None:
    ledger, other = Ledger.open(database_url, clock=lambda: NOW), Ledger.open(database_url, clock=lambda: NOW)
    ledger.mark_pending(KEY, "{}", "default")
    ledger.save_session(KEY, {"uri": "u", "size": 1})
    assert ledger.reclaim_abandoned(timedelta(minutes=5)) == []  # its heartbeat is fresh
    assert [ledger.reclaim_abandoned(timedelta(0)), other.reclaim_abandoned(timedelta(0))] == [[KEY], []]
    entry = get(ledger)
    assert entry.state is PostState.SCHEDULED and entry.due_at == NOW and entry.session == {"uri": "u", "size": 1}
    ledger.close()
    other.close()


# The schema the hand-written ledger made (its last version, before Alembic), on SQLite and PostgreSQL alike.
PREVIOUS_DDL = [
    """CREATE TABLE IF NOT EXISTS posts (
    footage_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    profile TEXT NOT NULL,
    state TEXT NOT NULL,
    post_id TEXT,
    url TEXT,
    published_at TEXT,
    error TEXT,
    updated_at TEXT NOT NULL,
    session TEXT,
    due_at TEXT,
    request TEXT,
    failing_since TEXT,
    PRIMARY KEY (footage_id, channel, profile)
)""",
    "CREATE TABLE IF NOT EXISTS refresh_tokens "
    "(channel TEXT PRIMARY KEY, token TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS posts_due ON posts (state, due_at)",
]
POSTED = PostKey("c" * 32, "ward-yt", "youtube")
HELD = PostKey("c" * 32, "ward-tt", "tiktok")
UPLOADING = PostKey("d" * 32, "ward-fb", "youtube")
PREVIOUS_ROWS = [
    {**vars(POSTED), "state": "POSTED", "post_id": "vid9", "url": "https://youtu.be/vid9"},
    {**vars(HELD), "state": "SCHEDULED", "error": "tiktok: HTTP 503", "session": '{"publish_id": "p1"}'},
    {**vars(UPLOADING), "state": "UPLOADING", "session": '{"size": 7, "uri": "https://upload/fb"}'},
]


def test_a_ledger_made_by_the_previous_code_is_adopted_with_every_row(database_url: str) -> None:
    columns = [
        *("footage_id", "channel", "profile", "state", "post_id", "url", "published_at", "error", "updated_at"),
        *("session", "due_at", "request", "failing_since"),
    ]
    times = {
        "updated_at": NOW.isoformat(),
        "published_at": NOW.isoformat(),
        "due_at": (NOW + timedelta(minutes=5)).isoformat(),
        "failing_since": (NOW - timedelta(hours=1)).isoformat(),
    }
    rows = [
        {c: row.get(c, times.get(c)) for c in columns} | {"request": f"req-{i}"} for i, row in enumerate(PREVIOUS_ROWS)
    ]
    engine = db.make_engine(database_url)
    with engine.begin() as connection:
        for statement in PREVIOUS_DDL:
            connection.exec_driver_sql(statement)
        insert = f"INSERT INTO posts ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
        connection.execute(text(insert), rows)
        connection.exec_driver_sql(
            "INSERT INTO refresh_tokens (channel, token, updated_at) VALUES ('ward-oa', 'zrt-7', '2026-11-01')"
        )
    engine.dispose()

    ledger = Ledger.open(database_url, secrets=BOX)  # the new code starts on it: adopts it, encrypts its token
    entries = {e.key: e for footage in ("c" * 32, "d" * 32) for e in ledger.entries(footage)}
    assert len(entries) == len(rows)
    for row in rows:
        entry = entries[PostKey(row["footage_id"], row["channel"], row["profile"])]
        assert (entry.state.value, entry.post_id, entry.url, entry.error, entry.request) == (
            row["state"], row["post_id"], row["url"], row["error"], row["request"]
        )  # fmt: skip
        assert entry.session == (json.loads(row["session"]) if row["session"] else None)
        assert (entry.updated_at, entry.published_at, entry.due_at, entry.failing_since) == (
            NOW, NOW, NOW + timedelta(minutes=5), NOW - timedelta(hours=1)
        )  # fmt: skip
    assert [e.key for e in ledger.due(NOW + timedelta(minutes=5))] == [HELD]
    assert "zrt-7" not in stored_tokens(database_url)  # encrypted in place with the operator's key
    assert ledger.refresh_token("ward-oa", "") == "zrt-7"  # the env/secret-file connection's
    ledger.close()
    with db.make_engine(database_url, service="publisher").connect() as connection:
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version_publisher").all()
        assert versions == [(db.head_revision("publisher"),)]


def _open_at_once(url: str, start: BarrierType, opened: Queue[str]) -> None:
    """One replica starting (a forked process, as replicas are separate processes)."""
    start.wait()
    ledger = Ledger.open(url)
    opened.put(str(ledger.refresh_token("ward-oa", "")))
    ledger.close()


def test_replicas_starting_together_migrate_once(postgres_server: PostgresServer) -> None:
    url = postgres_server.new_database()
    fork = multiprocessing.get_context("fork")  # the children start with this process's imports: no start-up cost
    start, opened = fork.Barrier(4), fork.Queue()
    replicas = [fork.Process(target=_open_at_once, args=(url, start, opened)) for _ in range(4)]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.join(timeout=60)
    assert [replica.exitcode for replica in replicas] == [0] * 4
    assert sorted(opened.get(timeout=1) for _ in replicas) == ["None"] * 4
