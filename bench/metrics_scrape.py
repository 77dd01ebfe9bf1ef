"""How much the metrics service's projection gauges cost per Prometheus scrape, and how fast it projects events.

    .cache/venv/bin/python bench/metrics_scrape.py [footage_count] [--postgres]

--postgres: the projection on a throwaway PostgreSQL server (tests/support/postgres), as replicas share it; there
every scrape recomputes the status summary (another replica may have written), so no scrape is "unchanged".

Ratio reported: a full scrape of the projection collector (status counts, engagement per channel and series,
top posts, stored bytes) against the baseline of projecting the same footage's events once, both on the same
SQLite file in the same run. A scrape should stay far below Prometheus' 15 s interval (and its 10 s timeout).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loa_core.channels import Channel
from loa_metrics.engagement_store import PostStats
from loa_metrics.metrics import ProjectionCollector
from loa_metrics.projection import open_projection
from tests.support.metrics_events import T0, new_id, published, renditions, uploaded
from tests.support.postgres import PostgresServer

CHANNELS = {
    "yt": Channel(name="yt", platform="youtube", profiles=("youtube",)),
    "tt": Channel(name="tt", platform="tiktok", profiles=("tiktok",)),
}
SERIES = [f"Series {i}" for i in range(8)]


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--postgres"]
    count = int(args[0]) if args else 5000
    server = PostgresServer() if "--postgres" in sys.argv else None
    with tempfile.TemporaryDirectory() as tmp:
        if server is not None:
            server.start()
        try:
            run(count, server.new_database() if server is not None else str(Path(tmp) / "bench.sqlite3"), Path(tmp))
        finally:
            if server is not None:
                server.stop()


def run(count: int, location: str, tmp: Path) -> None:
    projection = open_projection(location, CHANNELS)
    started = time.perf_counter()
    for i in range(count):
        fid = new_id()
        at = T0 + timedelta(minutes=i)
        meta = {"series": SERIES[i % len(SERIES)], "channels": ("yt", "tt")}
        projection.events.footage_uploaded(uploaded(fid, at, **meta))
        projection.events.renditions_ready(renditions(fid, at + timedelta(seconds=30), **meta))
        if i % 10:  # one in ten is still on its way
            projection.events.post_published(
                published(fid, "youtube", channel="yt", platform="youtube", post_id=f"y{i}")
            )
            projection.events.post_published(published(fid, "tiktok", channel="tt", platform="tiktok", post_id=f"t{i}"))
    project_s = time.perf_counter() - started
    events = count * 2 + (count - count // 10) * 2
    projection.engagement.record_post_stats(
        "youtube", {f"y{i}": PostStats(i, i // 10, i // 100, None) for i in range(count)}, T0
    )
    projection.engagement.record_post_stats(
        "tiktok", {f"t{i}": PostStats(i, i // 10, i // 100, 1) for i in range(count)}, T0
    )

    registry = CollectorRegistry()
    registry.register(ProjectionCollector(projection.views, projection.engagement, tmp))
    scrapes = []
    for _ in range(6):
        started = time.perf_counter()
        text = generate_latest(registry)
        scrapes.append(time.perf_counter() - started)
    # The first scrape after a change recomputes every status; on SQLite the next ones reuse it until an event
    # arrives, on PostgreSQL (shared by replicas) each one recomputes it.
    cold_s, scrape_s = scrapes[0], sorted(scrapes[1:])[2]
    print(f"footage: {count}, posts: {(count - count // 10) * 2}, events projected: {events}")
    print(f"projection: {events / project_s:.0f} events/s ({project_s:.2f} s for all)")
    print(f"scrape after a change: {cold_s * 1000:.0f} ms; unchanged (median of 5): {scrape_s * 1000:.0f} ms")
    print(f"exposition size: {len(text)} bytes")
    print(f"ratio scrape after a change / projecting everything once: {cold_s / project_s:.3f}")

    projection.close()


if __name__ == "__main__":
    main()
