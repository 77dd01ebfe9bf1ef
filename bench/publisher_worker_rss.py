"""Peak RSS of the real publisher worker (`python -m loa_publisher`, Faust and all) posting a large rendition.

Run: .cache/venv/bin/python bench/publisher_worker_rss.py [--size-mb 4096]

Starts a Kafka broker, the YouTube emulator (its own process) and one publisher worker, sends one
renditions.ready for a rendition of --size-mb random bytes, samples the worker's RSS from /proc every 20 ms until
posts.published arrives, and prints the idle RSS (the baseline) and the peak while uploading (goal < 200 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loa_core.channels import Channel  # noqa: E402
from loa_core.contracts import POSTS_PUBLISHED, RENDITIONS_READY  # noqa: E402
from loa_core.kafka import EventProducer, ensure_topics  # noqa: E402
from loa_core.storage import LocalStorage  # noqa: E402
from loa_dev.kafka import KafkaBroker  # noqa: E402
from tests.support.kafka import read_topic  # noqa: E402
from tests.support.publisher_process import PublisherProcess  # noqa: E402
from tests.support.publishing import event_for, metadata, stored_rendition  # noqa: E402

MB = 1024 * 1024


def rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=4096)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loa-bench-worker-"))
    broker = KafkaBroker(work / "kafka")
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.emulators.serve", "youtube", str(work / "server")],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    publisher: PublisherProcess | None = None
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        broker.start()
        prefix = "bench."
        asyncio.run(ensure_topics(broker.bootstrap, prefix))
        channel = Channel(
            name="bench-yt",
            platform="youtube",
            profiles=("youtube",),
            options={"base_url": base_url, "token_url": f"{base_url}/token"},
        )
        publisher = PublisherProcess(
            work / "publisher",
            bootstrap=broker.bootstrap,
            prefix=prefix,
            channels=[channel],
            token="bench",
            env={
                "LOA_SECRET_BENCH_YT_CLIENT_ID": "cid",
                "LOA_SECRET_BENCH_YT_CLIENT_SECRET": "csecret",
                "LOA_SECRET_BENCH_YT_REFRESH_TOKEN": "rt-1",
            },
        )
        storage = LocalStorage(publisher.root / "storage")
        footage_id = "e" * 32
        print(f"writing a {args.size_mb} MB rendition …", flush=True)
        rendition = stored_rendition(storage, args.size_mb * MB, "youtube", footage_id)
        publisher.start()
        assert publisher.process is not None
        pid = publisher.process.pid
        time.sleep(5)  # let the worker settle (consumer group joined) before taking the idle figure
        idle = rss_of(pid)
        peak = idle
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_of(pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        async def send() -> None:
            producer = EventProducer(broker.bootstrap, prefix)
            try:
                await producer.send(RENDITIONS_READY, event_for(footage_id, metadata(("bench-yt",)), rendition))
            finally:
                await producer.stop()

        started = time.perf_counter()
        asyncio.run(send())
        published = read_topic(
            broker.bootstrap, POSTS_PUBLISHED.full_name(prefix), lambda r: len(r) >= 1, timeout_s=1800
        )
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        if not published:
            raise SystemExit(f"nothing was published:\n{publisher.log_tail()}")
        print(f"rendition: {args.size_mb} MB, posted in {elapsed:.1f} s ({args.size_mb / elapsed:.0f} MB/s end to end)")
        print(f"worker RSS idle:            {idle / MB:7.1f} MB")
        print(f"worker RSS peak (upload):   {peak / MB:7.1f} MB (goal < 200 MB)")
        print(f"peak / idle:                {peak / idle:7.2f}")
    finally:
        if publisher is not None:
            publisher.stop()
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
