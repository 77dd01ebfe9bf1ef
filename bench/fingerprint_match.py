"""Fingerprint matching (loa_core.fingerprint): false matches on unrelated real clips, and the time to match a copy
against 10,000 published cuts.

    .cache/venv/bin/python bench/fingerprint_match.py [unrelated_count] [cut_count]

Real clips, made by ffmpeg (tests/support/scenes.py) and fingerprinted through loa_core.media: PUBLISHED published
cuts of 20 s (320x180, 12 fps), and `unrelated_count` (default 300) unrelated clips of 10 s at 96x54, each of its
own seed. The index holds the published cuts' real fingerprints plus synthetic cuts up to `cut_count` (default
10,000): random 64-bit frame hashes, 30-180 s at 2 fps, one in three landscape (with its centre-crop hashes).

Figures:
- false-match rate: unrelated clips matching any cut / unrelated clips, and the most agreeing frames any of them
  reached on any offset of a real cut (a match needs fingerprint.MIN_AGREEING);
- control: a 12 s re-encoded excerpt of each published cut is found at its cut and span (should be all);
- match time: p50/p95 of FingerprintIndex.search for a 20 s copy over the whole index, against the same copy aligned
  exactly with every cut (no prefilter: the baseline, in the same run); the index's build time;
- through metrics (loa_metrics.verification, SQLite): the first check (loads the 10,000 fingerprints) and the next
  checks' p50/p95.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loa_core.contracts.verification import VerifyRequest
from loa_core.fingerprint import Fingerprint, FingerprintIndex, agreement, best_alignment, fingerprint_file
from loa_metrics.projection import open_projection
from loa_metrics.store import cut_fingerprints, footage, posts
from tests.support.scenes import derive, make_scene_clip

PUBLISHED = 12
ROUNDS = 30
BASELINE_ROUNDS = 3


def fingerprint(path: Path) -> Fingerprint:
    return asyncio.run(fingerprint_file(path))


def synthetic(rng: np.random.Generator, count: int) -> list[tuple[str, Fingerprint]]:
    made = []
    for i in range(count):
        frames = int(rng.integers(60, 361))
        full = rng.integers(1, 2**63, size=frames, dtype=np.int64).astype(np.uint64)
        center = rng.integers(1, 2**63, size=frames, dtype=np.int64).astype(np.uint64) if i % 3 == 0 else None
        made.append((f"{10**6 + i:032x}/youtube", Fingerprint(full=full, center=center)))
    return made


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def main() -> None:
    unrelated_count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    cut_count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        cuts = {
            f"{k + 1:032x}/youtube": make_scene_clip(
                folder / f"cut-{k}.mp4", seed=1000 + k, duration_s=20, width=320, height=180, fps=12
            )
            for k in range(PUBLISHED)
        }
        prints = {key: fingerprint(path) for key, path in cuts.items()}
        excerpts = {
            key: fingerprint(derive(path, folder / f"excerpt-{i}.mp4", start_s=4.0, duration_s=12.0, video_kbps=60))
            for i, (key, path) in enumerate(cuts.items())
        }
        unrelated = []
        for seed in range(unrelated_count):
            clip = make_scene_clip(
                folder / "other.mp4", seed=50_000 + seed, duration_s=10, width=96, height=54, shot_s=2.5
            )
            unrelated.append(fingerprint(clip))
        print(f"clips made and fingerprinted in {time.perf_counter() - started:.0f} s")

        entries = list(prints.items()) + synthetic(rng, cut_count - PUBLISHED)
        index = FingerprintIndex()
        started = time.perf_counter()
        index.extend(entries)
        build_s = time.perf_counter() - started
        frames = sum(len(fp.full) + (0 if fp.center is None else len(fp.center)) for _, fp in entries)
        print(f"index: {len(index)} cuts, {frames} frame hashes, built in {build_s * 1000:.0f} ms")

        false = sum(1 for q in unrelated if index.search(q))
        closest = max(
            int(agreement(q.full, h)[0].max()) for q in unrelated for fp in prints.values() for _, h in fp.tracks()
        )
        print(
            f"false matches: {false}/{len(unrelated)} unrelated clips = {false / len(unrelated):.4f}; "
            f"most agreeing frames reached: {closest} (a match needs 8)"
        )
        found = 0
        for key, q in excerpts.items():
            hits = index.search(q)
            found += bool(hits and hits[0].key == key and hits[0].alignment.span_s == (4.0, 16.0))
        print(f"control: {found}/{len(excerpts)} re-encoded excerpts found at their cut and span 00:04-00:16")

        target = f"{3:032x}"
        query = Fingerprint(full=prints[f"{target}/youtube"].full[:40])  # 20 s
        index.search(query)
        timed = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            assert index.search(query)[0].key == f"{target}/youtube"
            timed.append(time.perf_counter() - started)
        p50, p95 = percentiles(timed)
        brute = []
        for _ in range(BASELINE_ROUNDS):
            started = time.perf_counter()
            for _, fp in entries:
                for variant, h in fp.tracks():
                    best_alignment(query.full, h, variant)
            brute.append(time.perf_counter() - started)
        baseline = statistics.median(brute)
        print(
            f"search, 20 s copy over {len(index)} cuts: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms; "
            f"exact alignment with every cut (baseline) {baseline * 1000:.0f} ms: {baseline / p50:.0f}x slower"
        )

        projection = open_projection(folder / "projection.sqlite3", {})
        rows = [
            {
                "footage_id": key.split("/")[0],
                "profile": "youtube",
                "ward": "default",
                "event_id": "e",
                "sha256": None,
                "fingerprint": fp.to_text(),
            }
            for key, fp in entries
        ]
        projection.database.write(lambda c: c.execute(cut_fingerprints.insert(), rows))
        projection.database.write(lambda c: c.execute(footage.insert(), [{"footage_id": target, "title": "Lễ"}]))
        projection.database.write(
            lambda c: c.execute(
                posts.insert(),
                [
                    {
                        "footage_id": target,
                        "channel": "yt",
                        "profile": "youtube",
                        "platform": "youtube",
                        "url": "https://example.invalid/v",
                        "published_at": "2026-11-20T03:00:00+00:00",
                    }
                ],
            )
        )
        room = projection.verifications
        request = VerifyRequest(fingerprint=query.to_text())
        started = time.perf_counter()
        first = room.check(request)
        first_s = time.perf_counter() - started
        assert first.match is not None and first.match.footage_id == target
        checks = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            room.check(request)
            checks.append(time.perf_counter() - started)
        c50, c95 = percentiles(checks)
        print(
            f"metrics' check over {len(entries)} cuts (SQLite): first (loads them) {first_s * 1000:.0f} ms, "
            f"then p50 {c50 * 1000:.1f} ms, p95 {c95 * 1000:.1f} ms"
        )
        projection.close()


if __name__ == "__main__":
    main()
