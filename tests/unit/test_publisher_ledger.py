"""The SQLite ledger: states, sessions, schedule, claims, rotating tokens, and the first version's schema."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loa_core.secrets import SecretBox, new_key
from loa_core.streaming import PermanentError
from loa_publisher.ledger import Ledger, PostKey, PostState

KEY = PostKey("a" * 32, "ward-yt", "youtube")
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KEY_TEXT = new_key()
BOX = SecretBox([KEY_TEXT])


def test_states_and_session_survive_a_reopen(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite3")
    ledger.mark_pending(KEY, '{"e": 1}', "default")
    ledger.save_session(KEY, {"uri": "http://x/upload?upload_id=1", "size": 10})
    ledger.close()
    ledger = Ledger.open(tmp_path / "l.sqlite3")
    entry = ledger.get(*vars(KEY).values())
    assert entry is not None and entry.state is PostState.UPLOADING
    assert entry.session == {"uri": "http://x/upload?upload_id=1", "size": 10}
    assert entry.request == '{"e": 1}'
    ledger.mark_pending(KEY, '{"e": 1}', "default")  # a retry keeps the session to resume it
    assert ledger.get(*vars(KEY).values()).session is not None  # type: ignore[union-attr]
    ledger.mark_posted(KEY, post_id="v1", url="https://y/v1", published_at=NOW)
    entry = ledger.get(*vars(KEY).values())
    assert entry is not None and (entry.state, entry.post_id, entry.published_at) == (PostState.POSTED, "v1", NOW)


def test_schedule_due_and_claim_once(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite3")
    ledger.schedule(KEY, NOW + timedelta(hours=1), request="{}", ward="default")
    assert ledger.due(NOW) == []
    assert ledger.next_due() == NOW + timedelta(hours=1)
    due = ledger.due(NOW + timedelta(hours=1))
    assert [e.key for e in due] == [KEY]
    assert ledger.claim_due(KEY) is True
    assert ledger.claim_due(KEY) is False  # a second worker does not get it
    assert ledger.get(*vars(KEY).values()).state is PostState.PENDING  # type: ignore[union-attr]


def test_retry_failed_makes_failed_posts_due(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite3", clock=lambda: NOW)
    other = PostKey(KEY.footage_id, "ward-tt", "tiktok")
    ledger.mark_pending(KEY, "{}", "default")
    ledger.mark_failed(KEY, "youtube: HTTP 403: forbidden")
    ledger.mark_pending(other, "{}", "default")
    ledger.mark_posted(other, post_id="p", url="u", published_at=NOW)
    assert ledger.retry_failed(KEY.footage_id, None) == [KEY]
    entry = ledger.get(*vars(KEY).values())
    assert entry is not None and entry.state is PostState.SCHEDULED and entry.due_at == NOW and entry.error is None
    assert ledger.retry_failed(KEY.footage_id, None) == []


def test_a_retry_is_confined_to_the_posts_ward(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite3", clock=lambda: NOW)
    ledger.mark_pending(KEY, "{}", "ward-a")
    ledger.mark_failed(KEY, "youtube: HTTP 403: forbidden")
    assert ledger.get(*vars(KEY).values()).ward == "ward-a"  # type: ignore[union-attr]
    assert ledger.retry_failed(KEY.footage_id, "ward-b") is None, "another ward's footage: as if unknown"
    assert ledger.retry_failed("b" * 32, "ward-a") is None
    assert ledger.get(*vars(KEY).values()).state is PostState.FAILED  # type: ignore[union-attr]
    assert ledger.retry_failed(KEY.footage_id, "ward-a") == [KEY]


def stored_tokens(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT token FROM connection_tokens")]


def test_refresh_tokens_rotate_durably_encrypted_per_connection(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.sqlite3", secrets=BOX)
    assert ledger.refresh_token("oa", "conn-1") is None
    ledger.store_refresh_token("oa", "conn-1", "1//refresh-one")
    ledger.store_refresh_token("oa", "conn-1", "1//refresh-two")
    ledger.close()
    ledger = Ledger.open(tmp_path / "l.sqlite3", secrets=BOX)
    assert ledger.refresh_token("oa", "conn-1") == "1//refresh-two"
    # Connected again: the new connection never starts from the token of the one it replaced.
    assert ledger.refresh_token("oa", "conn-2") is None
    assert ledger.refresh_token("other", "conn-1") is None
    # A Fernet token is urlsafe base64 (no "/"): it can hold "r2" by chance (~3% of runs), never this.
    stored = stored_tokens(tmp_path / "l.sqlite3")
    assert stored and all("1//refresh-two" not in t for t in stored)
    assert (tmp_path / "l.sqlite3").stat().st_mode & 0o077 == 0  # tokens inside: owner only


def test_tokens_need_the_key_and_follow_its_rotation(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    ledger = Ledger.open(path, secrets=BOX)
    ledger.store_refresh_token("oa", "", "r1")
    ledger.close()
    without = Ledger.open(path)
    with pytest.raises(PermanentError, match=r"LOA_SECRET_KEY.*Chưa có khóa"):
        without.refresh_token("oa", "")
    with pytest.raises(PermanentError, match="LOA_SECRET_KEY"):
        without.store_refresh_token("oa", "", "r2")
    with pytest.raises(PermanentError, match="cannot be decrypted") as wrong:
        Ledger.open(path, secrets=SecretBox([new_key()])).refresh_token("oa", "")
    assert "r1" not in str(wrong.value)
    # A new key put first: the ledger re-encrypts with it when it opens, and the old key can then go.
    newer = new_key()
    before = stored_tokens(path)
    Ledger.open(path, secrets=SecretBox([newer, KEY_TEXT])).close()
    assert stored_tokens(path) != before
    assert Ledger.open(path, secrets=SecretBox([newer])).refresh_token("oa", "") == "r1"


def test_a_first_version_ledger_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE posts (footage_id TEXT NOT NULL, channel TEXT NOT NULL, profile TEXT NOT NULL,"
        " state TEXT NOT NULL,"
        " post_id TEXT, url TEXT, published_at TEXT, error TEXT, updated_at TEXT NOT NULL,"
        " PRIMARY KEY (footage_id, channel, profile))"
    )
    db.execute(
        "INSERT INTO posts VALUES (?, ?, ?, 'POSTED', 'p', 'u', ?, NULL, ?)",
        (*vars(KEY).values(), NOW.isoformat(), NOW.isoformat()),
    )
    db.commit()
    db.close()
    entry = Ledger.open(path).get(*vars(KEY).values())
    assert entry is not None and entry.state is PostState.POSTED and entry.session is None
