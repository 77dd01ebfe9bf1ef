"""The footage page's costs on one machine: the page itself (metrics' view through the relay, the channel text
rendered, stills looked up), a <video>'s seek (a 1 MiB Range of a 64 MiB cut) and a whole cut streamed from local
storage through ingest (the authorized endpoint, never a public URL).

Ingest runs as a process on a real broker, metrics' API in this process (tests/support/footage_stack.py); the stored
cut is replaced by 64 MiB of random bytes (the endpoint streams what storage holds).

Run: .cache/venv/bin/python bench/footage_page.py
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from loa_core.channels import Channel
from loa_core.contracts import layout
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.support.footage_stack import WARD_A, auth, footage_stack

ROUNDS = 50
CUT_BYTES = 64 * 1024 * 1024
CHANNELS = [Channel(name="a-tiktok", platform="tiktok", profiles=("tiktok",), ward=WARD_A, approval_required=True)]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms (n={len(ordered)})"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        broker = KafkaBroker(root / "kafka")
        broker.start()
        try:
            with footage_stack(broker, root, CHANNELS, "Liên hoan văn nghệ", "Văn nghệ") as stack:
                key = layout.rendition_key(stack.footage_id, "tiktok")
                LocalStorage(stack.ingest.storage_root).put_stream(key, [os.urandom(CUT_BYTES)])
                headers = auth(stack.a_viewer)
                with httpx.Client(timeout=60) as client:
                    page_url = f"{stack.ingest.url}/ui/footage/{stack.footage_id}"
                    client.get(page_url, headers=headers).raise_for_status()
                    pages = []
                    for _ in range(ROUNDS):
                        started = time.perf_counter()
                        client.get(page_url, headers=headers).raise_for_status()
                        pages.append(time.perf_counter() - started)
                    relays = []
                    for _ in range(ROUNDS):
                        started = time.perf_counter()
                        client.get(f"{stack.ingest.url}/footage/{stack.footage_id}", headers=headers).raise_for_status()
                        relays.append(time.perf_counter() - started)
                    seeks = []
                    rng = random.Random(7)
                    for _ in range(ROUNDS):
                        start = rng.randrange(0, CUT_BYTES - 2**20)
                        asked = {**headers, "Range": f"bytes={start}-{start + 2**20 - 1}"}
                        started = time.perf_counter()
                        answer = client.get(stack.cut_url(), headers=asked)
                        seeks.append(time.perf_counter() - started)
                        assert answer.status_code == 206 and len(answer.content) == 2**20
                    wholes = []
                    for _ in range(3):
                        started = time.perf_counter()
                        with client.stream("GET", stack.cut_url(), headers=headers) as streamed:
                            size = sum(len(chunk) for chunk in streamed.iter_bytes())
                        wholes.append(time.perf_counter() - started)
                        assert size == CUT_BYTES
        finally:
            broker.stop()
    print(f"footage page: {percentiles(pages)}")
    print(f"its status view alone (GET /footage/{{id}}, the relay to metrics): {percentiles(relays)}")
    print(f"1 MiB Range of a 64 MiB cut: {percentiles(seeks)}")
    best = min(wholes)
    print(f"whole 64 MiB cut: best {best:.2f} s = {CUT_BYTES / best / 2**20:.0f} MiB/s (of 3)")


if __name__ == "__main__":
    sys.exit(main())
