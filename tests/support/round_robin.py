"""A round-robin TCP proxy in front of service replicas, as a load balancer: each new connection goes to the next
backend, and a backend that refuses the connection (a killed replica) is skipped for the one after it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class RoundRobinProxy:
    def __init__(self, backend_ports: list[int]) -> None:
        self.backend_ports = backend_ports
        self.port = 0
        self.served: list[int] = []  # the backend port of each connection, in order
        self._next = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        for _ in self.backend_ports:
            port = self.backend_ports[self._next % len(self.backend_ports)]
            self._next += 1
            with contextlib.suppress(OSError):
                streams = await asyncio.open_connection("127.0.0.1", port)
                self.served.append(port)
                return streams
        raise ConnectionRefusedError("no backend answers")

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            backend_r, backend_w = await self._connect()
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self._pipe(client_r, backend_w), self._pipe(backend_r, client_w))
        for writer in (backend_w, client_w):
            writer.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One direction; its end (a killed backend's too) is passed on, so the other side sees it."""
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    def start(self) -> RoundRobinProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def drop_connections() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(drop_connections(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextmanager
def round_robin(backend_ports: list[int]) -> Iterator[RoundRobinProxy]:
    proxy = RoundRobinProxy(backend_ports).start()
    try:
        yield proxy
    finally:
        proxy.stop()
