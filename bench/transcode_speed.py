"""All cuts in one ffmpeg run, against one run per cut (naive) and against the floor, for a 1080p30 source.

Run: .cache/venv/bin/python bench/transcode_speed.py [--seconds 8] [--repeat 2] [--preset veryfast]

- ours:  the command transcode runs (graph.build_args): one decode feeding tiktok, youtube and zalo, plus
         the thumbnail candidates.
- naive: the same filters and encoder settings, one ffmpeg run per cut (each decodes the source again).
- floor: decoding the source to null, plus encoding each cut's exact output frames from raw video at the
         same preset and CRF (the frames are rendered to raw files first, untimed).
Each figure is the best of --repeat runs (the machine may be shared). Prints wall times, the ratios
(goal: naive/ours >= 1.35, ours/floor <= 1.10), the real-time factor and the peak RSS of each ffmpeg.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loa_transcode.graph import (  # noqa: E402
    Candidates,
    EncodeOptions,
    Job,
    Output,
    build_args,
    build_graph,
    plan_inputs,
)
from loa_transcode.profiles import PROFILES, resolve  # noqa: E402
from loa_transcode.source import SourceInfo  # noqa: E402

CUTS = ("tiktok", "youtube", "zalo")


def run(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB) of one ffmpeg run (wait4 gives the child's own rusage)."""
    start = time.perf_counter()
    process = subprocess.Popen(["ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error", *args])
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"ffmpeg failed ({process.returncode}): {' '.join(args)[:500]}")
    return elapsed, usage.ru_maxrss // 1024


def best(args: list[str], repeat: int) -> tuple[float, int]:
    results = [run(args) for _ in range(repeat)]
    return min(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--crf", type=int, default=23)
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="loa-bench-transcode-") as tmp:
        work = Path(tmp)
        source = work / "source.mp4"
        print(f"making a {opts.seconds:g} s 1080p30 source with sound ...", flush=True)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
             "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(opts.seconds),
             "-c:v", "libx264", "-preset", "medium", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", str(source)],
            check=True,
        )  # fmt: skip
        info = SourceInfo(1920, 1080, opts.seconds, True, "30", 30.0)
        options = EncodeOptions(preset=opts.preset, crf=opts.crf)
        targets = [resolve(PROFILES[c], source_width=1920, source_height=1080, duration_s=opts.seconds) for c in CUTS]
        outputs = tuple(Output(t, work / f"{t.name}.mp4") for t in targets)
        candidates = Candidates(work / "candidates.gray", every_s=1.0)

        ours_job = Job(source, info, outputs, options=options, candidates=candidates)
        ours, ours_rss = best(build_args(ours_job), opts.repeat)
        print(f"ours  (one run, {len(outputs)} cuts): {ours:7.2f} s, peak RSS {ours_rss} MiB", flush=True)

        naive = 0.0
        naive_rss = 0
        for out in outputs:
            seconds, rss = best(build_args(Job(source, info, (out,), options=options)), opts.repeat)
            naive += seconds
            naive_rss = max(naive_rss, rss)
            print(f"naive {out.target.name:8s}: {seconds:7.2f} s, peak RSS {rss} MiB", flush=True)

        decode, decode_rss = best(["-i", str(source), "-f", "null", "-"], opts.repeat)
        print(f"floor decode      : {decode:7.2f} s", flush=True)
        floor = decode
        for out in outputs:
            job = Job(source, info, (out,), options=options)
            inputs = plan_inputs(job)
            graph, video, audio = build_graph(job, inputs)
            raw = work / f"{out.target.name}.yuv"
            render = ["-map", f"[{video[0]}]", "-f", "rawvideo", str(raw), "-map", f"[{audio[0]}]", "-f", "null", "-"]
            run([*inputs.args, "-filter_complex", graph, *render])
            encode_args = build_args(job)
            video_codec = encode_args[encode_args.index("-c:v") : encode_args.index("-c:a")]
            seconds, _ = best(
                ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{out.target.width}x{out.target.height}",
                 "-r", info.fps, "-i", str(raw), *video_codec, "-f", "null", "-"],
                opts.repeat,
            )  # fmt: skip
            raw.unlink()
            floor += seconds
            print(f"floor encode {out.target.name:8s}: {seconds:7.2f} s", flush=True)

        print()
        print(f"source: {opts.seconds:g} s 1080p30; cuts: {', '.join(CUTS)}; preset {opts.preset}, crf {opts.crf}")
        print(f"ours {ours:.2f} s | naive {naive:.2f} s | floor {floor:.2f} s")
        print(f"naive / ours = {naive / ours:.2f}x  (goal >= 1.35)")
        print(f"ours / floor = {ours / floor:.2f}x  (goal <= 1.10)")
        print(f"real-time factor (source seconds per wall second): {opts.seconds / ours:.2f}")
        print(f"peak RSS: ours {ours_rss} MiB, naive max {naive_rss} MiB, decode {decode_rss} MiB")


if __name__ == "__main__":
    main()
