"""The ledger's contract on both backends: SQLite (embedded) and a real PostgreSQL server (shared by replicas)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from loa_core.channels import Channel
from loa_core.hashing import sha256_file
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


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'ledger.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()


def get(ledger: Ledger, key: PostKey = KEY):  # type: ignore[no-untyped-def]
    return ledger.get(key.footage_id, key.channel, key.profile)


def test_lifecycle_survives_reconnect(location: str) -> None:
    ledger = Ledger.open(location)
    assert ledger.shared is location.startswith("postgresql://")  # several workers may share it
    ledger.mark_pending(KEY, '{"event": "Lễ chào cờ"}')
    ledger.save_session(KEY, {"uri": "https://upload/x?upload_id=1", "size": 123})
    ledger.close()
    ledger = Ledger.open(location)  # a restarted publisher
    entry = get(ledger)
    assert entry.state is PostState.UPLOADING and entry.session == {"uri": "https://upload/x?upload_id=1", "size": 123}
    assert entry.request == '{"event": "Lễ chào cờ"}'
    ledger.clear_session(KEY)
    assert get(ledger).session is None
    ledger.mark_posted(KEY, post_id="vid1", url="https://youtu.be/vid1", published_at=NOW)
    entry = get(ledger)
    assert (entry.state, entry.post_id, entry.published_at) == (PostState.POSTED, "vid1", NOW)
    ledger.close()


def test_schedule_due_claim_and_retry(location: str) -> None:
    ledger = Ledger.open(location)
    ledger.schedule(KEY, NOW + timedelta(minutes=5), request="{}", reason="youtube: quota")
    assert ledger.due(NOW) == [] and ledger.next_due() == NOW + timedelta(minutes=5)
    assert [e.key for e in ledger.due(NOW + timedelta(minutes=5))] == [KEY]
    # Two replicas race for the same held post: exactly one gets it.
    other = Ledger.open(location)
    assert [ledger.claim_due(KEY), other.claim_due(KEY)] == [True, False]
    other.close()
    ledger.mark_failed(KEY, "youtube: HTTP 403: forbidden")
    assert get(ledger).error == "youtube: HTTP 403: forbidden"
    assert ledger.retry_failed(KEY.footage_id) == [KEY]
    assert get(ledger).state is PostState.SCHEDULED and ledger.retry_failed(KEY.footage_id) == []
    ledger.close()


def test_rotating_refresh_tokens(location: str) -> None:
    ledger = Ledger.open(location)
    assert ledger.refresh_token("ward-oa") is None
    ledger.store_refresh_token("ward-oa", "zrt-2")
    ledger.store_refresh_token("ward-oa", "zrt-3")
    ledger.close()
    assert Ledger.open(location).refresh_token("ward-oa") == "zrt-3"


async def test_an_interrupted_youtube_upload_resumes_from_the_stored_session(location: str, tmp_path: Path) -> None:
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
            ledger = Ledger.open(location)
            first = YouTubeAdapter(
                storage, http, secrets, ledger, chunk_size=ALIGN, policy=RetryPolicy(attempts=2, initial_s=0.01)
            )
            with pytest.raises(RetryableError):
                await first.publish(request, ledger_session(ledger, KEY))
            ledger.close()
            ledger = Ledger.open(location)  # a restarted publisher, possibly another replica
            second = YouTubeAdapter(storage, http, secrets, ledger, chunk_size=ALIGN, policy=FAST)
            result = await second.publish(request, ledger_session(ledger, KEY))
            ledger.close()
        assert list(emulator.videos) == [result.post_id] and len(emulator.sessions) == 1
        assert sha256_file(emulator.videos[result.post_id].path) == sha256_file(storage.root / rendition.key)


def test_postgres_ledger_reconnects_after_a_server_restart(postgres: PostgresServer) -> None:
    ledger = Ledger.open(postgres.new_database())
    ledger.mark_pending(KEY, "{}")
    postgres.restart()  # every connection is cut; the next statement reconnects
    ledger.save_session(KEY, {"uri": "u", "size": 1})
    assert get(ledger).session == {"uri": "u", "size": 1}
    ledger.close()


def test_abandoned_in_flight_posts_are_reclaimed_once(location: str) -> None:
    ledger, other = Ledger.open(location, clock=lambda: NOW), Ledger.open(location, clock=lambda: NOW)
    ledger.mark_pending(KEY, "{}")
    ledger.save_session(KEY, {"uri": "u", "size": 1})
    assert ledger.reclaim_abandoned(timedelta(minutes=5)) == []  # its heartbeat is fresh
    assert [ledger.reclaim_abandoned(timedelta(0)), other.reclaim_abandoned(timedelta(0))] == [[KEY], []]
    entry = get(ledger)
    assert entry.state is PostState.SCHEDULED and entry.due_at == NOW and entry.session == {"uri": "u", "size": 1}
    ledger.close()
    other.close()
