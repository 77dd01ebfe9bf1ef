"""All cuts in one ffmpeg run, against one run per cut (naive) and against the floor, for a 1080p30 source.

Run: .cache/venv/bin/python bench/transcode_speed.py [--seconds 8] [--repeat 2] [--preset veryfast] [--crf 23]
         [--source phone|grainy|synthetic] [--ffmpeg PATH] [--against FFMPEG]

Sources (all 1080p30 H.264 High with AAC sound, made untimed before the rounds). How much the one decode saves
depends on what the decode costs against the encodes, so the figures differ per source:
- phone (default): testsrc2 with light sensor grain (what is left after a phone's denoising), at 16 Mb/s, the
  bitrate phones record 1080p30 at.
- grainy: the same with heavy grain, like a dim hall filmed at high ISO; costlier to decode and to encode.
- synthetic: plain testsrc2 at CRF 20 (about 8 Mb/s of flat colours).
Every command runs the ffmpeg the services run (loa_core.media.FFMPEG, the pinned FFmpeg 9 build); --ffmpeg runs
another one; --against also times "ours" with a second binary (e.g. /usr/bin/ffmpeg, Debian 12's 5.1) in the
same rounds.

- ours:  the command transcode runs (graph.build_args): one decode feeding tiktok, youtube and zalo, plus
         the thumbnail candidates.
- naive: the same filters and encoder settings, one ffmpeg run per cut (each decodes the source again).
- floor: decoding the source to null, plus encoding each cut's exact output frames from raw video at the
         same preset and CRF (the frames are rendered to raw files first, untimed).
Each figure is the best of --repeat interleaved rounds (the machine may be shared). Prints wall and CPU
times (CPU time is what a loaded machine distorts least), the ratios (goal: naive/ours >= 1.35,
ours/floor <= 1.10), the real-time factor, the peak RSS of each ffmpeg, and each cut's VMAF against its own
frames before encoding (the floor's raw files) with the settings it was encoded with (each cut's own, from
profiles.py, unless --preset/--crf force them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loa_core.media import FFMPEG, parse_vmaf, run_ffmpeg, vmaf_args  # noqa: E402
from loa_transcode.graph import (  # noqa: E402
    Candidates,
    EncodeOptions,
    Job,
    Output,
    build_args,
    build_graph,
    plan_inputs,
    video_codec_args,
)
from loa_transcode.profiles import PROFILES, resolve  # noqa: E402
from loa_transcode.source import SourceInfo  # noqa: E402

CUTS = ("tiktok", "youtube", "zalo")
PHONE_RATE = ["-c:v", "libx264", "-preset", "veryfast", "-b:v", "16M", "-maxrate", "20M", "-bufsize", "32M"]
SOURCES = {
    # Grain that changes every frame (allf=t) makes the 16 Mb/s needed: a clean pattern would not use it.
    "phone": ["-vf", "noise=alls=5:allf=t+u", *PHONE_RATE],
    "grainy": ["-vf", "noise=alls=14:allf=t+u", *PHONE_RATE],
    "synthetic": ["-c:v", "libx264", "-preset", "medium", "-crf", "20"],
}


@dataclass
class Figure:
    wall_s: float = float("inf")
    cpu_s: float = float("inf")
    rss_mib: int = 0


def run(ffmpeg: str, args: list[str], figure: Figure | None = None) -> None:
    """One ffmpeg run; keeps the best wall and CPU time and the peak RSS (wait4: the child's own rusage)."""
    start = time.perf_counter()
    process = subprocess.Popen([ffmpeg, "-hide_banner", "-nostdin", "-y", "-v", "error", *args])
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ffmpeg failed: {' '.join(args)[:500]}")
    if figure is not None:
        figure.wall_s = min(figure.wall_s, elapsed)
        figure.cpu_s = min(figure.cpu_s, usage.ru_utime + usage.ru_stime)
        figure.rss_mib = max(figure.rss_mib, usage.ru_maxrss // 1024)


def version_of(ffmpeg: str) -> str:
    return subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=True).stdout.split()[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=2)
    # Unset: each cut's own measured settings (profiles.py), as the service runs.
    parser.add_argument("--preset")
    parser.add_argument("--crf", type=int)
    parser.add_argument("--source", choices=sorted(SOURCES), default="phone")
    parser.add_argument("--ffmpeg", default=FFMPEG, help="the ffmpeg binary to time (default: the services' own)")
    parser.add_argument("--against", metavar="FFMPEG", help="also time 'ours' with this binary in the same rounds")
    opts = parser.parse_args()
    ffmpeg = opts.ffmpeg

    with tempfile.TemporaryDirectory(prefix="loa-bench-transcode-") as tmp:
        work = Path(tmp)
        source = work / "source.mp4"
        print(f"making a {opts.seconds:g} s 1080p30 {opts.source} source with sound ...", flush=True)
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(opts.seconds),
             *SOURCES[opts.source], "-profile:v", "high", "-pix_fmt", "yuv420p", "-c:a", "aac", str(source)],
            check=True,
        )  # fmt: skip
        source_mbps = source.stat().st_size * 8 / opts.seconds / 1e6
        info = SourceInfo(1920, 1080, opts.seconds, True, "30", 30.0)
        options = EncodeOptions(preset=opts.preset, crf=opts.crf)
        targets = [resolve(PROFILES[c], source_width=1920, source_height=1080, duration_s=opts.seconds) for c in CUTS]
        outputs = tuple(Output(t, work / f"{t.name}.mp4") for t in targets)
        candidates = Candidates(work / "candidates.gray", every_s=1.0)

        ours_args = build_args(Job(source, info, outputs, options=options, candidates=candidates))
        commands: dict[str, list[str]] = {"ours": ours_args, "decode": ["-i", str(source), "-f", "null", "-"]}
        # Every command runs the chosen ffmpeg, but for the one comparison run with another binary.
        other_binary: dict[str, str] = {}
        if opts.against:
            commands["ours (against)"], other_binary["ours (against)"] = ours_args, opts.against
        for out in outputs:
            job = Job(source, info, (out,), options=options)
            naive_args = commands[f"naive {out.target.name}"] = build_args(job)
            # The floor's input: the cut's exact frames, rendered to a raw file once (untimed).
            inputs = plan_inputs(job)
            graph, video, audio = build_graph(job, inputs)
            raw = work / f"{out.target.name}.yuv"
            render = ["-map", f"[{video[0]}]", "-f", "rawvideo", str(raw), "-map", f"[{audio[0]}]", "-f", "null", "-"]
            run(ffmpeg, [*inputs.args, "-filter_complex", graph, *render])
            video_codec = naive_args[naive_args.index("-c:v") : naive_args.index("-c:a")]
            commands[f"encode {out.target.name}"] = [
                "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{out.target.width}x{out.target.height}",
                "-r", info.fps, "-i", str(raw), *video_codec, "-f", "null", "-",
            ]  # fmt: skip

        # Rounds interleave every command, so a load change on a shared machine hits them all alike.
        figures = {name: Figure() for name in commands}
        load_before = os.getloadavg()[0]
        for round_ in range(opts.repeat):
            for name, args in commands.items():
                run(other_binary.get(name, ffmpeg), args, figures[name])
                f = figures[name]
                print(f"round {round_ + 1} {name:16s} best wall {f.wall_s:7.2f} s  cpu {f.cpu_s:7.2f} s", flush=True)
        load_after = os.getloadavg()[0]

        ours = figures["ours"]
        naive = [f for n, f in figures.items() if n.startswith("naive")]
        floor = [figures["decode"], *(f for n, f in figures.items() if n.startswith("encode"))]
        naive_wall, floor_wall = sum(f.wall_s for f in naive), sum(f.wall_s for f in floor)
        naive_cpu, floor_cpu = sum(f.cpu_s for f in naive), sum(f.cpu_s for f in floor)
        print()
        print(f"ffmpeg {version_of(ffmpeg)} ({ffmpeg})")
        print(
            f"source: {opts.seconds:g} s 1080p30 {opts.source}, {source_mbps:.1f} Mb/s; cuts: {', '.join(CUTS)}; "
            f"preset {opts.preset or 'per cut'}, crf {opts.crf or 'per cut'}"
        )
        print(f"load average (1 min) before/after: {load_before:.1f} / {load_after:.1f} on {os.cpu_count()} CPUs")
        print(f"wall: ours {ours.wall_s:.2f} s | naive {naive_wall:.2f} s | floor {floor_wall:.2f} s")
        print(f"cpu:  ours {ours.cpu_s:.2f} s | naive {naive_cpu:.2f} s | floor {floor_cpu:.2f} s")
        print(f"naive / ours = {naive_wall / ours.wall_s:.2f}x wall, {naive_cpu / ours.cpu_s:.2f}x cpu  (goal >= 1.35)")
        print(f"ours / floor = {ours.wall_s / floor_wall:.2f}x wall, {ours.cpu_s / floor_cpu:.2f}x cpu  (goal <= 1.10)")
        print(f"real-time factor (source seconds per wall second): {opts.seconds / ours.wall_s:.2f}")
        print(
            f"peak RSS: ours {ours.rss_mib} MiB, naive max {max(f.rss_mib for f in naive)} MiB, "
            f"decode {figures['decode'].rss_mib} MiB"
        )
        # Each cut's quality beside the speed: VMAF of ours' cut against its exact frames before encoding.
        for out in outputs:
            reference = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{out.target.width}x{out.target.height}"]
            reference += ["-r", info.fps, "-i", f"file:{work / (out.target.name + '.yuv')}"]
            score = parse_vmaf(asyncio.run(run_ffmpeg(vmaf_args(["-i", f"file:{out.path}"], reference))))
            codec = video_codec_args(out, options)
            settings = " ".join(codec[2:-2])  # after "-c:v libx264", before "-threads N"
            print(f"{out.target.name:8s} VMAF {score:6.2f}  ({settings}; {out.path.stat().st_size / 1e6:.1f} MB)")
        if opts.against:
            other = figures["ours (against)"]
            print(
                f"ours with ffmpeg {version_of(opts.against)}: wall {other.wall_s:.2f} s, cpu {other.cpu_s:.2f} s "
                f"= {other.wall_s / ours.wall_s:.2f}x the wall time with {version_of(ffmpeg)}"
            )


if __name__ == "__main__":
    main()
