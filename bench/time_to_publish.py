"""Time to publish a long footage: upload complete → every cut published on `local`, single run against chunked
encoding with 1 and 2 transcode workers, as ratios to the footage's own duration, and the chunks' costs.

Run: .cache/venv/bin/python bench/time_to_publish.py [--minutes 10] [--chunk-s 30] [--phases floor,1,2]

The footage: phone-like 1080p30 (bench/transcode_speed.py's `phone`: testsrc2 with sensor grain at 16 Mb/s, H.264
High, closed GOPs of 2 s as phones write them) with AAC sound, generated once and cached in .cache/bench/.
Each phase is a fresh stack on one broker (bench/pipeline_throughput.py's Pipeline: ingest, transcode, publisher as
processes, the embedded defaults: local storage, the `local` channel's tiktok and youtube cuts, veryfast CRF 23):
- floor: 1 worker, chunking off (LOA_CHUNKED=false): today's single run, the floor chunking is measured against;
- 1 / 2: chunking on (chunks of --chunk-s), 1 or 2 workers in the group.
"Upload complete" is ingest's 201 to POST /footage; "published" the later published_at of the footage's posts.

Every ffmpeg and ffprobe the services run goes through pipeline_throughput's meter (wall interval and CPU time of
each run); the footage's runs are sorted by what they do: chunk encodes, the join, the whole programme's audio, the
keyframe candidates, the single run's encode, the rest (probes, loudness, checks, stills). From them: CPU-seconds
per chunk, the join's cost, the chunk overhead (everything chunking adds, against the single run's encode), and the
time to publish with N workers derived on paper:
    T(N) = before + ceil(chunks / N) x (wall of one chunk, alone on a worker) + after
where `before` (upload complete → the first chunk starts) and `after` (the last chunk done → published: the join,
checks, stills, publish) are measured in the 1-worker phase. On this 2-core machine two workers share the same
cores, so the 2-worker phase cannot beat one; the curve is what N workers of this machine's size would do.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pipeline_throughput import (  # noqa: E402
    Pipeline,
    Run,
    install_meter,
    load,
    proc_cpu,
    published_times,
    read_runs,
)

from loa_core.contracts import DEAD_LETTER, POSTS_FAILED, POSTS_PUBLISHED  # noqa: E402
from loa_dev.kafka import KafkaBroker  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402
from tests.support.transcode import EventCollector  # noqa: E402

CACHE = REPO / ".cache" / "bench"
PHONE = ["-vf", "noise=alls=5:allf=t+u", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "16M", "-maxrate", "20M",
         "-bufsize", "32M", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0"]  # fmt: skip


def footage(minutes: float) -> Path:
    """The cached phone-like footage (made once: about as long as encoding it at veryfast)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"phone-1080p30-{minutes:g}min.mp4"
    if path.exists():
        return path
    # One minute is encoded (the grain makes it slow), then repeated by stream copy: a GOP ends on the minute.
    minute = CACHE / "phone-1080p30-1min.mp4"
    if not minute.exists():
        print(f"making a minute of phone-like 1080p30 footage in {minute} (once) ...", flush=True)
        partial = minute.with_suffix(".partial.mp4")
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
             "-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000", "-t", "60",
             *PHONE, "-profile:v", "high", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", str(partial)],
            check=True,
        )  # fmt: skip
        partial.rename(minute)
    partial = path.with_suffix(".partial.mp4")
    # The minute's picture looped alone (each loop exactly 1800 frames long), and a sound made for the whole length:
    # looped with its sound, each loop started after the minute's longest stream, and the picture had a 44 ms gap
    # every minute, which transcode rightly takes for a variable frame rate (and encodes in a single run).
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", str(math.ceil(minutes) - 1), "-i", str(minute),
         "-f", "lavfi", "-i", "sine=frequency=440:beep_factor=4:sample_rate=48000", "-t", str(minutes * 60),
         "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", str(partial)],
        check=True,
    )  # fmt: skip
    partial.rename(path)
    return path


KINDS = ("chunk", "prints", "join", "audio", "candidates", "single", "other")


