"""Streaming a 1 GB rendition to the YouTube emulator: the resumable adapter vs one plain chunked HTTP PUT.

Run: .cache/venv/bin/python bench/publisher_upload.py [--size-mb 1024] [--rounds 2]

The emulator runs in its own process (same machine, loopback), so only the uploader is measured here. Both
sides read the same stored file and send it to the same server, which writes it to disk. Reported: throughput of
each (best of the rounds), the ratio adapter/plain (goal ≥ 0.8) and this process's peak RSS while the adapter
uploads (goal < 200 MB), sampled from /proc every 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loa_core.channels import Channel  # noqa: E402
from loa_core.contracts import Rendition, layout  # noqa: E402
from loa_core.storage import LocalStorage  # noqa: E402
from loa_publisher.adapters.http import RetryPolicy  # noqa: E402
from loa_publisher.adapters.youtube import YouTubeAdapter  # noqa: E402
from loa_publisher.auth import Secrets  # noqa: E402
from loa_publisher.ledger import Ledger, PostKey  # noqa: E402
from tests.support.publishing import ledger_session, metadata, request_for, stored_rendition  # noqa: E402

MB = 1024 * 1024


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """Samples this process's RSS in a thread; `peak` is the highest seen while running."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


async def plain_put(base_url: str, path: Path, size: int) -> float:
    async def body() -> AsyncIterator[bytes]:
        with path.open("rb") as f:
            while piece := await asyncio.to_thread(f.read, 2 * MB):  # the same piece size as the adapter
                yield piece

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0)) as client:
        response = await client.put(f"{base_url}/plain/bench", content=body())  # Transfer-Encoding: chunked
    elapsed = time.perf_counter() - started
    assert response.status_code == 200 and response.json()["size"] == size, response.text
    return elapsed


async def adapter_upload(
    base_url: str, storage: LocalStorage, work: Path, rendition_size: int, chunk: int
) -> tuple[float, int]:
    footage_id = "f" * 32
    rendition_model = Rendition(
        profile="youtube",
        key=layout.rendition_key(footage_id, "youtube"),
        width=1920,
        height=1080,
        duration_s=600.0,
        size_bytes=rendition_size,
        video_codec="h264",
        audio_codec="aac",
    )
    ledger_path = work / f"ledger-{time.monotonic_ns()}.sqlite3"
    ledger = Ledger.open(ledger_path)
    channel = Channel(
        name="bench-yt",
        platform="youtube",
        profiles=("youtube",),
        options={"base_url": base_url, "token_url": f"{base_url}/token"},
    )
    secrets = Secrets(
        None,
        {
            "LOA_SECRET_BENCH_YT_CLIENT_ID": "cid",
            "LOA_SECRET_BENCH_YT_CLIENT_SECRET": "csecret",
            "LOA_SECRET_BENCH_YT_REFRESH_TOKEN": "rt-1",
        },
    )
    meta = metadata(("bench-yt",))
    async with httpx.AsyncClient(timeout=httpx.Timeout(connect=15.0, read=300.0, write=300.0, pool=30.0)) as client:
        adapter = YouTubeAdapter(storage, client, secrets, ledger, chunk_size=chunk, policy=RetryPolicy())
        request = request_for(channel, rendition_model, footage_id, meta)
        baseline = rss_bytes()
        with PeakRss() as rss:
            started = time.perf_counter()
            await adapter.publish(request, ledger_session(ledger, PostKey(footage_id, "bench-yt", "youtube")))
            elapsed = time.perf_counter() - started
    ledger.close()
    return elapsed, baseline, rss.peak


def phase(kind: str, base_url: str, work: Path, size: int, chunk: int) -> None:
    """One measurement in this (fresh) process; prints a JSON line for the parent."""
    storage = LocalStorage(work / "storage")
    if kind == "plain":
        baseline = rss_bytes()
        with PeakRss() as rss:
            elapsed = asyncio.run(plain_put(base_url, storage.root / layout.rendition_key("f" * 32, "youtube"), size))
        peak = rss.peak
    else:
        elapsed, baseline, peak = asyncio.run(adapter_upload(base_url, storage, work, size, chunk))
    print(json.dumps({"elapsed": elapsed, "baseline": baseline, "peak": peak}), flush=True)


def run_phase(kind: str, base_url: str, work: Path, size: int, chunk: int) -> dict[str, float]:
    argv = [sys.executable, __file__, "--phase", kind, "--base-url", base_url, "--work", str(work)]
    argv += ["--size-mb", str(size // MB), "--chunk-mb", str(chunk // MB)]
    result = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=REPO)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk-mb", type=int, default=32, help="YouTube chunk size in MB")
    parser.add_argument("--phase", choices=["plain", "adapter"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    size, chunk = args.size_mb * MB, args.chunk_mb * MB
    if args.phase:
        phase(args.phase, args.base_url, args.work, size, chunk)
        return
    work = Path(tempfile.mkdtemp(prefix="loa-bench-"))
    server_root = work / "server"
    print(f"writing a {args.size_mb} MB rendition …", flush=True)
    stored_rendition(LocalStorage(work / "storage"), size, "youtube", "f" * 32)
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.emulators.serve", "youtube", str(server_root)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        results: dict[str, list[dict[str, float]]] = {"plain": [], "adapter": []}
        for round_ in range(1, args.rounds + 1):
            # Alternating, each in a fresh process, so neither side inherits the other's heap or cache state.
            for kind in ("plain", "adapter"):
                results[kind].append(run_phase(kind, base_url, work, size, chunk))
                for leftover in server_root.glob("*"):
                    leftover.unlink()
            plain, ours = results["plain"][-1], results["adapter"][-1]
            print(
                f"round {round_}: plain PUT {size / MB / plain['elapsed']:.0f} MB/s, "
                f"adapter {size / MB / ours['elapsed']:.0f} MB/s "
                f"(RSS {ours['baseline'] / MB:.0f} MB at start, peak {ours['peak'] / MB:.0f} MB)",
                flush=True,
            )
        plain_rate = size / MB / min(r["elapsed"] for r in results["plain"])
        adapter_rate = size / MB / min(r["elapsed"] for r in results["adapter"])
        print(f"size: {args.size_mb} MB, YouTube chunk: {args.chunk_mb} MB, rounds: {args.rounds} (best of each)")
        print(f"plain chunked PUT:         {plain_rate:7.1f} MB/s")
        print(f"YouTube resumable (ours):  {adapter_rate:7.1f} MB/s")
        print(f"ratio adapter/plain:       {adapter_rate / plain_rate:7.2f}  (goal >= 0.8)")
        start_rss = max(r["baseline"] for r in results["adapter"])
        print(f"adapter process RSS at start: {start_rss / MB:6.1f} MB (imports: httpx, boto3, pydantic …)")
        print(
            f"adapter process peak RSS:     {max(r['peak'] for r in results['adapter']) / MB:6.1f} MB (goal < 200 MB)"
        )
        print(f"plain PUT process peak RSS:   {max(r['peak'] for r in results['plain']) / MB:6.1f} MB")
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
