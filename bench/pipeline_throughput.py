"""Sustained throughput of short footage, upload complete to published, with 1 and 2 transcode workers, and the
pipeline's own overhead (upload complete to published, minus the ffmpeg time of the footage's transcode).

Run: .cache/venv/bin/python bench/pipeline_throughput.py [--footage 12] [--one-by-one 6] [--size 160x90]
    [--clip-seconds 1]

Everything on loopback: a Kafka broker of its own (loa_dev.kafka), then for each worker count a fresh stack of
ingest, transcode and publisher as processes (loa_dev.stack, the embedded defaults: local storage, the `local`
channel that gets both cuts, veryfast CRF 23, two jobs at once per worker), the second transcode worker a process
of its own in the same consumer group. Footage is a tiny generated clip (tests/support/media.py, testsrc2 and a
sine), remuxed with its own tag per footage so that ingest's dedupe sees new content, posted to ingest's
`POST /footage` (the 201 is "upload complete"); "published" is the later `published_at` of the footage's two
posts (`tiktok` and `youtube` cuts on `local`).

ffmpeg time: every ffmpeg and ffprobe the services run goes through a small bash wrapper (IMAGEIO_FFMPEG_EXE and
PATH) that records its wall interval and its CPU time; runs whose arguments name the footage's transcode work
folder are that footage's. The worker's own figure, the growth of `loa_transcode_job_seconds_sum` on its /metrics,
is read around each footage of the one-by-one phase.

Phases, in this order:
1. bare, 2 at a time: the transcode job alone (`loa_transcode.pipeline.transcode` in this process, same options,
   same channel, same clip; no ingest, Kafka, Faust or publisher): the baseline for one worker;
2. 1 worker, one by one (`--one-by-one` footage, each uploaded once the previous is published): the overhead with
   no queue, p50 and p95 (goal under 1 s at p50);
3. 1 worker, sustained: `--footage` footage uploaded back to back;
4. bare, 4 at a time: the baseline for two workers;
5. 2 workers, sustained.
Prints footage per minute (and ratio to bare and 2 workers / 1 worker), latencies and overheads at p50/p95, the CPU
seconds per footage of every process involved (services with their children, the broker; the bare jobs' ffmpeg
children), and the load average at every phase: on a shared machine CPU seconds are what compare best. On a machine
loaded beyond its cores, wall-clock throughput also measures the share of the CPU a phase wins: a phase with more
ffmpeg processes (2 workers, 4 jobs at once) gets more of it, so compare each pipeline run with its bare run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import loa_core.media  # noqa: E402
from loa_core.channels import DEFAULT_CHANNELS  # noqa: E402
from loa_core.contracts import DEAD_LETTER, FOOTAGE_UPLOADED, POSTS_FAILED, POSTS_PUBLISHED, new_id  # noqa: E402
from loa_core.storage import LocalStorage  # noqa: E402
from loa_dev.kafka import KafkaBroker, free_port  # noqa: E402
from loa_dev.processes import stop_processes, wait_healthy  # noqa: E402
from loa_dev.stack import Stack  # noqa: E402
from loa_transcode.graph import EncodeOptions  # noqa: E402
from loa_transcode.pipeline import JobContext, transcode  # noqa: E402
from tests.support.media import make_clip  # noqa: E402
from tests.support.pipeline import group_assignment  # noqa: E402
from tests.support.polling import wait_until  # noqa: E402
from tests.support.transcode import EventCollector, upload  # noqa: E402

PROFILES = set(DEFAULT_CHANNELS["local"].profiles)  # the posts that make a footage published
TICK = os.sysconf("SC_CLK_TCK")

# Runs the real binary as a child and records, in a file of its own (concurrent runs never interleave): its name,
# start and end (bash's $EPOCHREALTIME), exit code, `times` (the shell's, then its children's user and system CPU)
# and its arguments, one a line.
WRAPPER = """#!/bin/bash
start=$EPOCHREALTIME
"{real}" "$@"
rc=$?
end=$EPOCHREALTIME
{{ echo "{name} $start $end $rc"; times; printf '%s\\n' "$@"; }} > "{records}/$BASHPID-$start.rec"
exit $rc
"""


@dataclass(frozen=True)
class Run:
    """One ffmpeg or ffprobe run."""

    start: float
    end: float
    cpu_s: float
    argv: str


def install_meter(root: Path) -> tuple[Path, dict[str, str]]:
    """Wrappers for ffmpeg (the pinned binary the services run) and ffprobe; the environment that selects them."""
    bin_dir, records = root / "bin", root / "runs"
    bin_dir.mkdir(parents=True)
    records.mkdir()
    real_probe = shutil.which("ffprobe")
    assert real_probe, "ffprobe is not on PATH"
    for name, real in (("ffmpeg", loa_core.media.FFMPEG), ("ffprobe", real_probe)):
        path = bin_dir / name
        path.write_text(WRAPPER.format(real=real, name=name, records=records))
        path.chmod(0o755)
    env = {"IMAGEIO_FFMPEG_EXE": str(bin_dir / "ffmpeg"), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    # The bare jobs run in this process: point its media module at the same wrappers.
    loa_core.media.FFMPEG, loa_core.media.FFPROBE = str(bin_dir / "ffmpeg"), str(bin_dir / "ffprobe")
    return records, env


def _cpu(times_line: str) -> float:
    return sum(
        int(m) * 60 + float(s) for m, s in re.findall(r"(\d+)m([\d.]+)s", times_line)
    )  # "0m1.234s 0m0.100s": user, system


def read_runs(records: Path) -> list[Run]:
    runs = []
    for path in records.glob("*.rec"):
        lines = path.read_text(errors="replace").splitlines()
        if len(lines) < 3:
            continue  # still being written
        _name, start, end, _rc = lines[0].split()
        runs.append(Run(float(start), float(end), _cpu(lines[2]), "\n".join(lines[3:])))
    return runs


def ffmpeg_of(runs: Iterable[Run], footage_id: str) -> tuple[float, float, int]:
    """Wall seconds (the union of the runs' intervals), CPU seconds and count of a footage's transcode runs."""
    mine = sorted((r for r in runs if f"transcode-work/{footage_id}-" in r.argv), key=lambda r: r.start)
    wall, cpu, reach = 0.0, 0.0, 0.0
    for run in mine:
        wall += max(0.0, run.end - max(run.start, reach))
        reach = max(reach, run.end)
        cpu += run.cpu_s
    return wall, cpu, len(mine)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def proc_cpu(pid: int) -> float:
    """User and system CPU seconds of a process and its waited-for children (ffmpeg runs), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK  # utime stime cutime cstime


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


class Clips:
    """Distinct small clips: one base clip, remuxed with its own metadata tag (untimed)."""

    def __init__(self, root: Path, size: str, seconds: float) -> None:
        width, height = (int(v) for v in size.split("x"))
        root.mkdir(parents=True)
        self.root = root
        self.base = make_clip(root / "base.mp4", width=width, height=height, duration_s=seconds)
        self.count = 0

    def next(self) -> Path:
        self.count += 1
        path = self.root / f"clip-{self.count}.mp4"
        tag = f"comment=bench-{self.count}-{uuid.uuid4().hex}"
        cmd = ["ffmpeg", "-v", "error", "-y", "-i", str(self.base), "-c", "copy", "-metadata", tag, str(path)]
        subprocess.run(cmd, check=True)
        return path


@dataclass
class Phase:
    name: str
    footage: int
    wall_s: float
    cpu_s: float
    load_before: str
    load_after: str
    latencies: list[float] = field(default_factory=list)  # upload complete to published
    ffmpeg_wall: list[float] = field(default_factory=list)
    ffmpeg_cpu: list[float] = field(default_factory=list)
    ffmpeg_runs: list[int] = field(default_factory=list)
    job_s: list[float] = field(default_factory=list)  # the worker's own loa_transcode_job_seconds

    @property
    def per_minute(self) -> float:
        return self.footage * 60 / self.wall_s

    @property
    def overheads(self) -> list[float]:
        return [lat - ff for lat, ff in zip(self.latencies, self.ffmpeg_wall, strict=True)]


def bare(storage_root: Path, work: Path, clip: Path, count: int, at_once: int) -> Phase:
    """`count` transcode jobs of `clip`, `at_once` at a time, in this process: the job and nothing around it."""
    storage = LocalStorage(storage_root)
    ctx = JobContext(
        storage=storage, channels=dict(DEFAULT_CHANNELS), options=EncodeOptions(), workdir_root=work / "transcode-work"
    )
    events = [upload(storage, clip, new_id(), channels=("local",)) for _ in range(count)]
    limit = asyncio.Semaphore(at_once)

    async def one(event: object) -> None:
        async with limit:
            await transcode(event, ctx=ctx)  # type: ignore[arg-type]

    async def everything() -> None:
        await asyncio.gather(*(one(e) for e in events))

    before, load_before = _own_cpu(), load()
    started = time.monotonic()
    asyncio.run(everything())
    wall = time.monotonic() - started
    return Phase(f"bare, {at_once} at a time", count, wall, _own_cpu() - before, load_before, load())


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Pipeline:
    """Ingest, transcode (one or two workers) and publisher as processes, on the shared broker."""

    def __init__(self, root: Path, bootstrap: str, meter_env: dict[str, str], workers: int) -> None:
        self.stack = Stack(
            root=root,
            token=f"bench-{uuid.uuid4().hex}",
            kafka_bootstrap=bootstrap,
            topic_prefix=f"bench{workers}w{uuid.uuid4().hex[:6]}.",
            services=("ingest", "transcode", "publisher"),
            extra_env=meter_env,
        )
        self.workers = workers
        self.extra: list[subprocess.Popen[bytes]] = []
        self.extra_ports: list[int] = []

    def start(self) -> None:
        stack = self.stack
        stack.start()
        for n in range(2, self.workers + 1):
            port = free_port()
            env = {**stack.service_env("transcode"), "LOA_HTTP_PORT": str(port)}
            env["LOA_DATA_DIR"] = str(stack.root / f"data-transcode-{n}")  # its own scratch space, as a pod has
            env["LOA_INSTANCE_ID"] = f"transcode-{n}"  # a static member's name is its own: one name, one member
            log = (stack.logs_dir / f"transcode-{n}.log").open("ab")
            self.extra.append(
                subprocess.Popen(
                    [sys.executable, "-m", "loa_transcode"], env=env, stdout=log, stderr=log, cwd=stack.root
                )
            )
            self.extra_ports.append(port)
        for service, process in stack.processes.items():
            wait_healthy(
                process, f"{stack.url(service)}/readyz", name=service, log_tail=lambda s=service: stack.log_tail(s)
            )
        for process, port in zip(self.extra, self.extra_ports, strict=True):
            wait_healthy(process, f"http://127.0.0.1:{port}/readyz", name="transcode 2", log_tail=lambda: "")
        group = f"{stack.topic_prefix}loa-transcode"
        topic = FOOTAGE_UPLOADED.full_name(stack.topic_prefix)

        def settled() -> bool:
            state, owned = group_assignment(stack.kafka_bootstrap or "", group)
            mine = [{p for t, p in parts if t == topic} for parts in owned.values()]
            return state == "Stable" and len(mine) == self.workers and all(mine)

        wait_until(settled, 180, f"{self.workers} transcode workers sharing {topic}", interval_s=1.0)

    def pids(self) -> list[int]:
        return [p.pid for p in self.stack.processes.values()] + [p.pid for p in self.extra]

    def job_seconds(self) -> float:
        """The sum of loa_transcode_job_seconds over the workers (each one's /metrics)."""
        total = 0.0
        urls = [self.stack.url("transcode")] + [f"http://127.0.0.1:{p}" for p in self.extra_ports]
        for url in urls:
            text = httpx.get(f"{url}/metrics", timeout=10).text
            total += sum(
                float(line.split()[-1])
                for line in text.splitlines()
                if line.startswith("loa_transcode_job_seconds_sum{")
            )
        return total

    def upload(self, clip: Path) -> tuple[str, float]:
        with clip.open("rb") as body:
            response = httpx.post(
                f"{self.stack.url('ingest')}/footage",
                headers={"Authorization": f"Bearer {self.stack.token}"},
                files={"file": (clip.name, body, "video/mp4")},
                data={"title": "Hội thi văn nghệ phường"},
                timeout=120,
            )
        done = time.time()
        if response.status_code != 201:
            raise SystemExit(f"upload refused: {response.status_code} {response.text[:500]}")
        return str(response.json()["footage_id"]), done

    def stop(self) -> None:
        stop_processes(self.extra)
        self.stack.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {s}\n{self.stack.log_tail(s, 20)}" for s in self.stack.processes)


def published_times(events: EventCollector, wanted: Iterable[str]) -> dict[str, float] | None:
    """Each footage's publish time (its last post), once every one of them has all its posts."""
    if events.of(POSTS_FAILED) or events.of(DEAD_LETTER):
        raise SystemExit(
            f"a post failed or a record was dead-lettered: {events.of(POSTS_FAILED) + events.of(DEAD_LETTER)}"
        )
    posts: dict[str, dict[str, float]] = {}
    for event in events.of(POSTS_PUBLISHED):
        posts.setdefault(event.footage_id, {})[event.profile] = event.published_at.timestamp()
    times = {}
    for footage_id in wanted:
        got = posts.get(footage_id, {})
        if set(got) < PROFILES or not got:
            return None
        times[footage_id] = max(got.values())
    return times


def run_pipeline(
    pipe: Pipeline, clips: Clips, records: Path, broker_pid: int, count: int, one_by_one: bool, name: str
) -> Phase:
    stack = pipe.stack
    bootstrap = stack.kafka_bootstrap or ""
    pids = [*pipe.pids(), broker_pid]
    paths = [clips.next() for _ in range(count)]
    done: dict[str, float] = {}
    jobs: dict[str, float] = {}
    with EventCollector(bootstrap, stack.topic_prefix, POSTS_PUBLISHED, POSTS_FAILED, DEAD_LETTER) as events:
        cpu_before, load_before = sum(proc_cpu(p) for p in pids), load()
        started_wall = time.time()
        for path in paths:
            job_before = pipe.job_seconds() if one_by_one else 0.0
            footage_id, finished = pipe.upload(path)
            done[footage_id] = finished
            if one_by_one:
                wait_until(lambda f=footage_id: published_times(events, [f]), 300, "the post", diagnose=pipe.logs)
                jobs[footage_id] = pipe.job_seconds() - job_before
        published = wait_until(lambda: published_times(events, done), 900, "every post", diagnose=pipe.logs)
        wall = max(published.values()) - started_wall
        cpu = sum(proc_cpu(p) for p in pids) - cpu_before
    runs = read_runs(records)
    phase = Phase(name, count, wall, cpu, load_before, load())
    for footage_id, finished in done.items():
        phase.latencies.append(published[footage_id] - finished)
        ff_wall, ff_cpu, ff_runs = ffmpeg_of(runs, footage_id)
        phase.ffmpeg_wall.append(ff_wall)
        phase.ffmpeg_cpu.append(ff_cpu)
        phase.ffmpeg_runs.append(ff_runs)
        if footage_id in jobs:
            phase.job_s.append(jobs[footage_id])
    return phase


def p50_95(values: list[float]) -> str:
    return f"p50 {pct(values, 0.5):6.2f} s  p95 {pct(values, 0.95):6.2f} s" if values else "-"


def report(phases: list[Phase]) -> None:
    print()
    print(
        f"{'phase':<26} {'footage':>7} {'wall s':>7} {'per min':>8} {'CPU-s/footage':>14}  load 1/5/15 before → after"
    )
    for p in phases:
        print(
            f"{p.name:<26} {p.footage:>7} {p.wall_s:>7.1f} {p.per_minute:>8.1f} {p.cpu_s / p.footage:>14.2f}"
            f"  {p.load_before} → {p.load_after}"
        )
    by = {p.name: p for p in phases}
    one, two = by["1 worker, sustained"], by["2 workers, sustained"]
    bare2, bare4 = by["bare, 2 at a time"], by["bare, 4 at a time"]
    print()
    print(f"throughput 1 worker / bare 2 at a time:  {one.per_minute / bare2.per_minute:.2f}")
    print(f"throughput 2 workers / bare 4 at a time: {two.per_minute / bare4.per_minute:.2f}")
    print(f"throughput 2 workers / 1 worker:         {two.per_minute / one.per_minute:.2f}")
    print(f"CPU per footage 1 worker / bare:         {one.cpu_s / one.footage / (bare2.cpu_s / bare2.footage):.2f}")
    for p in phases:
        if not p.latencies:
            continue
        print()
        print(f"{p.name} ({p.footage} footage):")
        print(f"  upload complete → published   {p50_95(p.latencies)}")
        print(
            f"  ffmpeg + ffprobe wall         {p50_95(p.ffmpeg_wall)}"
            f"   (CPU {statistics.mean(p.ffmpeg_cpu):.2f} s, {statistics.mean(p.ffmpeg_runs):.1f} runs per footage)"
        )
        if p.job_s:
            print(f"  transcode job (worker's own)  {p50_95(p.job_s)}")
            outside = [lat - job for lat, job in zip(p.latencies, p.job_s, strict=True)]
            inside = [job - ff for job, ff in zip(p.job_s, p.ffmpeg_wall, strict=True)]
            print(f"    outside the job (Kafka, Faust, publisher)  {p50_95(outside)}")
            print(f"    inside the job, not ffmpeg                 {p50_95(inside)}")
        if p.job_s:  # one by one: nothing waits, what is not ffmpeg is the pipeline's own overhead
            print(f"  overhead = latency − ffmpeg   {p50_95(p.overheads)}   (goal p50 < 1 s)")
        else:  # back to back: a footage also waits for a free job slot
            print(f"  waiting + overhead (latency − ffmpeg)  {p50_95(p.overheads)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footage", type=int, default=12, help="footage per sustained run")
    parser.add_argument("--one-by-one", type=int, default=6, help="footage uploaded one at a time (overhead)")
    parser.add_argument("--size", default="160x90", help="the generated clip's size")
    parser.add_argument("--clip-seconds", type=float, default=1.0, help="the generated clip's length")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loa-bench-pipeline-"))
    print(f"load average at start: {load()}")
    broker = KafkaBroker(work / "kafka")
    phases: list[Phase] = []
    try:
        records, meter_env = install_meter(work / "meter")
        clips = Clips(work / "clips", args.size, args.clip_seconds)
        broker.start()
        assert broker.process is not None
        phases.append(bare(work / "bare-storage", work / "bare", clips.base, args.footage, 2))
        print(f"{phases[-1].name}: {phases[-1].wall_s:.1f} s", flush=True)
        for workers in (1, 2):
            if workers == 2:
                phases.append(bare(work / "bare-storage", work / "bare", clips.base, args.footage, 4))
                print(f"{phases[-1].name}: {phases[-1].wall_s:.1f} s", flush=True)
            pipe = Pipeline(work / f"stack-{workers}", broker.bootstrap, meter_env, workers)
            try:
                pipe.start()
                label = "1 worker" if workers == 1 else f"{workers} workers"
                if workers == 1 and args.one_by_one:
                    phases.append(
                        run_pipeline(
                            pipe, clips, records, broker.process.pid, args.one_by_one, True, f"{label}, one by one"
                        )
                    )
                    print(f"{phases[-1].name}: {phases[-1].wall_s:.1f} s", flush=True)
                phases.append(
                    run_pipeline(pipe, clips, records, broker.process.pid, args.footage, False, f"{label}, sustained")
                )
                print(f"{phases[-1].name}: {phases[-1].wall_s:.1f} s", flush=True)
            finally:
                pipe.stop()
        print(
            f"\nclip: {args.size}, {args.clip_seconds:g} s, testsrc2 + sine, H.264/AAC; cuts tiktok 1080x1920 and "
            f"youtube 1920x1080 on `local`; veryfast CRF 23; 2 jobs at once per worker"
        )
        report(phases)
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