def kind_of(run: Run) -> str:
    args = run.argv
    if "/chunk-" in args and "-frames:v" in args:
        return "chunk"
    if "/chunk-" in args and "rawvideo" in args:
        return "prints"  # a chunk's cut decoded to hash its frames (its share of the cut's fingerprint)
    if "\nconcat\n" in f"\n{args}\n":
        return "join"
    if "-skip_frame" in args:
        return "candidates"
    if ".m4a" in args and "libx264" not in args:
        return "audio"
    if "libx264" in args:
        return "single"
    return "other"


@dataclass
class Result:
    name: str
    workers: int
    latency_s: float = 0.0
    cpu_s: float = 0.0  # every process of the stack, children included
    load_before: str = ""
    load_after: str = ""
    runs: dict[str, list[Run]] = field(default_factory=dict)
    first_chunk_after_s: float = 0.0  # upload complete → the first chunk encode starts
    after_last_chunk_s: float = 0.0  # the last chunk encode ends → published

    def cpu(self, kind: str) -> float:
        return sum(r.cpu_s for r in self.runs.get(kind, []))


def phase(name: str, workers: int, chunked: bool, args: argparse.Namespace, broker: KafkaBroker, work: Path,
          source: Path) -> Result:  # fmt: skip
    records, meter_env = install_meter(work / f"meter-{name}")
    env = {**meter_env, "LOA_CHUNKED": "true" if chunked else "false", "LOA_CHUNK_S": str(args.chunk_s),
           "LOA_CHUNKED_FROM_S": str(args.chunked_from_s)}  # fmt: skip
    pipe = Pipeline(work / f"stack-{name}", broker.bootstrap, env, workers)
    result = Result(name, workers)
    try:
        pipe.start()
        stack = pipe.stack
        assert broker.process is not None
        pids = [*pipe.pids(), broker.process.pid]
        with EventCollector(stack.kafka_bootstrap or "", stack.topic_prefix, POSTS_PUBLISHED, POSTS_FAILED,
                            DEAD_LETTER) as events:  # fmt: skip
            result.load_before, cpu_before = load(), sum(proc_cpu(p) for p in pids)
            footage_id, done = pipe.upload(source)
            print(f"  {name}: uploaded {footage_id}, waiting for its posts ...", flush=True)
            published = wait_until(
                lambda: published_times(events, [footage_id]), 4 * 3600, "every post", diagnose=pipe.logs,
                interval_s=1.0,
            )[footage_id]  # fmt: skip
            result.cpu_s = sum(proc_cpu(p) for p in pids) - cpu_before
            result.load_after = load()
        result.latency_s = published - done
        runs = read_runs(records)
        mine = [r for r in runs if footage_id in r.argv]
        # A chunk's runs on its own files name its job's folder, not the footage.
        jobs = {m for r in mine for m in re.findall(r"/chunk-([0-9a-f]{32})-", r.argv)}
        mine += [r for r in runs if footage_id not in r.argv and any(f"/chunk-{j}-" in r.argv for j in jobs)]
        for r in mine:
            result.runs.setdefault(kind_of(r), []).append(r)
        chunks = result.runs.get("chunk", [])
        if chunks:
            result.first_chunk_after_s = min(r.start for r in chunks) - done
            result.after_last_chunk_s = published - max(r.end for r in chunks)
    finally:
        pipe.stop()
    print(f"  {name}: {result.latency_s:.1f} s (load {result.load_before} → {result.load_after})", flush=True)
    return result


