"""Encoder settings per cut, chosen by measurement: the fastest x264 preset and CRF whose VMAF is at or above the
quality of the settings before.

Run: python -m loa_dev.encoder_settings [--seconds 5] [--source phone|grainy|synthetic] [--cuts tiktok,youtube,zalo]
         [--footage-seconds 600] [--bar-preset veryfast --bar-crf 23]

For each cut, the source (1080p30 H.264 High with sound, as bench/transcode_speed.py makes it) is framed into the
cut's exact frames by the service's own filters (graph.build_graph) and rendered once to raw video: the reference,
of the same framing and rate as the cut, before any encode. Each candidate (preset, CRF) encodes those raw frames
with the cut's x264 arguments (graph.video_codec_args); its CPU time (user + system of the ffmpeg child: what a
machine shared with other work distorts least), its size and its VMAF against the reference (libvmaf in the pinned
FFmpeg 9, default model v0.6.1, loa_core.media.vmaf_args) are measured. The bar is the VMAF of the settings before
(--bar-preset, --bar-crf). Per preset, the highest CRF whose VMAF is at or above the bar is found by bisection
(VMAF falls as CRF rises); the pick is the candidate with the least CPU time among those at or above the bar (the
bar's own settings always are). A size-driven cut (Zalo) has its bitrate from the footage's length (as for
--footage-seconds of footage): only the preset varies.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from loa_core.media import FFMPEG, parse_vmaf, run_ffmpeg, vmaf_args
from loa_transcode.colour import OUTPUT_TAGS
from loa_transcode.graph import EncodeOptions, Job, Output, build_graph, plan_inputs, video_codec_args
from loa_transcode.profiles import PROFILES, Target, resolve
from loa_transcode.source import SourceInfo

# Fastest first. Not ultrafast: its output is Constrained Baseline, not the High profile the cuts must be.
PRESETS = ("superfast", "veryfast", "faster", "fast", "medium")
CRF_RANGE = (14, 32)
PHONE_RATE = ["-c:v", "libx264", "-preset", "veryfast", "-b:v", "16M", "-maxrate", "20M", "-bufsize", "32M"]
SOURCES = {
    # Light sensor grain that changes every frame, at the 16 Mb/s phones record 1080p30 at.
    "phone": ["-vf", "noise=alls=5:allf=t+u", *PHONE_RATE],
    "grainy": ["-vf", "noise=alls=14:allf=t+u", *PHONE_RATE],
    "synthetic": ["-c:v", "libx264", "-preset", "medium", "-crf", "20"],
}


@dataclass(frozen=True)
class Trial:
    preset: str
    crf: int | None  # None: size-driven (the cut's bitrate)
    cpu_s: float
    wall_s: float
    size_bytes: int
    vmaf: float

    @property
    def settings(self) -> str:
        return self.preset if self.crf is None else f"{self.preset}/crf {self.crf}"


def choose(trials: Sequence[Trial], bar: float) -> Trial:
    """The candidate with the least CPU time whose VMAF is at or above `bar` (pure); the smaller file on a tie."""
    good = [t for t in trials if t.vmaf >= bar]
    if not good:
        raise ValueError(f"no candidate reaches VMAF {bar:.2f}")
    return min(good, key=lambda t: (t.cpu_s, t.size_bytes))


def highest_crf_at_bar(measure: Callable[[int], Trial], bar: float, low: int, high: int) -> Trial | None:
    """The trial of the highest CRF in [low, high] whose VMAF is at or above `bar`, by bisection (VMAF falls as
    CRF rises); None when not even `low` reaches it."""
    best: Trial | None = None
    while low <= high:
        middle = (low + high) // 2
        trial = measure(middle)
        if trial.vmaf >= bar:
            best, low = trial, middle + 1
        else:
            high = middle - 1
    return best


@dataclass(frozen=True)
class Reference:
    """A cut's exact frames before encoding, as raw video."""

    path: Path
    target: Target
    fps: str

    def input_args(self) -> list[str]:
        size = f"{self.target.width}x{self.target.height}"
        return ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size, "-r", self.fps, "-i", f"file:{self.path}"]


def make_source(path: Path, seconds: float, kind: str) -> None:
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", f"{seconds:g}", *SOURCES[kind],
         "-profile:v", "high", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip


def render_reference(source: Path, info: SourceInfo, target: Target, work: Path) -> Reference:
    job = Job(source, info, (Output(target, work / f"{target.name}.mp4"),))
    inputs = plan_inputs(job)
    graph, video, audio = build_graph(job, inputs)
    raw = work / f"{target.name}.yuv"
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", *inputs.args, "-filter_complex", graph, "-map", f"[{video[0]}]",
         "-f", "rawvideo", str(raw), "-map", f"[{audio[0]}]", "-f", "null", "-"],
        check=True,
    )  # fmt: skip
    return Reference(raw, target, info.fps)


