"""Run the real ingest service as a process, and read what it announced on Kafka."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from loa_core.auth import hash_token, new_token
from loa_core.contracts import FOOTAGE_UPLOADED, FootageUploaded
from loa_core.secrets import ensure_key_file
from loa_dev.kafka import free_port
from loa_dev.processes import stop_process, wait_healthy


@dataclass
class IngestProcess:
    url: str
    token: str  # an admin token (LOA_API_TOKEN_HASHES)
    root: Path
    bootstrap: str
    prefix: str
    process: subprocess.Popen[bytes]

    @property
    def storage_root(self) -> Path:
        return self.root / "storage"

    @property
    def spool_dir(self) -> Path:
        return self.root / "data" / "ingest-spool"

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def log(self) -> str:
        path = self.root / "ingest.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stored_objects(self) -> list[Path]:
        return sorted(p for p in self.storage_root.rglob("*") if p.is_file())

    def uploaded_events(self) -> list[FootageUploaded]:
        return [
            FootageUploaded.from_bytes(v) for v in read_topic(self.bootstrap, FOOTAGE_UPLOADED.full_name(self.prefix))
        ]


@contextmanager
def run_ingest(
    root: Path,
    bootstrap: str,
    extra_env: dict[str, str] | None = None,
    *,
    again: IngestProcess | None = None,
    pause_at: str | None = None,
    port: int | None = None,
) -> Iterator[IngestProcess]:
    """Ingest as a process. `again`: restart that one (same data, port, topics and token). `pause_at`: a function
    (`module:Class.method`) at which the process stops dead, writing `root / "paused"` (tests/support/paused_ingest.py).
    `port`: the one to listen on (for a service that must know ingest's URL before it starts), else a free one.
    """
    root.mkdir(parents=True, exist_ok=True)
    token = again.token if again else new_token()
    port = int(again.url.rsplit(":", 1)[1]) if again else port or free_port()
    prefix = again.prefix if again else f"i{uuid.uuid4().hex[:10]}."
    env = {
        **os.environ,
        "LOA_KAFKA_BOOTSTRAP": bootstrap,
        "LOA_TOPIC_PREFIX": prefix,
        "LOA_HTTP_PORT": str(port),
        "LOA_DATA_DIR": str(root / "data"),
        "LOA_STORAGE_ROOT": str(root / "storage"),
        "LOA_API_TOKEN_HASHES": hash_token(token),
        "LOA_SECRET_KEY_FILE": str(ensure_key_file(root / "secret-key")),
        "LOA_PUBLIC_URL": f"http://127.0.0.1:{port}",  # the platforms' sign-in sends browsers back here
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "loa_ingest"]
    if pause_at:
        command = [sys.executable, str(Path(__file__).with_name("paused_ingest.py")), pause_at, str(root / "paused")]
    with (root / "ingest.log").open("ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    ingest = IngestProcess(f"http://127.0.0.1:{port}", token, root, bootstrap, prefix, process)
    try:
        wait_healthy(process, f"{ingest.url}/readyz", name="ingest", log_tail=ingest.log, timeout_s=90, interval_s=0.2)
        yield ingest
    finally:
        stop_process(process, timeout_s=20)


def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every record currently in the topic (all partitions, from the beginning up to the end offsets)."""

    async def read() -> list[bytes]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            # topics() fetches fresh metadata but does not keep it; the cluster it fetched has the partitions.
            cluster = await consumer._client.fetch_all_metadata()
            partitions = [TopicPartition(topic, p) for p in (cluster.partitions_for_topic(topic) or set())]
            assert partitions, f"topic {topic} does not exist"
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            values: list[bytes] = []
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    values.extend(r.value for r in records if r.value is not None)
            return values
        finally:
            # aiokafka's group-less coordinator lets its cancelled background task escape stop(); it is harmless.
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()

    return asyncio.run(read())


def tus_metadata(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


class CuttingProxy:
    """A TCP proxy that drops the connection carrying client byte number `cut_after` (counted over all
    connections), once: a link that fails mid-upload. Later connections pass through untouched."""

    def __init__(self, target_port: int, cut_after: int) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.cut_done = threading.Event()
        self._sent = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, counted: bool) -> None:
        try:
            while data := src.recv(65536):
                if counted and not self.cut_done.is_set():
                    with self._lock:
                        room = self.cut_after - self._sent
                        self._sent += len(data)
                    if room <= len(data):
                        dst.sendall(data[: max(room, 0)])
                        self.cut_done.set()
                        break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._stop = True
        self._server.close()
