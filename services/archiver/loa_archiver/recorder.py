"""The RTMP recorder: one ffmpeg reads the published FLV on stdin and stream-copies it into MPEG-TS segments.

ffmpeg's segment muxer appends a line to a CSV list only when a segment is closed, so that list is what
tells us a segment is complete. Each closed segment is stored at once (live/<archive_id>/segNNNNN.ts) and
recorded in the archive store; only then is the local file removed. If the archiver is killed, the ffmpeg
child sees its stdin close, closes the segment it was writing and exits; the next run (a reconnect or the
finalize step) stores whatever the lists name that is still on disk (`sweep`). At worst the segment being
written is lost.

Each segment's video is read (`read_video`) before it is stored and recorded with it, while the live goes on, so
the end of the live joins the segments without reading them all again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
import threading
import time
from collections import defaultdict
from pathlib import Path

from loa_archiver.metrics import SEGMENTS_STORED
from loa_archiver.store import ArchiveStore
from loa_core.contracts import layout
from loa_core.media import FFMPEG
from loa_core.segments import UNREAD, RecordedVideo, probe_segment
from loa_core.storage import Storage

log = logging.getLogger(__name__)

_LIST_LINE = re.compile(r"^seg(\d{5,})\.ts,([0-9.]+),([0-9.]+)$")
# Restream targets go into ffmpeg's tee syntax, where these characters are separators.
_TEE_SPECIAL = re.compile(r"[|\[\]\\'\s]")


def restream_url_problem(url: str) -> str | None:
    if not url.startswith(("rtmp://", "rtmps://")):
        return (
            "A restream target must be an rtmp:// or rtmps:// URL. / Đích phát lại phải là URL rtmp:// hoặc rtmps://."
        )
    if _TEE_SPECIAL.search(url):
        return (
            "A restream target may not contain spaces, quotes, backslashes, '|', '[' or ']'. "
            "/ Đích phát lại không được chứa dấu cách, dấu nháy, '\\', '|', '[' hay ']'."
        )
    return None


def recorder_args(
    work_dir: Path, run_id: str, segment_s: float, start_number: int, restream_urls: tuple[str, ...] = ()
) -> list[str]:
    """ffmpeg arguments (after the program name): FLV on stdin → stream copy → segments (+ restream via tee)."""
    args = ["-hide_banner", "-nostdin", "-loglevel", "warning", "-f", "flv", "-i", "pipe:0", "-map", "0", "-c", "copy"]
    segment_opts = {
        "segment_time": f"{segment_s:g}",
        "segment_format": "mpegts",
        "segment_list": str(work_dir / f"list-{run_id}.csv"),
        "segment_list_type": "csv",
        "segment_start_number": str(start_number),
        # Every segment starts at 0: each one stands alone, and the concat step lines them up by duration.
        "reset_timestamps": "1",
    }
    pattern = str(work_dir / "seg%05d.ts")
    if not restream_urls:
        for name, value in segment_opts.items():
            args += [f"-{name}", value]
        return [*args, "-f", "segment", pattern]
    # One ffmpeg, one input read, several outputs: the archive and each platform's ingest. onfail=ignore:
    # a platform dropping the restream must never stop the recording.
    slaves = ["[f=segment:" + ":".join(f"{k}={v}" for k, v in segment_opts.items()) + "]" + pattern]
    slaves += [f"[f=flv:onfail=ignore]{url}" for url in restream_urls]
    return [*args, "-f", "tee", "|".join(slaves)]


def listed_segments(work_dir: Path) -> list[tuple[int, float]]:
    """(number, duration) of every segment ffmpeg has closed, from all runs' lists in `work_dir`."""
    found: dict[int, float] = {}
    for listing in sorted(work_dir.glob("list-*.csv")):
        for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _LIST_LINE.match(line.strip())
            if match:
                found[int(match.group(1))] = max(0.0, float(match.group(3)) - float(match.group(2)))
    return sorted(found.items())


async def read_video(path: Path) -> RecordedVideo:
    """A segment's video, read to be recorded with it; UNREAD when the read fails, which must not lose the segment
    (it is stored without, and the end of the live reads it)."""
    try:
        return await probe_segment(path, timeout_s=30.0)
    except Exception:  # any failure: an unread segment is stored all the same
        log.warning("segment %s: its video could not be read; the end of the live reads it", path, exc_info=True)
        return UNREAD


