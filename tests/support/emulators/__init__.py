"""Platform emulators: real HTTP servers (aiohttp) on free loopback ports, strict about each documented protocol.

Each runs its own event loop in a thread, so a synchronous test, an async test or a publisher in another process
can all talk to it. Faults are injected with `inject(...)` and consumed by the first request they match.
Uploaded bytes go to files under `root`, so a 1 GB upload costs disk, not memory.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    """`kind`: drop (close the connection after `after_bytes` of the body), status (answer `status`),
    expire_token (revoke every access token, so this request gets a 401), expire_session (the upload session
    is gone: 404), quota (the platform's quota error)."""

    kind: str
    on: str  # which request kind it applies to, e.g. "chunk", "init", "status", "token"
    status: int = 500
    retry_after: str | None = None
    after_bytes: int = 0
    times: int = 1
    skip: int = 0  # let this many matching requests through first


@dataclass
class Stored:
    """One finished upload as the platform would keep it."""

    id: str
    path: Path
    size: int
    meta: dict[str, Any] = field(default_factory=dict)


class Emulator:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.requests: list[tuple[str, str]] = []  # (kind, detail) of every request, for assertions
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        # Access tokens this emulator accepts; the OAuth endpoint mints them.
        self.valid_tokens: set[str] = set()
        self.minted: list[str] = []  # every access token ever issued (a test looks for them in logs)
        self.refresh_calls = 0
        self._skew_s = 0.0

    # --- time: `advance` moves the platform's clock (an hour passing for an upload URL) without waiting

    def now(self) -> float:
        return time.monotonic() + self._skew_s

    def advance(self, seconds: float) -> None:
        self._skew_s += seconds

    # --- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # noqa: BLE001 — surfaced to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("emulator did not start")
        if errors:
            raise errors[0]

    async def _serve(self) -> None:
        app = web.Application(client_max_size=1024**3)
        self.routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers for subclasses

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def inject(self, kind: str, on: str, **params: Any) -> None:
        with self._lock:
            self._faults.append(Fault(kind=kind, on=on, **params))

    def take_fault(self, on: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.on == on:
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def mint_token(self) -> str:
        token = f"emu-access-{self.new_id('')}"
        with self._lock:
            self.valid_tokens.add(token)
            self.minted.append(token)
        return token

    def revoke_tokens(self) -> None:
        with self._lock:
            self.valid_tokens.clear()

    def log(self, kind: str, detail: str = "") -> None:
        with self._lock:
            self.requests.append((kind, detail))

    def count(self, kind: str) -> int:
        with self._lock:
            return sum(1 for k, _ in self.requests if k == kind)


async def receive_body(
    request: web.Request, path: Path, offset: int, length: int, drop_after: int | None = None
) -> int:
    """Write the request body to `path` at `offset`, streaming; returns the bytes received.

    With `drop_after`, stop reading after that many bytes and abort the connection (a dropped upload).
    """
    received = 0
    mode = "r+b" if path.exists() else "w+b"
    with path.open(mode) as out:
        out.seek(offset)
        while received < length:
            want = min(1024 * 1024, length - received)
            if drop_after is not None:
                want = min(want, drop_after - received)
                if want <= 0:
                    break
            data = await request.content.read(want)
            if not data:
                break
            out.write(data)
            received += len(data)
    if drop_after is not None and request.transport is not None:
        request.transport.abort()
    return received


def abort_response() -> web.Response:
    """What a handler returns after aborting the connection (never reaches the client)."""
    return web.Response(status=500)


Handler = Callable[[web.Request], Any]
