"""Live to published: a livestream pushed over RTMP in real time, from the end of the stream to its archive's cut
published on the `local` channel, with the live chunks transcoded while the live goes on.

Run: .cache/venv/bin/python bench/live_to_published.py [--minutes 10] [--size 1280x720] [--chunk-s 12]
         [--no-chunks]

The whole pipeline as processes (loa_dev.stack: Kafka, ingest, transcode, publisher, metrics; the archiver as in the
e2e test), the service's own settings but for the archiver's segment length (4 s, its default) and its live chunks
(--chunk-s; --no-chunks: 0, the archive transcoded after the end as before). The live is ffmpeg publishing testsrc2
with a tone at 30 fps, H.264 3 Mb/s with a keyframe every 2 s, AAC, in real time (-re). The archive goes to one
channel with the YouTube profile (the full live's usual place); no highlight (the figure is the archive's).

Prints, every minute, how far behind the live the transcode worker is (loa_transcode_live_backlog_seconds), then:
the end of the stream → the archive announced (footage.uploaded) → its cut ready (renditions.ready) → published
(posts.published), in seconds, and against the live's length; and whether the cut's sound was spliced from the
chunks' or encoded after the end.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402

from loa_core.channels import Channel, dump_channels  # noqa: E402
from loa_core.contracts import FootageUploaded, PostPublished, RenditionsReady  # noqa: E402
from loa_core.media import FFMPEG  # noqa: E402
from loa_dev.stack import Stack  # noqa: E402
from tests.support.archiver import ArchiverProcess  # noqa: E402

_BACKLOG = re.compile(r"^loa_transcode_live_backlog_seconds (\S+)$", re.MULTILINE)


def backlog(stack: Stack) -> float | None:
    try:
        text = httpx.get(f"{stack.url('transcode')}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    found = _BACKLOG.search(text)
    return float(found.group(1)) if found else None


async def _first(bootstrap: str, topic: str, footage_id: str, timeout_s: float) -> tuple[bytes, float] | None:
    """The first record of `footage_id` on `topic` (from the start), and the monotonic time it was read."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    if r.key is not None and r.key.decode() == footage_id and r.value is not None:
                        return r.value, time.monotonic()
        return None
    finally:
        await consumer.stop()


async def wait_stages(bootstrap: str, prefix: str, footage_id: str, timeout_s: float) -> dict[str, float]:
    """When each stage of the archive was first seen, in monotonic time (read concurrently)."""
    topics = {"announced": "footage.uploaded", "ready": "renditions.ready", "published": "posts.published"}
    found = await asyncio.gather(*(_first(bootstrap, prefix + t, footage_id, timeout_s) for t in topics.values()))
    stages: dict[str, float] = {}
    for name, hit in zip(topics, found, strict=True):
        if hit is not None:
            stages[name] = hit[1]
            if name == "announced":
                event = FootageUploaded.from_bytes(hit[0])
                print(f"archive: {event.media.duration_s:.1f} s, {event.live_chunks or 'no'} live chunks")
            elif name == "ready":
                RenditionsReady.from_bytes(hit[0])
            else:
                PostPublished.from_bytes(hit[0])
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--chunk-s", type=float, default=12.0)
    parser.add_argument("--no-chunks", action="store_true")
    opts = parser.parse_args()
    seconds = opts.minutes * 60
    with tempfile.TemporaryDirectory(prefix="loa-bench-live-") as tmp:
        root = Path(tmp)
        channels_file = root / "channels.json"
        channels_file.write_text(dump_channels([Channel(name="ward-youtube", platform="local", profiles=("youtube",))]))
        stack = Stack(
            root=root,
            token=f"bench-{uuid.uuid4().hex}",
            topic_prefix="benchlive.",
            extra_env={"LOA_CHANNELS_FILE": str(channels_file)},
        )
        stack.start()
        assert stack.kafka_bootstrap is not None
        chunk_s = "0" if opts.no_chunks else f"{opts.chunk_s:g}"
        archiver = ArchiverProcess(
            root,
            stack.kafka_bootstrap,
            stack.topic_prefix,
            channels_file=str(channels_file),
            highlight_first_s="0",
            segment_s="4",
            live_chunk_s=chunk_s,
            silence_timeout_s="30",
        )
        try:
            archiver.start()
            key = archiver.new_stream_key(
                channel="ward-youtube", title="Đại hội (bench)", archive_channels=["ward-youtube"]
            )
            url = f"{archiver.rtmp_base}/{key['stream_key']}"
            push = subprocess.Popen(
                [FFMPEG, "-hide_banner", "-loglevel", "error", "-re",
                 "-f", "lavfi", "-i", f"testsrc2=size={opts.size}:rate=30",
                 "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", f"{seconds:g}",
                 "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", "3M", "-g", "60",
                 "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv", url],
            )  # fmt: skip
            started = time.monotonic()
            print(f"pushing {opts.minutes:g} min of {opts.size}p30 in real time; live chunks: {chunk_s} s", flush=True)
            # A loaded machine makes the push itself fall behind real time: the media sent is printed beside the wall.
            said = started
            while push.poll() is None:
                time.sleep(1.0)
                if time.monotonic() - said >= 60:
                    said = time.monotonic()
                    print(f"  {said - started:6.0f} s: live backlog {backlog(stack)} s", flush=True)
            print(f"the push took {time.monotonic() - started:.0f} s for {seconds:g} s of media", flush=True)
            ended = time.monotonic()
            if push.returncode != 0:
                raise SystemExit(f"the push failed ({push.returncode})")
            archive = archiver.archives()[0]
            stages = asyncio.run(wait_stages(stack.kafka_bootstrap, stack.topic_prefix, archive["footage_id"], 3600))
            print()
            print(f"live: {opts.minutes:g} min {opts.size}p30 over RTMP; live chunks {chunk_s} s; segments 4 s")
            for name in ("announced", "ready", "published"):
                at = stages.get(name)
                print(f"end of stream -> {name:9s}: {'not seen' if at is None else f'{at - ended:6.1f} s'}")
            if "published" in stages:
                took = stages["published"] - ended
                print(f"end -> published / live length = {took / seconds:.3f} (goal: under 60 s)")
            print(f"backlog at the end: {backlog(stack)} s")
            # How the cut's sound was made: the chunks' spliced, or the archive's encoded after the end.
            log = (stack.logs_dir / "transcode.log").read_text(errors="replace")
            spliced = "spliced-" in log and "not spliced" not in log
            left = log.count("is left to the archive")
            made = "the chunks' spliced" if spliced else "the archive's, encoded after the end"
            print(f"the cut's sound: {made} (chunks that left their sound to the archive: {left})")
        finally:
            archiver.stop()
            stack.stop()


if __name__ == "__main__":
    main()
