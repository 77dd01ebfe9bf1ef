"""The footage list API (metrics' GET /footage, what the footage list page asks through ingest's relay) over a
projection of many footage, with the page's filters: the first page, by state, by channel, by upload dates.

    .cache/venv/bin/python bench/footage_list.py [footage_count] [--postgres]

The footage (default 10,000) are projected through metrics' own projector, as their events would be: two wards,
four channels (two per ward), eight series, one upload a minute; nine in ten have their cuts and are published on
both their ward's channels, one in twenty of those with one post failed, the rest still on their way. The API runs
in this process (FastAPI's test client, a district admin's token: every ward, as the district's page lists them).
--postgres: the projection on a throwaway PostgreSQL server (tests/support/postgres), as replicas share it.

Figures: p50/p95 of each request (ROUNDS each, after one warm-up). The ratio to read is each list's p95 against the
same request over a projection of BASELINE footage in the same run (what grows with the footage), and against
GET /healthz on the same client (the HTTP and test-client floor). The issue's bound is 300 ms at p95 for 10,000.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loa_core.auth import hash_token
from loa_core.channels import Channel
from loa_metrics.api import create_api
from loa_metrics.projection import open_projection
from loa_metrics.settings import MetricsSettings
from tests.support.metrics_events import T0, new_id, post_failed, published, renditions, uploaded
from tests.support.postgres import PostgresServer

ROUNDS = 40
BASELINE = 100
TOKEN = "bench-token-for-the-footage-list"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WARDS = ("phuong-1", "phuong-2")
CHANNELS = {
    c.name: c
    for c in (
        Channel(name="p1-yt", platform="youtube", profiles=("youtube",), ward=WARDS[0]),
        Channel(name="p1-tt", platform="tiktok", profiles=("tiktok",), ward=WARDS[0]),
        Channel(name="p2-yt", platform="youtube", profiles=("youtube",), ward=WARDS[1]),
        Channel(name="p2-tt", platform="tiktok", profiles=("tiktok",), ward=WARDS[1]),
    )
}
SERIES = [f"Series {i}" for i in range(8)]
# What the footage list page asks (limit 200, newest first), with each of its filters. The dates: three days of
# uploads (4,320 of them at one a minute) somewhere in the middle.
DAY = (T0 + timedelta(days=3)).date()
REQUESTS = {
    "first page": {"limit": 200},
    "state=published": {"status": "published", "limit": 200},
    "state=failed": {"status": "failed", "limit": 200},
    "channel=p2-tt": {"channel": "p2-tt", "limit": 200},
    "dates (3 days)": {"from": DAY.isoformat(), "to": (DAY + timedelta(days=2)).isoformat(), "limit": 200},
}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[round(q * (len(ordered) - 1))]


def fill(location: str, count: int) -> TestClient:
    projection = open_projection(location, CHANNELS)
    events = projection.events
    for i in range(count):
        fid = new_id()
        ward = WARDS[i % 2]
        names = tuple(n for n, c in CHANNELS.items() if c.ward == ward)
        at = T0 + timedelta(minutes=i)
        meta = {"series": SERIES[i % len(SERIES)], "channels": names}
        events.footage_uploaded(uploaded(fid, at, **meta).model_copy(update={"ward": ward}))
        if i % 10 == 0:  # one in ten still on its way
            continue
        events.renditions_ready(renditions(fid, at + timedelta(seconds=30), **meta).model_copy(update={"ward": ward}))
        for name in names:
            channel = CHANNELS[name]
            profile = channel.profiles[0]
            posted = at + timedelta(seconds=60)
            if i % 20 == 1 and channel.platform == "tiktok":
                failed = post_failed(fid, name, channel.platform, at=posted)
                events.failure(failed.model_copy(update={"ward": ward}))
                continue
            post = published(fid, profile, channel=name, platform=channel.platform, post_id=f"{name}-{i}", at=posted)
            events.post_published(post.model_copy(update={"ward": ward}))
    settings = MetricsSettings(api_token_hashes=hash_token(TOKEN))
    return TestClient(create_api(settings, projection.views, projection.engagement))


def timed(client: TestClient, path: str, params: dict[str, object]) -> tuple[list[float], int]:
    first = client.get(path, params=params, headers=AUTH)  # warm-up, and the answer's size
    first.raise_for_status()
    listed = len(first.json()["items"]) if path == "/footage" else 0
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        client.get(path, params=params, headers=AUTH).raise_for_status()
        samples.append(time.perf_counter() - started)
    return samples, listed


@contextmanager
def locations(postgres: bool, tmp: Path) -> Iterator[tuple[str, str]]:
    if not postgres:
        yield str(tmp / "many.sqlite3"), str(tmp / "few.sqlite3")
        return
    server = PostgresServer()
    server.start()
    try:
        yield server.new_database(), server.new_database()
    finally:
        server.stop()


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--postgres"]
    count = int(args[0]) if args else 10_000
    postgres = "--postgres" in sys.argv
    with tempfile.TemporaryDirectory() as folder, locations(postgres, Path(folder)) as (many_at, few_at):
        started = time.perf_counter()
        many = fill(many_at, count)
        database = "PostgreSQL" if postgres else "SQLite"
        print(f"projected {count} footage in {time.perf_counter() - started:.1f} s ({database})")
        few = fill(few_at, BASELINE)
        with many, few:
            health, _ = timed(many, "/healthz", {})
            health_p95 = percentile(health, 0.95)
            print(f"GET /healthz: p50 {statistics.median(health) * 1000:.1f} ms, p95 {health_p95 * 1000:.1f} ms")
            ratio = f"p95/{BASELINE}"
            print(f"{'GET /footage':<18} {'listed':>6} {'p50 ms':>8} {'p95 ms':>8} {ratio:>8} {'p95/healthz':>11}")
            for name, params in REQUESTS.items():
                samples, listed = timed(many, "/footage", params)
                base, _ = timed(few, "/footage", params)
                p95 = percentile(samples, 0.95)
                print(
                    f"{name:<18} {listed:>6} {statistics.median(samples) * 1000:>8.1f} {p95 * 1000:>8.1f} "
                    f"{p95 / percentile(base, 0.95):>8.1f} {p95 / health_p95:>11.1f}"
                )


if __name__ == "__main__":
    main()