def encode(reference: Reference, preset: str, crf: int | None, out: Path) -> tuple[float, float]:
    """Encode the reference's frames as the service would this cut; (cpu seconds, wall seconds) of the encode."""
    codec = video_codec_args(Output(reference.target, out), EncodeOptions(preset=preset, crf=crf))
    tags = [x for pair in OUTPUT_TAGS for x in pair]
    argv = [FFMPEG, "-hide_banner", "-nostdin", "-y", "-v", "error", *reference.input_args(), *codec, *tags]
    start = time.perf_counter()
    process = subprocess.Popen([*argv, "-an", "-f", "mp4", str(out)])
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the encode failed: {' '.join(argv)[:400]}")
    return usage.ru_utime + usage.ru_stime, wall


def vmaf(distorted: Path, reference: Reference) -> float:
    stderr = asyncio.run(run_ffmpeg(vmaf_args(["-i", f"file:{distorted}"], reference.input_args())))
    return parse_vmaf(stderr)


class Cut:
    """The trials of one cut, each measured once."""

    def __init__(self, reference: Reference, work: Path) -> None:
        self.reference = reference
        self.work = work
        self.trials: dict[tuple[str, int | None], Trial] = {}

    def measure(self, preset: str, crf: int | None) -> Trial:
        key = (preset, crf)
        if key not in self.trials:
            out = self.work / f"{self.reference.target.name}-{preset}-{crf}.mp4"
            cpu_s, wall_s = encode(self.reference, preset, crf, out)
            trial = Trial(preset, crf, cpu_s, wall_s, out.stat().st_size, vmaf(out, self.reference))
            out.unlink()
            self.trials[key] = trial
            print(
                f"  {trial.settings:18s} cpu {cpu_s:6.2f} s  wall {wall_s:6.2f} s  "
                f"{trial.size_bytes / 1e6:6.2f} MB  VMAF {trial.vmaf:6.2f}",
                flush=True,
            )
        return self.trials[key]


def settle(cut: Cut, bar_preset: str, bar_crf: int) -> tuple[Trial, Trial]:
    """(the bar's trial, the pick) for one cut."""
    sized = cut.reference.target.video_kbps is not None
    bar = cut.measure(bar_preset, None if sized else bar_crf)
    for preset in PRESETS:
        if sized:
            cut.measure(preset, None)
        else:
            highest_crf_at_bar(lambda crf, p=preset: cut.measure(p, crf), bar.vmaf, *CRF_RANGE)  # type: ignore[misc]
    return bar, choose(list(cut.trials.values()), bar.vmaf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--source", choices=sorted(SOURCES), default="phone")
    parser.add_argument("--cuts", default="tiktok,youtube,zalo")
    # A size-driven cut's bitrate comes from the footage's length: measured as for footage this long.
    parser.add_argument("--footage-seconds", type=float, default=600.0)
    parser.add_argument("--bar-preset", default="veryfast")
    parser.add_argument("--bar-crf", type=int, default=23)
    opts = parser.parse_args()
    started = time.monotonic()
    picks: dict[str, tuple[Trial, Trial]] = {}
    with tempfile.TemporaryDirectory(prefix="loa-encoder-settings-") as tmp:
        work = Path(tmp)
        source = work / "source.mp4"
        make_source(source, opts.seconds, opts.source)
        info = SourceInfo(1920, 1080, opts.seconds, True, "30", 30.0)
        for name in opts.cuts.split(","):
            length = max(opts.seconds, opts.footage_seconds)
            target = resolve(PROFILES[name], source_width=1920, source_height=1080, duration_s=length)
            print(f"{name} ({target.width}x{target.height}):", flush=True)
            cut = Cut(render_reference(source, info, target, work), work)
            picks[name] = settle(cut, opts.bar_preset, opts.bar_crf)
            cut.reference.path.unlink()
    print()
    print(
        f"source: {opts.seconds:g} s 1080p30 {opts.source}; bar: {opts.bar_preset}/crf {opts.bar_crf}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {time.monotonic() - started:.0f} s in all"
    )
    for name, (bar, pick) in picks.items():
        print(f"{name:8s} bar {_row(bar)}  ->  pick {_row(pick)}  ({bar.cpu_s / pick.cpu_s:.2f}x less cpu)")


def _row(trial: Trial) -> str:
    return f"{trial.settings:16s} VMAF {trial.vmaf:6.2f} cpu {trial.cpu_s:6.2f} s {trial.size_bytes / 1e6:6.2f} MB"


if __name__ == "__main__":
    main()
