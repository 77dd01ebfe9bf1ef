"""What every HTTP adapter shares: backoff honouring Retry-After, error messages, chunked reads from storage."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from loa_core.observability import redact
from loa_core.storage import ObjectNotFound, Storage
from loa_core.streaming import PermanentError, RetryableError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for 5xx, 429 and dropped connections: full jitter, capped, never shorter than Retry-After."""

    attempts: int = 8
    initial_s: float = 1.0
    max_s: float = 60.0


class Transient(Exception):
    """One attempt failed in a way worth repeating (5xx, 429, a dropped connection)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as delta-seconds, or as an HTTP date counted from the response's own Date (RFC 9110 §10.2.3;
    the server's clock, so ours needs neither to agree with it nor to be read). None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when, sent = _http_date(value), _http_date(response.headers.get("date"))
    if when is None or sent is None:
        return None
    return max(0.0, (when - sent).total_seconds())


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def platform_message(response: httpx.Response, limit: int = 500) -> str:
    """The platform's own words for an error, redacted and short enough for an event."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        text = _find_message(body) or json.dumps(body, ensure_ascii=False)
    return redact(f"HTTP {response.status_code}: {text}")[:limit]


def _find_message(body: object) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or error)
        for key in ("message", "error_description", "error"):
            if body.get(key):
                return str(body[key])
    return None


def transient_for(response: httpx.Response) -> Transient | None:
    """A Transient for 5xx and 429 answers; None for everything else. `with_backoff` says which step it was."""
    if response.status_code == 429 or response.status_code >= 500:
        return Transient(platform_message(response), retry_after_seconds(response))
    return None


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        # Full jitter (AWS architecture blog): uniform in [0, min(cap, initial * 2^n)], so replicas spread out.
        ceiling = min(policy.max_s, policy.initial_s * 2 ** (state.attempt_number - 1))
        delay = random.uniform(0, ceiling)  # noqa: S311 — jitter, not cryptography
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Transient) and exc.retry_after_s is not None:
            delay = max(delay, exc.retry_after_s)
        return delay

    return wait


async def with_backoff(policy: RetryPolicy, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run `attempt` until it succeeds; Transient and transport errors are retried, then become RetryableError."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type((Transient, httpx.TransportError)),
        wait=_wait(policy),
        stop=stop_after_attempt(policy.attempts),
        reraise=True,
    )
    try:
        async for try_ in retrying:
            with try_:
                return await attempt()
    except (Transient, httpx.TransportError) as exc:
        raise RetryableError(
            f"{what}: gave up after {policy.attempts} attempts: {redact(str(exc)) or type(exc).__name__}"
        ) from exc
    raise AssertionError("unreachable")  # pragma: no cover — AsyncRetrying either returns or raises


async def stored_size(storage: Storage, key: str) -> int:
    """The size of a stored cut, asked off the event loop (a stat, or a HEAD to S3); errors mapped as
    transcode's `_download` maps them: gone is permanent, storage unavailable is worth retrying."""
    try:
        return await asyncio.to_thread(storage.size, key)
    except ObjectNotFound as exc:
        raise PermanentError(f"{key} is not in storage") from exc
    except OSError as exc:
        raise RetryableError(f"storage unavailable while reading {key}: {exc}") from exc


class RangeReader:
    """Reads a stored object in chunks at arbitrary offsets with bounded memory (one chunk plus one read ahead).

    The next chunk is read in a thread while the current one is on the wire, so the upload is not slowed by
    storage. Seeks when the stream can; otherwise skips forward, or reopens to go back (an S3 body).
    """

    def __init__(self, storage: Storage, key: str, size: int) -> None:
        self._storage = storage
        self._key = key
        self.size = size
        self._stream: BinaryIO | None = None
        self._pos = 0
        self._ahead: tuple[int, int, asyncio.Future[bytes]] | None = None
        # One reader thread per upload, not the loop's shared pool: glibc gives each thread its own malloc
        # arena, and multi-MB chunks freed across half a dozen arenas kept ~100 MB of RSS that one arena reuses.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loa-range-reader")

    def _in_thread(self, offset: int, length: int) -> asyncio.Future[bytes]:
        return asyncio.get_running_loop().run_in_executor(self._thread, self._read_sync, offset, length)

    async def read(self, offset: int, length: int) -> bytes:
        length = min(length, self.size - offset)
        data: bytes | None = None
        if self._ahead is not None:
            ahead_offset, ahead_length, task = self._ahead
            self._ahead = None
            got = await task  # always awaited: the thread owns the stream until it finishes
            if ahead_offset == offset and ahead_length == length:
                data = got
        if data is None:
            data = await self._in_thread(offset, length)
        following = offset + len(data)
        if following < self.size:
            next_length = min(length, self.size - following)
            self._ahead = (following, next_length, self._in_thread(following, next_length))
        return data

    async def stream(self, offset: int, piece: int = 1024 * 1024, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [offset, end) (default: to the end of the object), piece by piece: a streamed request body."""
        end = self.size if end is None else min(end, self.size)
        while offset < end:
            data = await self.read(offset, min(piece, end - offset))
            offset += len(data)
            yield data

    def _read_sync(self, offset: int, length: int) -> bytes:
        """`_read` with storage's failures as the adapters' (as `stored_size` maps them)."""
        try:
            return self._read(offset, length)
        except ObjectNotFound as exc:
            raise PermanentError(f"{self._key} is not in storage") from exc
        except OSError as exc:  # StorageUnavailable, or the body's connection dropped mid-read
            broken, self._stream = self._stream, None  # not read again: the next read reopens
            if broken is not None:
                with contextlib.suppress(Exception):
                    broken.close()
            raise RetryableError(f"storage unavailable while reading {self._key}: {exc}") from exc

    def _read(self, offset: int, length: int) -> bytes:
        if self._stream is None or (offset < self._pos and not self._stream.seekable()):
            self._reopen()
        assert self._stream is not None
        if offset != self._pos:
            if self._stream.seekable():
                self._stream.seek(offset)
                self._pos = offset
            else:
                while self._pos < offset:
                    skipped = self._stream.read(min(1024 * 1024, offset - self._pos))
                    if not skipped:
                        raise RetryableError(f"storage object {self._key} ended at {self._pos} bytes")
                    self._pos += len(skipped)
        parts: list[bytes] = []
        wanted = length
        while wanted > 0:
            part = self._stream.read(wanted)
            if not part:
                raise RetryableError(f"storage object {self._key} is shorter than {self.size} bytes")
            parts.append(part)
            wanted -= len(part)
        self._pos += length
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _reopen(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = self._storage.open_read(self._key)
        self._pos = 0

    async def aclose(self) -> None:
        if self._ahead is not None:
            with contextlib.suppress(Exception):
                await self._ahead[2]
            self._ahead = None
        if self._stream is not None:
            # Closing an S3 body talks to the network: on the reader's thread, like every other storage call.
            await asyncio.get_running_loop().run_in_executor(self._thread, self._stream.close)
            self._stream = None
        self._thread.shutdown(wait=False)
