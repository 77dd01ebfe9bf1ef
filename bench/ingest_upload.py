"""tus upload throughput and ingest's peak RSS for a large file, against a plain copy into the same storage.

Run: .cache/venv/bin/python bench/ingest_upload.py [--size-mb 2048] [--chunk-mb 16] [--s3] [--no-checksum]
         [--profile DIR]

Makes (once, cached in .cache/bench/) a valid video of about --size-mb: raw 1280x720 frames in Matroska, so it
passes ingest's ffprobe and decode checks and costs no encoding time. Starts a Kafka broker and the real ingest
process (`python -m loa_ingest`), uploads the file with the standard tuspy client over loopback (sha256 checksum
on every chunk, as `loa upload` does), and times it from the creation request to the final 204 (so validation,
storage and the Kafka announcement are included). The baseline, in the same run, is a plain copy of the same file
into the same storage (`Storage.put_file`). Prints both throughputs, their ratio (goal >= 0.7), how many of the
machine's cores were busy during each (from /proc/stat: every process, other people's too) and the ingest
process's peak RSS from /proc (VmHWM, goal < 150 MB). With --s3, storage is a local MinIO (.cache/bin/minio).
With --profile DIR, py-spy (if installed in the venv) samples the ingest process and this client during the upload
and writes their collapsed stacks to DIR (ingest.txt, client.txt); the busiest functions are printed.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tusclient.client import TusClient  # noqa: E402
from tusclient.uploader.uploader import Uploader  # noqa: E402

from loa_core.storage import LocalStorage, S3Storage, Storage  # noqa: E402
from loa_dev.kafka import KafkaBroker  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=2048)
    parser.add_argument("--chunk-mb", type=int, default=16)
    parser.add_argument("--s3", action="store_true", help="store in a local MinIO instead of on local disk")
    parser.add_argument("--no-checksum", action="store_true", help="send chunks without Upload-Checksum")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of ingest and this client to this folder")
    args = parser.parse_args()
    source = make_source(args.size_mb)
    load_before = os.getloadavg()
    size = source.stat().st_size
    # On the repository's disk (not tmpfs), like the real data and storage folders.
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=REPO / ".cache" / "bench"))
    broker = KafkaBroker(work / "kafka")
    broker.start()
    minio = None
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
            storage = LocalStorage(work / "ingest" / "storage")

        # Baseline: a plain copy of the same file into the same storage (file already in the page cache for both).
        minio_pid = minio.process.pid if minio is not None and minio.process is not None else None
        minio_cpu = process_cpu(minio_pid)["total"] if minio_pid else 0.0
        ticks, client_cpu, started = cpu_ticks(), own_cpu(), time.perf_counter()
        storage.put_file("baseline/copy", source)
        copy_s = time.perf_counter() - started
        copy_cores = busy_cores(ticks, cpu_ticks())
        copy_cpu = {"this process": own_cpu() - client_cpu}
        if minio_pid:
            copy_cpu["MinIO"] = process_cpu(minio_pid)["total"] - minio_cpu
        storage.delete("baseline/copy")

        with run_ingest(work / "ingest", broker.bootstrap, env) as ingest:
            idle_rss = vm_rss(ingest.process.pid)
            client = TusClient(f"{ingest.url}/files/", headers=ingest.headers())
            uploader = Sha256Uploader(
                file_path=str(source),
                client=client,
                chunk_size=args.chunk_mb * MB,
                metadata={"title": "Benchmark", "filename": source.name},
                upload_checksum=not args.no_checksum,
            )
            profilers = []
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                for pid, name in ((ingest.process.pid, "ingest.txt"), (os.getpid(), "client.txt")):
                    profilers.append((start_profiler(pid, args.profile / name), args.profile / name))
                time.sleep(1.0)  # py-spy attaches
            ingest_cpu = process_cpu(ingest.process.pid)
            minio_cpu = process_cpu(minio_pid)["total"] if minio_pid else 0.0
            ticks, client_cpu, started = cpu_ticks(), own_cpu(), time.perf_counter()
            uploader.upload()
            tus_s = time.perf_counter() - started
            tus_cores = busy_cores(ticks, cpu_ticks())
            tus_cpu = {"client (tuspy)": own_cpu() - client_cpu}
            ingest_used = cpu_delta(ingest_cpu, process_cpu(ingest.process.pid))
            tus_cpu["ingest"] = ingest_used.pop("total")
            tus_cpu |= {f"  ingest {name}": seconds for name, seconds in ingest_used.items() if seconds > 0.005}
            if minio_pid:
                tus_cpu["MinIO"] = process_cpu(minio_pid)["total"] - minio_cpu
            for profiler, out in profilers:
                stop_profiler(profiler, out)
            assert uploader.request is not None
            footage_id = uploader.request.response_headers.get("loa-footage-id")
            assert footage_id, uploader.request.response_headers
            peak = vm_hwm(ingest.process.pid)
        copy_mbps, tus_mbps = size / MB / copy_s, size / MB / tus_s
        backend = "S3 (MinIO)" if args.s3 else "local disk"
        checksum = "no checksum" if args.no_checksum else "sha256 per chunk"
        print(f"file: {size / MB:.0f} MiB ({source.name}); storage: {backend}")
        print(f"tus: {args.chunk_mb} MiB chunks, {checksum}")
        print(f"plain copy into storage : {copy_s:7.2f} s  {copy_mbps:8.1f} MiB/s  ({copy_cores:.1f} cores busy)")
        print(f"tus upload over loopback: {tus_s:7.2f} s  {tus_mbps:8.1f} MiB/s  ({tus_cores:.1f} cores busy)")
        print(f"footage id              : {footage_id}")
        print(f"ratio tus / copy        : {tus_mbps / copy_mbps:.2f}  (goal >= 0.7)")
        gib = size / (1024 * MB)
        print("CPU seconds per GiB (user + system):")
        print("  plain copy: " + ", ".join(f"{name} {seconds / gib:.2f}" for name, seconds in copy_cpu.items()))
        print("  tus upload: " + ", ".join(f"{name.strip()} {seconds / gib:.2f}" for name, seconds in tus_cpu.items()))
        print(f"ingest RSS idle / peak  : {idle_rss / MB:.0f} MiB / {peak / MB:.0f} MiB  (goal peak < 150 MB)")
        print(f"load average before / after: {' '.join(f'{x:.2f}' for x in load_before)} / "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    finally:
        if minio is not None:
            minio.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
