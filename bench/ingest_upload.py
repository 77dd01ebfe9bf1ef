"""tus upload throughput and ingest's peak RSS for a large file, against a plain copy into the same storage.

Run: .cache/venv/bin/python bench/ingest_upload.py [--size-mb 2048] [--chunk-mb 16] [--rounds 1] [--floor] [--s3]
         [--no-checksum] [--profile DIR] [--shared]

Makes (once, cached in .cache/bench/) a valid video of about --size-mb: raw 1280x720 frames in Matroska, so it
passes ingest's ffprobe and decode checks and costs no encoding time. Starts a Kafka broker and the real ingest
process (`python -m loa_ingest`), uploads the file with the standard tuspy client over loopback (sha256 checksum
on every chunk, as `loa upload` does), and times it from the creation request to the final 204 (so validation,
storage and the Kafka announcement are included). The baseline, in the same run, is a plain copy of the same file
into the same storage (`Storage.put_file`). Prints both throughputs, their ratio (goal >= 0.7), how many of the
machine's cores were busy during each (from /proc/stat: every process, other people's too) and the ingest
process's peak RSS from /proc (VmHWM, goal < 150 MB). --rounds N repeats every measurement N times, interleaved
(a fresh ingest each round, so the file is never a duplicate), and reports medians. --floor adds, in each round,
the same tuspy upload to bench/tus_floor.py, the leanest receiver Python can be: "threads, store" does only what
every receiver must (write the spool and hash the whole file, in two lanes), "threads, discard" drops the bytes
(the transport alone), and "uvicorn, discard" drops them in a bare ASGI app on uvicorn, ingest's server (what its
receive path costs before any work). ingest / floor says how much ingest's own code costs; floor / copy, what no
receiver of that kind can beat on this machine with this client. With --s3, storage is a local MinIO (.cache/bin/minio).
With --shared, each round also uploads to an ingest with the shared tus spool (LOA_TUS_SPOOL=shared: a part in the
storage per chunk, read back and hashed at the end; loa_ingest/tus_parts.py), same storage and database kind, and
prints its ratio to the local spool.
With --profile DIR, py-spy (if installed in the venv) samples the ingest process and this client during the upload
and writes their collapsed stacks to DIR (ingest.txt, client.txt); the busiest functions are printed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tusclient.client import TusClient  # noqa: E402
from tusclient.uploader.uploader import Uploader  # noqa: E402

from loa_core.storage import LocalStorage, S3Storage, Storage  # noqa: E402
from loa_dev.kafka import KafkaBroker, free_port  # noqa: E402
from loa_dev.processes import stop_process, wait_healthy  # noqa: E402
from tests.support.ingest import run_ingest  # noqa: E402

MB = 1024 * 1024
WIDTH, HEIGHT, FPS = 1280, 720, 25
FRAME_BYTES = WIDTH * HEIGHT * 3 // 2  # yuv420p


class Sha256Uploader(Uploader):
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def make_source(size_mb: int) -> Path:
    frames = max(FPS, size_mb * MB // FRAME_BYTES)
    path = REPO / ".cache" / "bench" / f"ingest-raw-{WIDTH}x{HEIGHT}-{frames}f.mkv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part.mkv")
        print(f"making a {frames}-frame raw video ({frames * FRAME_BYTES / MB:.0f} MiB) at {path} …", flush=True)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
             "-frames:v", str(frames), "-c:v", "rawvideo", "-pix_fmt", "yuv420p", str(tmp)],
            check=True,
        )  # fmt: skip
        tmp.replace(path)
    return path


def vm_hwm(pid: int) -> int:
    """Peak resident set size of a live process, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def vm_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float:
    """How many of the machine's cores were busy on average between two cpu_ticks() (any process, not only ours)."""
    return (after[0] - before[0]) / max(after[1] - before[1], 1) * (os.cpu_count() or 1)


