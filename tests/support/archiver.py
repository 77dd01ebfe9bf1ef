"""The archiver as a real process for integration tests, plus generated live sources (RTMP publisher, HLS)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from loa_archiver.store import Archive, ArchiveStore, Segment
from loa_core.auth import hash_token
from loa_core.contracts import FootageUploaded
from loa_dev.kafka import free_port
from loa_dev.processes import stop_process, wait_healthy
from tests.support.kafka import read_topic

TOKEN = "archiver-test-token"
SEGMENT_S = 2.0


class ArchiverProcess:
    """`python -m loa_archiver` with its own data dir, storage root and ports; killable with SIGKILL."""

    def __init__(self, root: Path, bootstrap: str, prefix: str, **settings: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.storage_root = root / "storage"
        self.http_port = free_port()
        self.rtmp_port = free_port()
        self.env = {
            **os.environ,
            "LOA_KAFKA_BOOTSTRAP": bootstrap,
            "LOA_TOPIC_PREFIX": prefix,
            "LOA_DATA_DIR": str(root / "data"),
            "LOA_STORAGE_ROOT": str(self.storage_root),
            "LOA_HTTP_PORT": str(self.http_port),
            "LOA_RTMP_PORT": str(self.rtmp_port),
            "LOA_API_TOKEN_HASHES": hash_token(TOKEN),
            "LOA_SEGMENT_S": str(SEGMENT_S),
            "LOA_SILENCE_TIMEOUT_S": "5",
            "LOA_HIGHLIGHT_FIRST_S": "4",
            # A killed archiver's leases lapse this soon: its restart, or another replica, takes over.
            "LOA_LEASE_S": "3",
            **{f"LOA_{k.upper()}": v for k, v in settings.items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.http_port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )

    @property
    def rtmp_base(self) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live"

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the process without waiting for it (replicas start side by side, then `wait_ready`)."""
        self.runs += 1
        log = (self.root / f"archiver-{self.runs}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "loa_archiver"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def wait_ready(self) -> None:
        assert self.proc is not None
        url = f"http://127.0.0.1:{self.http_port}/readyz"
        wait_healthy(self.proc, url, name="the archiver", log_tail=self.log_tail, timeout_s=60)

    def kill(self) -> None:
        """SIGKILL: no clean-up code of the archiver runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        """SIGTERM, as `docker stop` and every rolling deploy send it: the archiver stops gracefully."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.wait_stopped()

    def wait_stopped(self) -> None:
        """Wait for the archiver to exit after a SIGTERM, and check that its whole shutdown ran."""
        assert self.proc is not None
        code = self.proc.wait(90)
        # uvicorn re-raises the signal it handled once the shutdown is done, so -SIGTERM is a clean exit too.
        assert code in (0, -signal.SIGTERM), f"the archiver exited with {code} on SIGTERM:\n{self.log_tail()}"
        assert self.log_tail(5).rstrip().endswith("loa_archiver: stopped"), self.log_tail()

    def stored_archive(self, archive_id: str) -> tuple[Archive, list[Segment]]:
        """The archive and its stored segments as the archiver's own store has them (read while it is stopped)."""
        assert self.proc is None or self.proc.poll() is not None, "read the store only while the archiver is down"
        store = ArchiveStore.open(self.root / "data" / "archiver.sqlite3")
        try:
            archive = store.archive(archive_id)
            assert archive is not None, archive_id
            return archive, store.segments(archive_id)
        finally:
            store.close()

    def unstored_segments(self, archive_id: str) -> list[str]:
        """Segment files still in the recorder's working folder: closed or not, they are not in storage yet."""
        folder = self.root / "data" / "archiver" / "work" / archive_id
        return sorted(p.name for p in folder.glob("seg*")) if folder.is_dir() else []

    def stop(self) -> None:
        stop_process(self.proc, timeout_s=20)
        self.client.close()

    def log_tail(self, lines: int = 60) -> str:
        text = "\n".join(p.read_text(errors="replace") for p in sorted(self.root.glob("archiver-*.log")))
        return "\n".join(text.splitlines()[-lines:])

    def stored_segments(self, archive_id: str) -> list[str]:
        folder = self.storage_root / "live" / archive_id
        return sorted(p.name for p in folder.glob("seg*")) if folder.is_dir() else []

    def new_stream_key(self, **body: Any) -> dict[str, Any]:
        response = self.client.post("/stream-keys", json={"channel": "local", **body})
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def archives(self) -> list[dict[str, Any]]:
        response = self.client.get("/archives")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@contextlib.contextmanager
def archiver_process(root: Path, bootstrap: str, prefix: str, **settings: str) -> Iterator[ArchiverProcess]:
    archiver = ArchiverProcess(root, bootstrap, prefix, **settings)
    archiver.start()
    try:
        yield archiver
    except BaseException:
        print(archiver.log_tail(), file=sys.stderr)
        raise
    finally:
        archiver.stop()


def live_source_args(duration_s: float) -> list[str]:
    """A generated live stream (testsrc2 + sine) in real time (-re), H.264/AAC with a keyframe every second."""
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", f"{duration_s}",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k",
    ]  # fmt: skip