_sweep_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def sweep(work_dir: Path, archive_id: str, storage: Storage, store: ArchiveStore) -> int:
    """Store every closed segment still on disk; return how many were stored (blocking: run in a thread)."""
    # One sweep per archive at a time: a cancelled watcher's thread may still be running when finish() sweeps.
    with _sweep_locks[archive_id]:
        return _sweep(work_dir, archive_id, storage, store)


def _sweep(work_dir: Path, archive_id: str, storage: Storage, store: ArchiveStore) -> int:
    if not work_dir.is_dir():
        return 0
    stored = 0
    for n, duration in listed_segments(work_dir):
        path = work_dir / f"seg{n:05d}.ts"
        if not path.is_file():
            continue  # already stored (the file is removed only after it was recorded)
        if store.has_segment(archive_id, n):
            # Recorded already: this run was killed between recording it and removing the file, or (an archiver
            # restarted on the same disk) another replica went on with the live and numbered its own segment so.
            # The stored one counts; this one must not overwrite it.
            log.info("archive %s: segment %d is already stored; dropping the local copy", archive_id, n)
            path.unlink()
            continue
        key = layout.segment_key(archive_id, n)
        # In this worker thread, an event loop of its own for the read.
        video = asyncio.run(read_video(path))
        storage.put_file(key, path)
        store.add_segment(archive_id, n, key, duration, video=video)
        path.unlink()
        SEGMENTS_STORED.labels(source="rtmp").inc()
        stored += 1
        log.info("archive %s: stored segment %d (%.2f s)", archive_id, n, duration)
    return stored


class SegmentRecorder:
    """One ffmpeg run for one publish session of an archive."""

    def __init__(
        self,
        archive_id: str,
        work_dir: Path,
        storage: Storage,
        store: ArchiveStore,
        segment_s: float,
        restream_urls: tuple[str, ...] = (),
    ) -> None:
        self.archive_id = archive_id
        self.work_dir = work_dir
        self._storage = storage
        self._store = store
        self._segment_s = segment_s
        self._restream = restream_urls
        self._proc: asyncio.subprocess.Process | None = None
        self.start_number = 0
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Segments a previous run closed but could not store yet (the archiver was killed) go first,
        # so the numbering below continues after them.
        await asyncio.to_thread(sweep, self.work_dir, self.archive_id, self._storage, self._store)
        start_number = self._store.next_segment_number(self.archive_id)
        # A segment file still on disk may belong to a previous run's ffmpeg that is finishing it right now
        # (it got EOF when the archiver was killed): number after it, never over it. Its list line makes a
        # later sweep store it in its place.
        on_disk = [int(p.stem[3:]) for p in self.work_dir.glob("seg*.ts") if p.stem[3:].isdigit()]
        start_number = max([start_number, *(n + 1 for n in on_disk)])
        self.start_number = start_number
        run_id = f"{time.time_ns()}"
        argv = [FFMPEG, *recorder_args(self.work_dir, run_id, self._segment_s, start_number, self._restream)]
        # Restream URLs carry the platforms' stream keys: never in the log.
        shown = shlex.join(argv)
        for url in self._restream:
            shown = shown.replace(url, "<restream target>")
        log.info("archive %s: recording from segment %d: %s", self.archive_id, start_number, shown)
        with (self.work_dir / f"ffmpeg-{run_id}.log").open("wb") as stderr:
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
            )
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await asyncio.to_thread(sweep, self.work_dir, self.archive_id, self._storage, self._store)
            except Exception:
                # A storage hiccup: the segment stays on disk and the next sweep tries again.
                log.exception("archive %s: storing a segment failed; will retry", self.archive_id)

    async def write(self, data: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(data)
        await self._proc.stdin.drain()

    async def finish(self) -> int:
        """End of input: ffmpeg closes the last segment; every closed segment is stored. Returns ffmpeg's code."""
        assert self._proc is not None and self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._proc.stdin.close()
        try:
            code = await asyncio.wait_for(self._proc.wait(), 30)
        except TimeoutError:
            self._proc.kill()
            code = await self._proc.wait()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await asyncio.to_thread(sweep, self.work_dir, self.archive_id, self._storage, self._store)
        if code != 0:
            log.warning("archive %s: recorder ffmpeg exited with %s (see %s)", self.archive_id, code, self.work_dir)
        return code
