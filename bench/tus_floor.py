"""The leanest tus receiver Python can be: the floor that ingest's upload throughput is compared against.

Run by bench/ingest_upload.py (--floor) as a separate process:
    python bench/tus_floor.py --port P --spool DIR --work store|discard [--server threads|uvicorn]

It speaks just enough tus 1.0 for the tuspy client (creation POST, HEAD, PATCH with Upload-Offset) on the
standard library's threaded HTTP server, and does only the work every receiver must do with the bytes, with every
advantage ingest does not have: no framework, no authentication, no SQLite, no validation, no Kafka, buffers
reused, and the body read straight into them (`readinto`, no per-chunk bytes objects).

- ``store``: each block is written to a spool file and hashed (whole-file sha256, as dedup needs) in two lanes,
  one thread each, while the next block is received; the same design as ingest. A PATCH answers once its blocks
  are written; the hash of its last blocks may run on (as in ingest). It does not even verify an Upload-Checksum
  (a real server must): everything it leaves out only makes the floor faster, so it stays an upper bound.
- ``discard``: the bytes are received and dropped. This is the transport alone: tuspy, HTTP and loopback TCP.

``--server uvicorn`` (with ``discard`` only) serves the same three calls from a bare ASGI app on uvicorn, the server
ingest runs on, without FastAPI or any middleware: what uvicorn's receive path costs before an app does anything.

Not a server to run for real: one process, no limits, no checks. It exists to measure.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import io
import itertools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import uvicorn

BLOCK = 4 * 1024 * 1024  # as ingest's blocks
BUFFERS = 3  # one being received while the two before it are written and hashed


@dataclass
class Upload:
    """One upload: its spool file, its running hash, and the buffers and lanes that outlive each PATCH (the hash of
    a PATCH's last blocks may still run when the PATCH answers, as in ingest)."""

    length: int
    spool: BinaryIO | None  # None when discarding
    offset: int = 0
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    buffers: list[bytearray] = field(default_factory=lambda: [bytearray(BLOCK) for _ in range(BUFFERS)])
    # Per buffer, the write and the hash of the block it holds; it is free again once both are done.
    in_flight: list[tuple[Future[Any], ...]] = field(default_factory=lambda: [() for _ in range(BUFFERS)])
    write_lane: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))
    hash_lane: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))
    blocks: int = 0


class Floor:
    def __init__(self, spool_dir: Path, store: bool) -> None:
        self.spool_dir = spool_dir
        self.store = store
        self.uploads: dict[str, Upload] = {}
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def create(self, length: int) -> str:
        with self.lock:
            upload_id = str(next(self.ids))
        spool = (self.spool_dir / upload_id).open("wb") if self.store else None
        self.uploads[upload_id] = Upload(length, spool)
        return upload_id

    def receive(self, upload: Upload, body: io.BufferedIOBase, size: int) -> None:
        """Read ``size`` bytes of the body into the upload's buffers; write and hash each block in its own lane.
        Returns once every block is written: the bytes are stored. Only at the last byte does it wait for the hash."""
        for start in range(0, size, BLOCK):
            slot = upload.blocks % BUFFERS
            upload.blocks += 1
            for done in upload.in_flight[slot]:
                done.result()
            block = memoryview(upload.buffers[slot])[: min(BLOCK, size - start)]
            read_exactly(body, block)
            if upload.spool is not None:
                written = upload.write_lane.submit(upload.spool.write, block)
                upload.in_flight[slot] = (written, upload.hash_lane.submit(upload.sha256.update, block))
        upload.offset += size
        finished = upload.offset == upload.length
        for futures in upload.in_flight:
            for done in futures if finished else futures[:1]:  # the writes; the hashes too at the end
                done.result()
        if finished and upload.spool is not None:
            upload.spool.close()
            upload.write_lane.shutdown()
            upload.hash_lane.shutdown()


def read_exactly(body: io.BufferedIOBase, block: memoryview) -> None:
    got = 0
    while got < len(block):
        n = body.readinto(block[got:])
        if not n:
            raise ConnectionError("the client closed the connection mid-body")
        got += n


def handler_for(floor: Floor) -> type[http.server.BaseHTTPRequestHandler]:
    class TusHandler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as tus clients expect

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: one line per PATCH would cost more than the floor

        def answer(self, status: int, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in {"Tus-Resumable": "1.0.0", "Content-Length": "0", **headers}.items():
                self.send_header(name, value)
            self.end_headers()

        def do_GET(self) -> None:
            self.answer(200 if self.path == "/healthz" else 404, {})

        def do_POST(self) -> None:
            upload_id = floor.create(int(self.headers["Upload-Length"]))
            self.answer(201, {"Location": f"/files/{upload_id}"})

        def do_HEAD(self) -> None:
            upload = floor.uploads[self.path.rsplit("/", 1)[-1]]
            self.answer(200, {"Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length)})

        def do_PATCH(self) -> None:
            upload = floor.uploads[self.path.rsplit("/", 1)[-1]]
            if int(self.headers["Upload-Offset"]) != upload.offset:
                self.answer(409, {})
                return
            floor.receive(upload, self.rfile, int(self.headers["Content-Length"]))
            headers = {"Upload-Offset": str(upload.offset)}
            if upload.offset == upload.length and floor.store:
                headers["Floor-Sha256"] = upload.sha256.hexdigest()  # so the bench can check the floor did its work
            self.answer(204, headers)

    return TusHandler


def asgi_discard_app(floor: Floor) -> Callable[..., Awaitable[None]]:
    """The same tus calls as TusHandler as a bare ASGI app that drops the body (no FastAPI, no middleware)."""

    async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        method, path = scope["method"], scope["path"]
        status, answer = 404, {}
        if path == "/healthz":
            status = 200
        elif method == "POST":
            status, answer = 201, {"Location": f"/files/{floor.create(int(headers['upload-length']))}"}
        elif method in ("HEAD", "PATCH"):
            upload = floor.uploads[path.rsplit("/", 1)[-1]]
            while method == "PATCH":
                message = await receive()
                upload.offset += len(message.get("body", b""))
                if not message.get("more_body"):
                    break
            status = 204 if method == "PATCH" else 200
            answer = {"Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length)}
        answer |= {"Tus-Resumable": "1.0.0", "Content-Length": "0"}
        raw = [(name.encode(), value.encode()) for name, value in answer.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b""})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spool", type=Path, required=True)
    parser.add_argument("--work", choices=("store", "discard"), required=True)
    parser.add_argument("--server", choices=("threads", "uvicorn"), default="threads")
    args = parser.parse_args()
    args.spool.mkdir(parents=True, exist_ok=True)
    floor = Floor(args.spool, store=args.work == "store")
    if args.server == "uvicorn":
        if floor.store:
            parser.error("--server uvicorn only discards: storing on uvicorn is what ingest itself measures")
        uvicorn.run(asgi_discard_app(floor), host="127.0.0.1", port=args.port, log_level="warning")
        return
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(floor))
    server.serve_forever()


if __name__ == "__main__":
    main()
