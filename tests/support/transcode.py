"""Helpers for the transcode tests: an upload event for a file, a job context, measurements by ffmpeg itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from loa_core.channels import Channel, dump_channels
from loa_core.contracts import Event, FootageMetadata, FootageUploaded, SourceMedia, TopicSpec, layout, new_id
from loa_core.hashing import sha256_file
from loa_core.kafka import EventProducer
from loa_core.storage import Storage
from loa_dev.kafka import free_port
from loa_dev.processes import stop_process, wait_healthy
from loa_transcode.graph import EncodeOptions
from loa_transcode.pipeline import JobContext
from tests.support.media import ffprobe
from tests.support.polling import wait_until

# superfast, not ultrafast: ultrafast cannot make the H.264 High profile the conformance check demands.
TEST_OPTIONS = EncodeOptions(preset="superfast", crf=30, threads=2)


def channels(*profiles: str) -> dict[str, Channel]:
    return {"ward": Channel(name="ward", platform="local", profiles=profiles or ("tiktok", "youtube"))}


def context(storage: Storage, work: Path, *profiles: str) -> JobContext:
    return JobContext(storage=storage, channels=channels(*profiles), options=TEST_OPTIONS, workdir_root=work)


def upload(storage: Storage, path: Path, footage_id: str | None = None, **metadata: Any) -> FootageUploaded:
    """Put `path` in storage and describe it as ingest would (ffprobe's width, height, duration, audio)."""
    footage_id = footage_id or new_id()
    key = layout.source_key(footage_id)
    storage.put_file(key, path)
    info = ffprobe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    return FootageUploaded(
        footage_id=footage_id,
        metadata=FootageMetadata(**{"title": "Hội thi văn nghệ", "channels": ("ward",), **metadata}),
        media=SourceMedia(
            key=key,
            size_bytes=path.stat().st_size,
            sha256=sha256_file(path),
            duration_s=float(info["format"].get("duration") or 1.0),
            width=int(video["width"]),
            height=int(video["height"]),
            has_audio=any(s["codec_type"] == "audio" for s in info["streams"]),
        ),
    )


def ebur128(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) of a file, read from ffmpeg's own ebur128 summary."""
    err = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    summary = err[err.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))  # type: ignore[union-attr]
    return integrated, peak


def video_stream(path: Path) -> dict[str, Any]:
    return next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")


def audio_stream(path: Path) -> dict[str, Any] | None:
    return next((s for s in ffprobe(path)["streams"] if s["codec_type"] == "audio"), None)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


# --- the worker as a process, and what it says on Kafka ---------------------------------------------------


class TranscodeWorker:
    """`python -m loa_transcode` as its own process, as it runs in production."""

    def __init__(
        self,
        root: Path,
        bootstrap: str,
        prefix: str,
        name: str = "worker",
        launcher: tuple[str, ...] = (),
        **settings: str,
    ) -> None:
        self.root = root
        self.name = name
        self.launcher = launcher  # a command the worker is started under (`unshare …`), or none
        self.port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        channels_file = root / "channels.json"
        channels_file.write_text(
            dump_channels(list(channels(*settings.pop("profiles", "youtube").split(",")).values())), "utf-8"
        )
        self.env = {
            **os.environ,
            "LOA_KAFKA_BOOTSTRAP": bootstrap,
            "LOA_TOPIC_PREFIX": prefix,
            "LOA_HTTP_PORT": str(self.port),
            "LOA_DATA_DIR": str(root / "data"),
            "LOA_STORAGE_ROOT": str(root / "storage"),
            "LOA_CHANNELS_FILE": str(channels_file),
            "LOA_X264_PRESET": TEST_OPTIONS.preset,
            "LOA_CRF": str(TEST_OPTIONS.crf),
            "LOA_FFMPEG_THREADS": str(TEST_OPTIONS.threads),
            **{f"LOA_{k.upper()}": v for k, v in settings.items()},
        }
        self.log_path = root / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.launcher, sys.executable, "-m", "loa_transcode"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )

    def wait_assigned(self, timeout_s: float = 90.0) -> None:
        """Until the worker has joined its group and owns partitions (its /readyz)."""

        assert self.process is not None
        url = f"http://127.0.0.1:{self.port}/readyz"
        wait_healthy(self.process, url, name=self.name, log_tail=self.log_tail, timeout_s=timeout_s)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, no offset is committed, ffmpeg is orphaned."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        stop_process(self.process)

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def hold_encodes(self) -> set[int]:
        """SIGSTOP the worker's encodes running now (its ffmpeg children writing H.264), holding their jobs in flight
        until `release`; returns their pids."""
        assert self.process is not None
        held = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                encoding = parent == self.process.pid and b"libx264" in (stat.parent / "cmdline").read_bytes()
            except OSError:
                continue  # gone meanwhile
            if encoding:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(stat.parent.name), signal.SIGSTOP)
                    held.add(int(stat.parent.name))
        return held

    @staticmethod
    def release(pids: Iterable[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


class EventCollector:
    """Every event on some topics, decoded by its contract, collected by a background consumer thread."""

    def __init__(self, bootstrap: str, prefix: str, *specs: TopicSpec) -> None:
        self.bootstrap = bootstrap
        self.by_name = {s.full_name(prefix): s for s in specs}
        self.events: list[tuple[str, Event]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.by_name, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        self._started.set()
        try:
            while not self._stop.is_set():
                batch = await consumer.getmany(timeout_ms=300)
                for records in batch.values():
                    for record in records:
                        spec = self.by_name[record.topic]
                        with self._lock:
                            self.events.append((spec.name, spec.event.from_bytes(record.value or b"")))
        finally:
            await consumer.stop()

    def __enter__(self) -> EventCollector:
        self._thread.start()
        self._started.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def of(self, spec: TopicSpec, footage_id: str | None = None) -> list[Any]:
        with self._lock:
            return [
                e
                for name, e in self.events
                if name == spec.name and (footage_id is None or getattr(e, "footage_id", None) == footage_id)
            ]

    def wait_for(self, spec: TopicSpec, footage_id: str, timeout_s: float, count: int = 1) -> list[Any]:
        return wait_until(  # type: ignore[no-any-return]
            lambda: (found := self.of(spec, footage_id)) and len(found) >= count and found,
            timeout_s,
            f"{count} {spec.name} event(s) for {footage_id}",
        )


def send_event(bootstrap: str, prefix: str, spec: TopicSpec, event: Event) -> None:
    async def send() -> None:
        producer = EventProducer(bootstrap, prefix)
        try:
            await producer.send(spec, event)
        finally:
            await producer.stop()

    asyncio.run(send())


def group_members(bootstrap: str, group: str) -> tuple[str, list[str]]:
    """The consumer group's state and member ids, as the broker sees them."""

    async def describe() -> tuple[str, list[str]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            response = (await admin.describe_consumer_groups([group]))[0]
            _error, _group, state, _ptype, _protocol, members, *_ = response.groups[0]
            return state, [m[0] for m in members]
        finally:
            await admin.close()

    return asyncio.run(describe())


def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    async def offsets() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            found = await admin.list_consumer_group_offsets(group)
            return {tp.partition: meta.offset for tp, meta in found.items()}
        finally:
            await admin.close()

    return asyncio.run(offsets())
