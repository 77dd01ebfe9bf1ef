"""Backoff, Retry-After, error messages, secrets lookup and the TikTok chunk rules (pure parts, no network)."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from loa_core.storage import LocalStorage, StorageUnavailable
from loa_core.streaming import RetryableError
from loa_publisher.adapters import PermanentError
from loa_publisher.adapters.http import (
    RangeReader,
    RetryPolicy,
    Transient,
    _wait,
    platform_message,
    retry_after_seconds,
)
from loa_publisher.adapters.youtube import next_quota_reset
from loa_publisher.auth import Secrets


class _State:
    def __init__(self, attempt: int, exc: BaseException) -> None:
        self.attempt_number = attempt

        class _Outcome:
            def exception(self_inner) -> BaseException:
                return exc

        self.outcome = _Outcome()


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    sent = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    date, when = (email.utils.format_datetime(t, usegmt=True) for t in (sent, sent + timedelta(seconds=120)))
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": when, "Date": date})) == 120.0
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": date, "Date": when})) == 0.0
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": when})) is None  # no Date to count from
    assert retry_after_seconds(httpx.Response(503)) is None
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": "soon"})) is None


def test_backoff_has_jitter_a_cap_and_honours_retry_after() -> None:
    wait = _wait(RetryPolicy(attempts=10, initial_s=1.0, max_s=8.0))
    plain = [
        wait(
            _State(n, Transient("x")),
        )
        for n in range(1, 10)
        for _ in range(20)
    ]  # type: ignore[arg-type]
    assert all(0 <= d <= 8.0 for d in plain)
    assert len({round(d, 6) for d in plain}) > 100  # jittered, not a fixed ladder
    assert wait(_State(1, Transient("x", retry_after_s=30.0))) >= 30.0  # type: ignore[arg-type]


def test_platform_message_is_redacted() -> None:
    response = httpx.Response(400, json={"error": {"message": "bad access_token=abc123 given"}})
    message = platform_message(response)
    assert "abc123" not in message and "HTTP 400" in message


def test_secrets_from_env_then_files_and_missing_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / "ward-yt").mkdir()
    (tmp_path / "ward-yt" / "client_secret").write_text("from-file\n")
    secrets = Secrets(tmp_path, {"LOA_SECRET_WARD_YT_CLIENT_ID": "from-env"})
    assert secrets.get("ward-yt", "client_id") == "from-env"
    assert secrets.get("ward-yt", "client_secret") == "from-file"
    with pytest.raises(PermanentError, match="LOA_SECRET_WARD_YT_REFRESH_TOKEN"):
        secrets.require("ward-yt", "refresh_token")


def test_quota_resets_after_midnight_pacific() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # 04:00 in Los Angeles
    reset = next_quota_reset(now)
    assert reset > now and reset - now < timedelta(hours=25)
    assert reset.astimezone(UTC).hour in (8, 7)  # 00:05 PST/PDT


class _Unseekable:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        piece = self._data[self._pos : self._pos + n]
        self._pos += len(piece)
        return piece

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def test_range_reader_reads_any_offset_from_seekable_and_unseekable_streams(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4000
    storage = LocalStorage(tmp_path)
    (tmp_path / "k").write_bytes(data)
    reader = RangeReader(storage, "k", len(data))
    assert await reader.read(0, 1000) == data[:1000]
    assert await reader.read(1000, 1000) == data[1000:2000]  # the read-ahead
    assert await reader.read(500, 10) == data[500:510]  # back (a resume from the server's Range)
    assert await reader.read(len(data) - 5, 1000) == data[-5:]
    await reader.aclose()

    class _S3Like(LocalStorage):
        def open_read(self, key: str) -> Any:
            return _Unseekable(data)

    reader = RangeReader(_S3Like(tmp_path), "k", len(data))
    assert await reader.read(300_000, 100) == data[300_000:300_100]
    assert await reader.read(10, 10) == data[10:20]  # reopened to go back
    assert b"".join([p async for p in reader.stream(len(data) - 3000, piece=1024)]) == data[-3000:]
    await reader.aclose()


async def test_range_reader_storage_away_is_retryable_and_gone_is_permanent(tmp_path: Path) -> None:
    """As stored_size maps them: S3 unreachable (StorageUnavailable, an OSError) is worth retrying, a missing
    object is not; and the reader reads again once storage is back."""
    data = b"x" * 5000
    (tmp_path / "k").write_bytes(data)
    away = True

    class _Flaky(LocalStorage):
        def open_read(self, key: str) -> Any:
            if away:
                raise StorageUnavailable("S3 bucket 'loa' unavailable: connection refused")
            return super().open_read(key)

    reader = RangeReader(_Flaky(tmp_path), "k", len(data))
    with pytest.raises(RetryableError, match="storage unavailable"):
        await reader.read(0, 100)
    away = False
    assert await reader.read(0, 100) == data[:100]
    await reader.aclose()
    gone = RangeReader(LocalStorage(tmp_path), "missing", 10)
    with pytest.raises(PermanentError, match="not in storage"):
        await gone.read(0, 10)
    await gone.aclose()