def process_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of a live process: its main thread (for ingest: the event loop), its other live
    threads, in all ("total", which keeps the time of threads that have exited) and its waited-for children
    ("children": ffprobe/ffmpeg for ingest)."""
    tick = os.sysconf("SC_CLK_TCK")

    def parse(stat: str) -> tuple[str, list[str]]:
        return stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()

    result: collections.defaultdict[str, float] = collections.defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            _, fields = parse((task / "stat").read_text())
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        name = "main thread" if task.name == str(pid) else "other threads"
        result[name] += (int(fields[11]) + int(fields[12])) / tick
    _, fields = parse(Path(f"/proc/{pid}/stat").read_text())
    result["total"] = (int(fields[11]) + int(fields[12])) / tick
    result["children"] = (int(fields[13]) + int(fields[14])) / tick
    return dict(result)


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [str(py_spy), "record", "--pid", str(pid), "--rate", "200", "--nonblocking", "--format", "raw",
         "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop_profiler(profiler: subprocess.Popen[bytes], out: Path) -> None:
    profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    profiler.wait(timeout=60)
    if not out.exists():
        print(f"py-spy wrote no {out}")
        return
    # Collapsed stacks: "frame;frame;...;leaf count". Busiest leaves (self time) and busiest functions anywhere.
    leaves: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        total += int(samples)
        leaves[frames[-1]] += int(samples)
        for frame in set(frames):
            inclusive[frame] += int(samples)
    print(f"{out.name}: {total} busy samples at 200 Hz")
    for title, counter in (("self", leaves), ("inclusive", inclusive)):
        print(f"  top {title}:")
        for frame, count in counter.most_common(12):
            print(f"    {100 * count / max(total, 1):5.1f} %  {frame}")


@dataclass
class Timed:
    seconds: float
    cores: float  # busy cores on the machine meanwhile (every process)
    cpu: dict[str, float]  # CPU seconds of each party


def timed(me: str, parties: dict[str, int | None], work: Callable[[], object]) -> Timed:
    """Run work(); CPU seconds of this process (named ``me``) and of each named live process (by pid)."""
    pids = {name: pid for name, pid in parties.items() if pid is not None}
    before = {name: process_cpu(pid) for name, pid in pids.items()}
    ticks, own, started = cpu_ticks(), own_cpu(), time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    cores = busy_cores(ticks, cpu_ticks())
    cpu = {me: own_cpu() - own}
    for name, pid in pids.items():
        used = cpu_delta(before[name], process_cpu(pid))
        cpu[name] = used.pop("total")
        if name == "ingest":  # where ingest's time goes: its event loop, its worker threads, ffprobe/ffmpeg
            cpu |= {f"ingest {part}": spent for part, spent in used.items() if spent > 0.005}
    return Timed(seconds, cores, cpu)


def tus_upload(url: str, headers: dict[str, str], source: Path, args: argparse.Namespace) -> dict[str, str]:
    """Upload the file with tuspy; the final response's headers."""
    uploader = Sha256Uploader(
        file_path=str(source),
        client=TusClient(url, headers=headers),
        chunk_size=args.chunk_mb * MB,
        metadata={"title": "Benchmark", "filename": source.name},
        upload_checksum=not args.no_checksum,
    )
    uploader.upload()
    assert uploader.request is not None
    return dict(uploader.request.response_headers)


# The floors run with --floor: (name, --work, --server) of bench/tus_floor.py.
FLOORS = (
    ("floor: threads, store", "store", "threads"),
    ("floor: threads, discard", "discard", "threads"),
    ("floor: uvicorn, discard", "discard", "uvicorn"),
)