class Publisher:
    """ffmpeg publishing a generated live stream over RTMP; reports how much media it has sent."""

    def __init__(self, url: str, duration_s: float) -> None:
        argv = [*live_source_args(duration_s), "-progress", "pipe:1", "-f", "flv", url]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.sent_s = 0.0
        self._reader = threading.Thread(target=self._read_progress, daemon=True)
        self._reader.start()

    def _read_progress(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                self.sent_s = int(value) / 1e6

    def wait(self, timeout_s: float = 60) -> int:
        code = self.proc.wait(timeout_s)
        self._reader.join(5)
        return code

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode(errors="replace")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    redirect_to: str = ""

    def do_GET(self) -> None:
        if self.path.startswith("/redirect") and self.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.redirect_to)
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def http_server(folder: Path, redirect_to: str = "") -> Iterator[int]:
    """Serve `folder` on 127.0.0.1 (a free port); /redirect answers 302 to `redirect_to`."""

    class Handler(_QuietHandler):
        pass

    Handler.redirect_to = redirect_to
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def start_hls_source(folder: Path, duration_s: float) -> subprocess.Popen[bytes]:
    """A live HLS stream being written into `folder` (playlist live.m3u8), segments of 2 s, all kept listed."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        *live_source_args(duration_s),
        "-f", "hls", "-hls_time", "2", "-hls_list_size", "0",
        # temp_file: a segment appears under its name only once complete.
        "-hls_flags", "temp_file",
        "-hls_segment_filename", str(folder / "s%03d.ts"),
        str(folder / "live.m3u8"),
    ]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def livestream_events(bootstrap: str, prefix: str, count: int, timeout_s: float = 90) -> list[FootageUploaded]:
    """Wait until `count` footage.uploaded events are on the topic; return them decoded, archives first."""
    records = read_topic(bootstrap, f"{prefix}footage.uploaded", lambda r: len(r) >= count, timeout_s)
    assert len(records) >= count, f"only {len(records)} footage.uploaded events arrived, expected {count}"
    events = [FootageUploaded.from_bytes(r.value) for r in records if r.value is not None]
    # The archive and its highlights have different keys, so different partitions: no order between them on
    # the topic. Archives (no trim) first, then highlights by start.
    return sorted(events, key=lambda e: (e.metadata.trim_start_s is not None, e.metadata.trim_start_s or 0.0))


def footage_events_now(bootstrap: str, prefix: str) -> list[FootageUploaded]:
    """Every footage.uploaded event on the topic now: read up to the end offsets taken first, so a duplicate
    already acknowledged to its producer cannot be missed by stopping early."""
    return [FootageUploaded.from_bytes(v) for v in values_now(bootstrap, f"{prefix}footage.uploaded")]


def values_now(bootstrap: str, topic: str) -> list[bytes]:
    """Every record's value on `topic` now, read up to the end offsets taken first."""

    async def read() -> list[bytes]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        values: list[bytes] = []

        async def more() -> None:
            batch = await consumer.getmany(timeout_ms=500)
            values.extend(r.value for part in batch.values() for r in part if r.value)

        try:
            while not consumer.assignment():  # without a group, every partition is assigned once metadata is in
                await more()
            end = await consumer.end_offsets(list(consumer.assignment()))
            while [tp for tp in end if await consumer.position(tp) < end[tp]]:
                await more()
            return values
        finally:
            await consumer.stop()

    return asyncio.run(read())
