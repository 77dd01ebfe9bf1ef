"""Idle RSS of every service, and transcode's peak RSS under a job: the figures behind deploy/k8s's resources.

Run: .cache/venv/bin/python bench/service_rss.py [--seconds 10] [--settle 15]

Starts a Kafka broker and the five services as processes (`python -m loa_<service>`, what each container runs),
waits until each answers /readyz, lets them settle for --settle seconds (consumer groups joined, first lag and
status rounds done), then samples each service's RSS with its children (/proc, every 50 ms for 5 s) and prints the
highest. Then stores a --seconds long 1080p30 clip and sends its footage.uploaded: transcode's process tree (the
worker and its ffmpeg runs: probe, loudness pass, the one encode of every cut, thumbnails) is sampled every 50 ms
until renditions.ready arrives, and its peak printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from aiokafka.partitioner import DefaultPartitioner  # noqa: E402

from loa_core.contracts import FOOTAGE_UPLOADED, RENDITIONS_READY, FootageMetadata, SourceMedia, layout, new_id  # noqa: E402
from loa_core.contracts.events import FootageUploaded  # noqa: E402
from loa_core.hashing import sha256_file  # noqa: E402
from loa_core.storage import LocalStorage  # noqa: E402
from loa_dev.kafka import free_port  # noqa: E402
from loa_dev.processes import wait_healthy  # noqa: E402
from loa_dev.stack import Stack  # noqa: E402
from tests.support.kafka import read_topic  # noqa: E402
from tests.support.media import make_clip  # noqa: E402
from tests.support.transcode import send_event  # noqa: E402

MiB = 1024 * 1024


def rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found += [int(c) for c in children.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def tree_rss(pid: int) -> int:
    """RSS of a process and all its descendants (what a container's memory cgroup counts, less the page cache)."""
    return rss_of(pid) + sum(tree_rss(child) for child in children_of(pid))


def peak_while(pid: int, running: threading.Event) -> list[int]:
    peak = [0]

    def sample() -> None:
        while running.is_set():
            peak[0] = max(peak[0], tree_rss(pid))
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return peak


def live_source(seconds: float) -> list[str]:
    """ffmpeg sending a generated 720p30 live in real time, as OBS would (H.264 about 3 Mb/s, AAC)."""
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", f"{seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "60", "-b:v", "3M",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
    ]  # fmt: skip


def distinct_partitions(count: int) -> list[str]:
    """Footage ids that the producer's partitioner (murmur2 of the key, as Kafka's) puts on `count` partitions."""
    partitions = list(range(FOOTAGE_UPLOADED.partitions))
    chosen: dict[int, str] = {}
    while len(chosen) < count:
        footage_id = new_id()
        chosen.setdefault(DefaultPartitioner()(footage_id.encode(), partitions, partitions), footage_id)
    return list(chosen.values())


def uploaded(storage: LocalStorage, clip: Path, seconds: float, footage_id: str) -> FootageUploaded:
    key = layout.source_key(footage_id)
    storage.put_file(key, clip)
    return FootageUploaded(
        footage_id=footage_id,
        metadata=FootageMetadata(title="Hội thi văn nghệ", channels=("local",)),
        media=SourceMedia(
            key=key,
            size_bytes=clip.stat().st_size,
            sha256=sha256_file(clip),
            duration_s=seconds,
            width=1920,
            height=1080,
            has_audio=True,
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the 1080p30 clip transcoded")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds between ready and the idle samples")
    parser.add_argument("--jobs", type=int, default=1, help="footage sent at once, each to its own partition")
    parser.add_argument("--live", type=float, default=0.0, help="seconds of RTMP live to the archiver (0: none)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loa-bench-rss-"))
    stack = Stack(root=work, token="bench", topic_prefix="bench.")
    archiver: subprocess.Popen[bytes] | None = None
    try:
        stack.start()
        archiver_port = free_port()
        rtmp_port = free_port()
        env = {
            **stack.service_env("metrics"),
            "LOA_HTTP_PORT": str(archiver_port),
            "LOA_RTMP_PORT": str(rtmp_port),
            "LOA_DATA_DIR": str(work / "archiver-data"),
            # The live ends when the publisher disconnects; do not wait the default 30 s for it to come back.
            "LOA_SILENCE_TIMEOUT_S": "3",
        }
        log = (stack.logs_dir / "archiver.log").open("ab")
        archiver = subprocess.Popen([sys.executable, "-m", "loa_archiver"], env=env, stdout=log, stderr=log, cwd=work)
        archiver_log = stack.logs_dir / "archiver.log"
        wait_healthy(
            archiver,
            f"http://127.0.0.1:{archiver_port}/readyz",
            name="archiver",
            log_tail=lambda: archiver_log.read_text(errors="replace")[-4000:],
            timeout_s=120,
        )
        for service, process in stack.processes.items():
            wait_healthy(
                process, f"{stack.url(service)}/readyz", name=service, log_tail=lambda s=service: stack.log_tail(s)
            )
        pids = {service: process.pid for service, process in stack.processes.items()}
        pids["archiver"] = archiver.pid
        time.sleep(args.settle)
        idle: dict[str, int] = {}
        for _ in range(100):
            for service, pid in pids.items():
                idle[service] = max(idle.get(service, 0), tree_rss(pid))
            time.sleep(0.05)

        clip = make_clip(work / "source.mp4", width=1920, height=1080, duration_s=args.seconds)
        storage = LocalStorage(work / "storage")
        events = [uploaded(storage, clip, args.seconds, footage_id) for footage_id in distinct_partitions(args.jobs)]
        running = threading.Event()
        running.set()
        peak = peak_while(pids["transcode"], running)
        started = time.perf_counter()
        for event in events:
            send_event(stack.kafka_bootstrap or "", stack.topic_prefix, FOOTAGE_UPLOADED, event)
        done = read_topic(
            stack.kafka_bootstrap or "",
            RENDITIONS_READY.full_name(stack.topic_prefix),
            lambda r: len(r) >= args.jobs,
            1800,
        )
        elapsed = time.perf_counter() - started
        running.clear()
        if len(done) < args.jobs:
            raise SystemExit(f"{len(done)} of {args.jobs} renditions.ready:\n{stack.log_tail('transcode')}")
        live_peak = [0]
        if args.live:
            response = httpx.post(
                f"http://127.0.0.1:{archiver_port}/stream-keys",
                json={"channel": "local", "title": "Lễ kỷ niệm"},
                headers={"Authorization": f"Bearer {stack.token}"},
                timeout=10,
            )
            response.raise_for_status()
            recording = threading.Event()
            recording.set()
            live_peak = peak_while(archiver.pid, recording)
            url = f"rtmp://127.0.0.1:{rtmp_port}/live/{response.json()['stream_key']}"
            subprocess.run([*live_source(args.live), "-f", "flv", url], check=True, capture_output=True)
            announced = read_topic(
                stack.kafka_bootstrap or "",
                FOOTAGE_UPLOADED.full_name(stack.topic_prefix),
                lambda r: len(r) >= args.jobs + 1,
                300,
            )
            recording.clear()
            if len(announced) < args.jobs + 1:
                raise SystemExit(f"the live was not announced:\n{archiver_log.read_text(errors='replace')[-4000:]}")
        print("idle RSS (process and children, highest of 100 samples):")
        for service, value in idle.items():
            print(f"  {service:<10} {value / MiB:7.1f} MiB")
        print(
            f"transcode peak RSS, {args.jobs} job(s) at once of a {args.seconds:.0f} s 1080p30 clip ({elapsed:.1f} s): "
            f"{peak[0] / MiB:7.1f} MiB"
        )
        if args.live:
            live = f"a {args.live:.0f} s 720p30 live recorded and announced"
            print(f"archiver peak RSS, {live}: {live_peak[0] / MiB:7.1f} MiB")
    finally:
        if archiver is not None:
            archiver.terminate()
            archiver.wait(60)
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
