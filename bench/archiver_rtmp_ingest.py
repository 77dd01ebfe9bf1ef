"""RTMP ingest throughput of the archiver against ffmpeg's own RTMP listener, in the same run.

The archiver's RTMP server is Python (it must check stream keys, which ffmpeg's listener cannot). This measures
what that costs: one 720p H.264/AAC clip is published as fast as possible (no -re) to
  baseline: `ffmpeg -listen 1 -i rtmp://... -c copy -f segment ...` (ffmpeg receives and segments itself)
  archiver: the archiver's RTMP server → FLV on a pipe → the same ffmpeg segmenter, segments stored as they close
and the wall time of the publish is compared. A ratio near 1 means the Python front costs little; the media
seconds per wall second say how many real-time streams one core keeps up with.

Run: .cache/venv/bin/python bench/archiver_rtmp_ingest.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loa_archiver.__main__ import build_archiver
from loa_archiver.settings import ArchiverSettings
from loa_archiver.store import ArchiveStore
from loa_core.auth import hash_token
from loa_core.storage import LocalStorage
from loa_dev.kafka import free_port
from tests.support.channel_registry import known

DURATION_S = 60
ROUNDS = 3


class NoProducer:
    async def send(self, spec: object, event: object) -> None:
        pass


def make_clip(path: Path) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi",
         "-i", "sine=sample_rate=48000", "-t", str(DURATION_S), "-c:v", "libx264", "-preset", "ultrafast",
         "-b:v", "4M", "-g", "60", "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(path)],
        check=True,
    )  # fmt: skip


def publish(clip: Path, url: str) -> None:
    # "-v fatal": ffmpeg's listener closes as soon as the stream ends, and the publisher then reports a
    # harmless broken pipe on its last control message.
    subprocess.run(["ffmpeg", "-v", "fatal", "-i", str(clip), "-c", "copy", "-f", "flv", url], check=True)


async def baseline_round(clip: Path, work: Path) -> float:
    """Publish start → the listening ffmpeg has written its last segment and exited."""
    port = free_port()
    work.mkdir(parents=True)
    listener = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-listen", "1", "-i", f"rtmp://127.0.0.1:{port}/live/key", "-map", "0",
        "-c", "copy", "-f", "segment", "-segment_time", "4", "-segment_format", "mpegts",
        str(work / "seg%05d.ts"),
    )  # fmt: skip
    await asyncio.sleep(1.0)  # the listener binds its port; there is nothing to poll on ffmpeg for it
    start = time.perf_counter()
    await asyncio.to_thread(publish, clip, f"rtmp://127.0.0.1:{port}/live/key")
    await listener.wait()
    elapsed = time.perf_counter() - start
    # The same check as for the archiver: all of the clip was recorded.
    last = sorted(work.glob("seg*.ts"))
    assert len(last) >= DURATION_S / 4 - 1, len(last)
    return elapsed


async def archiver_round(clip: Path, work: Path) -> float:
    """Publish start → the recorder has stored its last segment (the archive leaves the recording state)."""
    settings = ArchiverSettings(data_dir=work / "data", rtmp_port=free_port(), segment_s=4, highlight_first_s=0)
    store = ArchiveStore.open(work / "a.sqlite3")
    archiver = build_archiver(settings, LocalStorage(work / "storage"), NoProducer(), store, known("local"))  # type: ignore[arg-type]
    store.add_stream_key("local", hash_token("bench-key"), "Bench", ("local",), ("local",), ())
    await archiver.start()
    try:
        start = time.perf_counter()
        await asyncio.to_thread(publish, clip, f"rtmp://127.0.0.1:{settings.rtmp_port}/live/bench-key")
        while not store.archives() or store.archives()[0].state == "recording":
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - start
        (archive,) = store.archives()
        await archiver.finalizer.wait(archive.archive_id)
        recorded = sum(s.duration_s for s in store.segments(archive.archive_id))
        assert abs(recorded - DURATION_S) < 4, recorded
    finally:
        await archiver.stop()
        store.close()
    return elapsed


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = root / "clip.flv"
        make_clip(clip)
        size_mbit = clip.stat().st_size * 8 / 1e6
        baseline, ours = [], []
        for i in range(ROUNDS):  # interleaved, so machine load drifts hit both alike
            baseline.append(await baseline_round(clip, root / f"b{i}"))
            ours.append(await archiver_round(clip, root / f"a{i}"))
        b, a = min(baseline), min(ours)
        print(f"clip: {DURATION_S} s 1280x720 30 fps, {size_mbit / DURATION_S:.1f} Mbit/s; best of {ROUNDS} rounds")
        print(
            f"baseline ffmpeg RTMP listener: {b:.2f} s  ({DURATION_S / b:.0f}x real time, {size_mbit / b:.0f} Mbit/s)"
        )
        print(
            f"archiver RTMP server:          {a:.2f} s  ({DURATION_S / a:.0f}x real time, {size_mbit / a:.0f} Mbit/s)"
        )
        print(f"ratio archiver / baseline wall time: {a / b:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