@contextmanager
def run_floor(work: str, server: str, spool: Path, log: Path) -> Iterator[tuple[str, int]]:
    """bench/tus_floor.py as a process; yields its tus endpoint and its pid."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "tus_floor.py"), "--port", str(port), "--spool", str(spool),
             "--work", work, "--server", server],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(process, f"{url}/healthz", name=f"tus floor ({work}, {server})", log_tail=log.read_text)
        yield f"{url}/files/", process.pid
    finally:
        stop_process(process, timeout_s=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--chunk-mb", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of every measurement")
    parser.add_argument("--s3", action="store_true", help="store in a local MinIO instead of on local disk")
    parser.add_argument("--no-checksum", action="store_true", help="send chunks without Upload-Checksum")
    parser.add_argument("--floor", action="store_true", help="also upload to the three floors of bench/tus_floor.py")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of ingest and this client to this folder")
    parser.add_argument("--shared", action="store_true", help="also upload to an ingest with the shared tus spool")
    args = parser.parse_args()
    source = make_source(args.size_mb)
    source_sha256 = ""
    if args.floor:  # what the storing floor must report back
        with source.open("rb") as file:
            source_sha256 = hashlib.file_digest(file, "sha256").hexdigest()
    load_before = os.getloadavg()
    size = source.stat().st_size
    # On the repository's disk (not tmpfs), like the real data and storage folders.
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=REPO / ".cache" / "bench"))
    broker = KafkaBroker(work / "kafka")
    broker.start()
    minio = None
    rounds: list[dict[str, Timed]] = []
    peaks: list[int] = []
    idle_rss = 0
    try:
        env: dict[str, str] = {"LOA_LOG_LEVEL": "WARNING"}
        storage: Storage
        if args.s3:
            from tests.support.minio import MinioServer

            minio = MinioServer(workdir=work / "minio").start()
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            env |= {
                "LOA_STORAGE_BACKEND": "s3",
                "LOA_S3_BUCKET": bucket,
                "LOA_S3_ENDPOINT_URL": minio.endpoint_url,
                "LOA_S3_ACCESS_KEY": minio.access_key,
                "LOA_S3_SECRET_KEY": minio.secret_key,
            }
            storage = S3Storage(bucket, minio.endpoint_url, minio.access_key, minio.secret_key)
        else:
            storage = LocalStorage(work / "copy-storage")
        minio_pid = minio.process.pid if minio is not None and minio.process is not None else None
        floor_spool = work / "floor-spool"

        with contextlib.ExitStack() as floors:
            floors_running: dict[str, tuple[str, str, int]] = {}  # name -> (--work, endpoint, pid)
            for name, floor_work, server in FLOORS if args.floor else ():
                log = work / f"floor-{floor_work}-{server}.log"
                url, pid = floors.enter_context(run_floor(floor_work, server, floor_spool, log))
                floors_running[name] = (floor_work, url, pid)
            for number in range(1, args.rounds + 1):
                measured: dict[str, Timed] = {}
                # Baseline: a plain copy of the same file into the same storage (the file is in the page cache).
                copy = timed("copy", {"MinIO": minio_pid}, lambda: storage.put_file("baseline/copy", source))
                measured["plain copy"] = copy
                storage.delete("baseline/copy")
                for name, (floor_work, url, floor_pid) in floors_running.items():
                    answer: dict[str, str] = {}
                    measured[name] = timed(
                        "client (tuspy)",
                        {"floor": floor_pid},
                        lambda: answer.update(tus_upload(url, {}, source, args)),  # noqa: B023
                    )
                    if floor_work == "store":
                        assert answer.get("floor-sha256") == source_sha256, answer
                    shutil.rmtree(floor_spool, ignore_errors=True)
                    floor_spool.mkdir()
                # A fresh ingest each round: the same file twice would be a duplicate, which skips the hand-off.
                with run_ingest(work / f"ingest-{number}", broker.bootstrap, env) as ingest:
                    idle_rss = vm_rss(ingest.process.pid)
                    profilers = []
                    if args.profile and number == 1:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        for pid, name in ((ingest.process.pid, "ingest.txt"), (os.getpid(), "client.txt")):
                            profilers.append((start_profiler(pid, args.profile / name), args.profile / name))
                        time.sleep(1.0)  # py-spy attaches
                    answer = {}
                    measured["ingest (tus)"] = timed(
                        "client (tuspy)",
                        {"ingest": ingest.process.pid, "MinIO": minio_pid},
                        lambda: answer.update(tus_upload(f"{ingest.url}/files/", ingest.headers(), source, args)),  # noqa: B023
                    )
                    for profiler, out in profilers:
                        stop_profiler(profiler, out)
                    assert answer.get("loa-footage-id"), answer
                    assert answer.get("loa-duplicate", "false") == "false", answer
                    peaks.append(vm_hwm(ingest.process.pid))
                shutil.rmtree(work / f"ingest-{number}", ignore_errors=True)
                if args.shared:
                    shared_env = env | {"LOA_TUS_SPOOL": "shared"}
                    with run_ingest(work / f"shared-{number}", broker.bootstrap, shared_env) as ingest:
                        answer = {}
                        measured["ingest (tus, shared spool)"] = timed(
                            "client (tuspy)",
                            {"ingest": ingest.process.pid, "MinIO": minio_pid},
                            lambda: answer.update(tus_upload(f"{ingest.url}/files/", ingest.headers(), source, args)),  # noqa: B023
                        )
                        assert answer.get("loa-footage-id"), answer
                        assert answer.get("loa-duplicate", "false") == "false", answer
                    shutil.rmtree(work / f"shared-{number}", ignore_errors=True)
                rounds.append(measured)
                print(f"round {number}: " + ", ".join(
                    f"{name} {size / MB / t.seconds:.0f} MiB/s ({t.cores:.1f} cores)" for name, t in measured.items()
                ), flush=True)  # fmt: skip
    finally:
        if minio is not None:
            minio.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(args, source, size, rounds, idle_rss, peaks, load_before)


def report(
    args: argparse.Namespace,
    source: Path,
    size: int,
    rounds: list[dict[str, Timed]],
    idle_rss: int,
    peaks: list[int],
    load_before: tuple[float, float, float],
) -> None:
    backend = "S3 (MinIO)" if args.s3 else "local disk"
    checksum = "no checksum" if args.no_checksum else "sha256 per chunk"
    gib = size / (1024 * MB)
    print(f"\nfile: {size / MB:.0f} MiB ({source.name}); storage: {backend}; {len(rounds)} round(s), medians:")
    print(f"tus: tuspy, {args.chunk_mb} MiB chunks, {checksum}")
    speed = {name: statistics.median(size / MB / r[name].seconds for r in rounds) for name in rounds[0]}
    for name in rounds[0]:
        cores = statistics.median(r[name].cores for r in rounds)
        print(f"  {name:<24}: {speed[name]:7.1f} MiB/s  ({cores:.1f} cores busy)")
    # Ratios per round (each against the copy of its own round), then the median.
    ratio = {name: statistics.median(r["plain copy"].seconds / r[name].seconds for r in rounds) for name in rounds[0]}
    print(f"ratio ingest / plain copy : {ratio['ingest (tus)']:.2f}  (goal >= 0.7)")
    if "ingest (tus, shared spool)" in rounds[0]:
        shared = statistics.median(r["ingest (tus)"].seconds / r["ingest (tus, shared spool)"].seconds for r in rounds)
        print(f"ratio shared spool / local spool: {shared:.2f}")
    for name in rounds[0]:
        if name.startswith("floor"):
            print(f"ratio {name} / plain copy : {ratio[name]:.2f}")
    if FLOORS[0][0] in rounds[0]:
        to_floor = statistics.median(r[FLOORS[0][0]].seconds / r["ingest (tus)"].seconds for r in rounds)
        print(f"ratio ingest / {FLOORS[0][0]}: {to_floor:.2f}")
    print("CPU seconds per GiB (user + system), mean over rounds:")
    for name in rounds[0]:
        parties = rounds[0][name].cpu
        used = {party: statistics.mean(r[name].cpu.get(party, 0.0) for r in rounds) / gib for party in parties}
        print(f"  {name}: " + ", ".join(f"{party} {seconds:.2f}" for party, seconds in used.items()))
    print(f"ingest RSS idle / peak  : {idle_rss / MB:.0f} MiB / {max(peaks) / MB:.0f} MiB  (goal peak < 150 MB)")
    print(f"load average before / after: {' '.join(f'{x:.2f}' for x in load_before)} / "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip


if __name__ == "__main__":
    main()