def report(results: list[Result], duration_s: float, chunk_s: float) -> None:
    print()
    print(f"footage: {duration_s / 60:g} min phone-like 1080p30, 16 Mb/s, GOP 2 s; cuts tiktok + youtube on `local`;"
          f" chunks of {chunk_s:g} s; {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'phase':<22} {'time to publish':>16} {'÷ duration':>11} {'stack CPU-s':>12}  load before → after")
    for r in results:
        print(f"{r.name:<22} {r.latency_s:>14.1f} s {r.latency_s / duration_s:>11.2f} {r.cpu_s:>12.0f}"
              f"  {r.load_before} → {r.load_after}")  # fmt: skip
    by = {r.name: r for r in results}
    floor = by.get("floor (single run)")
    for r in results:
        if floor is not None and r is not floor:
            print(f"{r.name} / floor: {r.latency_s / floor.latency_s:.2f}x time, {r.cpu_s / floor.cpu_s:.2f}x CPU")
    print()
    print("ffmpeg CPU-seconds by kind (count):")
    for r in results:
        cells = "  ".join(f"{k} {r.cpu(k):7.1f} ({len(r.runs.get(k, []))})" for k in KINDS)
        print(f"  {r.name:<20} {cells}")
    one = next((r for r in results if r.runs.get("chunk") and r.workers == 1), None)
    if one is None:
        return
    chunks = one.runs["chunk"]
    cpu = [c.cpu_s for c in chunks]
    wall = [c.end - c.start for c in chunks]
    joins = one.runs.get("join", [])
    print()
    print(f"per chunk ({len(chunks)}, 1 worker): CPU {statistics.mean(cpu):.1f} s mean, {max(cpu):.1f} s max; "
          f"wall {statistics.mean(wall):.1f} s mean")  # fmt: skip
    print(f"join (stream copy, {len(joins)} cuts): CPU {sum(j.cpu_s for j in joins):.2f} s, "
          f"wall {sum(j.end - j.start for j in joins):.2f} s")  # fmt: skip
    if floor is not None:
        added = one.cpu("chunk") + one.cpu("join") + one.cpu("audio") + one.cpu("candidates") - floor.cpu("single")
        print(f"chunk overhead: chunks + join + audio + candidates − the single run's encode = {added:+.1f} CPU-s "
              f"({added / floor.cpu('single'):+.1%} of the single run's {floor.cpu('single'):.0f})")  # fmt: skip
    before, after = one.first_chunk_after_s, one.after_last_chunk_s
    print(f"upload complete → first chunk starts {before:.1f} s; last chunk done → published {after:.1f} s")
    print()
    print("derived on paper, N workers of this machine's size (each chunk as fast as alone on one worker):")
    per = statistics.mean(wall)
    # On a loaded machine a chunk's wall time is mostly waiting for a core: the same curve with each second scaled
    # by (a chunk's CPU-seconds / the cores) / its wall time is what an unloaded machine of this size would do.
    quiet = statistics.mean(cpu) / (os.cpu_count() or 1) / per
    print(f"  (quiet: x {quiet:.3f}, a chunk's CPU-seconds over {os.cpu_count()} cores against its wall time)")
    for n in sorted({1, 2, 4, 8, 16, len(chunks)}):
        t = one.first_chunk_after_s + math.ceil(len(chunks) / n) * per + one.after_last_chunk_s
        print(
            f"  N={n:<3} time to publish ≈ {t:7.1f} s = {t / duration_s:5.2f} x the duration;"
            f" quiet ≈ {t * quiet:6.1f} s = {t * quiet / duration_s:.2f} x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--chunk-s", type=float, default=30.0)
    parser.add_argument("--chunked-from-s", type=float, default=180.0, help="the service's default")
    parser.add_argument("--phases", default="floor,1,2", help="which of floor, 1, 2 to run, in this order")
    args = parser.parse_args()
    source = footage(args.minutes)
    duration_s = args.minutes * 60
    work = Path(tempfile.mkdtemp(prefix="loa-bench-ttp-"))
    broker = KafkaBroker(work / "kafka")
    results = []
    started = time.monotonic()
    try:
        broker.start()
        for name in args.phases.split(","):
            if name == "floor":
                results.append(phase("floor (single run)", 1, False, args, broker, work, source))
            else:
                n = int(name)
                label = f"chunked, {n} worker" + ("s" if n > 1 else "")
                results.append(phase(label, n, True, args, broker, work, source))
            report(results, duration_s, args.chunk_s)  # after every phase: a run cut short still says something
        print(f"\nbench wall time {time.monotonic() - started:.0f} s")
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
