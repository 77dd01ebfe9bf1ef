"""Passthrough: a conformant 1080p source's YouTube cut, its video copied against re-encoding it (one run each
round, interleaved).

Run: .cache/venv/bin/python bench/transcode_passthrough.py [--seconds 60] [--repeat 2]

The source is phone-like 1080p30 H.264 High (testsrc2 with sensor grain at 16 Mb/s, BT.709 tagged) with sound.
Both commands are what transcode runs for a footage whose only channel takes the YouTube cut (graph.build_args:
the loudness-normalized sound and the thumbnail candidates in both); the encode uses the service's default
settings (EncodeOptions). The decision (graph.passthrough_problems on the source's own ffprobe) must say "copy",
or the bench stops. Prints wall and CPU time, bytes, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loa_core.media import FFMPEG, probe  # noqa: E402
from loa_transcode.graph import Candidates, EncodeOptions, Job, Output, build_args, passthrough_problems  # noqa: E402
from loa_transcode.profiles import PROFILES, resolve  # noqa: E402
from loa_transcode.source import source_info  # noqa: E402

PHONE = ["-vf", "noise=alls=5:allf=t+u,setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"]
PHONE += ["-c:v", "libx264", "-preset", "veryfast", "-b:v", "16M", "-maxrate", "20M", "-bufsize", "32M"]


@dataclass
class Figure:
    wall_s: float = float("inf")
    cpu_s: float = float("inf")
    size_bytes: int = 0


def run(args: list[str], figure: Figure, out: Path) -> None:
    start = time.perf_counter()
    process = subprocess.Popen([FFMPEG, "-hide_banner", "-nostdin", "-y", "-v", "error", *args])
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ffmpeg failed: {' '.join(args)[:500]}")
    figure.wall_s = min(figure.wall_s, elapsed)
    figure.cpu_s = min(figure.cpu_s, usage.ru_utime + usage.ru_stime)
    figure.size_bytes = out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeat", type=int, default=2)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loa-bench-passthrough-") as tmp:
        work = Path(tmp)
        source = work / "source.mp4"
        print(f"making a {opts.seconds:g} s phone-like 1080p30 source ...", flush=True)
        subprocess.run(
            [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(opts.seconds), *PHONE,
             "-profile:v", "high", "-pix_fmt", "yuv420p", "-c:a", "aac", str(source)],
            check=True,
        )  # fmt: skip
        probed = asyncio.run(probe(source))
        info = source_info(probed)
        target = resolve(PROFILES["youtube"], source_width=1920, source_height=1080, duration_s=info.duration_s)
        encoded = Output(target, work / "encoded.mp4")
        copied = replace(encoded, path=work / "copied.mp4", copy_video=True)
        candidates = Candidates(work / "candidates.gray", every_s=max(info.duration_s / 60, 1.0))
        base = Job(source, info, (encoded,), options=EncodeOptions(), candidates=candidates)
        problems = passthrough_problems(base, encoded, probed)
        if problems:
            raise SystemExit(f"the source does not pass through: {problems}")
        commands = {
            "encode": (build_args(base), encoded.path),
            "copy": (build_args(replace(base, outputs=(copied,))), copied.path),
        }
        figures = {name: Figure() for name in commands}
        for round_ in range(opts.repeat):
            for name, (args, out) in commands.items():
                run(args, figures[name], out)
                f = figures[name]
                print(f"round {round_ + 1} {name:7s} best wall {f.wall_s:7.2f} s  cpu {f.cpu_s:7.2f} s", flush=True)
        enc, cop = figures["encode"], figures["copy"]
        source_mb = source.stat().st_size / 1e6
        print()
        rate = source_mb * 8 / opts.seconds
        print(f"source: {opts.seconds:g} s 1080p30 phone-like, {rate:.1f} Mb/s, {source_mb:.1f} MB")
        print(f"encode (preset {EncodeOptions().preset}, crf {EncodeOptions().crf}): wall {enc.wall_s:.2f} s, "
              f"cpu {enc.cpu_s:.2f} s, {enc.size_bytes / 1e6:.1f} MB")  # fmt: skip
        print(f"copy:   wall {cop.wall_s:.2f} s, cpu {cop.cpu_s:.2f} s, {cop.size_bytes / 1e6:.1f} MB")
        print(
            f"encode / copy = {enc.wall_s / cop.wall_s:.1f}x wall, {enc.cpu_s / cop.cpu_s:.1f}x cpu; "
            f"bytes copy / encode = {cop.size_bytes / enc.size_bytes:.2f}"
        )
        print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
