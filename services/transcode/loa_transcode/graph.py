"""Build the one ffmpeg command that decodes the source once and writes every cut. Pure: no ffmpeg runs here.

The filter graph, for N cuts:

    [0:v] deinterlace? → square pixels? → fps → split ─┬─ cut 1: frame (scale|blur fit|crop) → subtitles? → logo?
                                                       ├─ ...
                                                       └─ thumbnail candidates: small grey frames to pick stills
    [0:a] loudnorm (measured first) → 48 kHz stereo → asplit → one per cut   (no audio: digital silence)

Every option that is not obvious carries its reason in a comment next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loa_transcode.profiles import Profile, Target
from loa_transcode.source import SourceInfo

# The blurred background is computed at a quarter of the output size: blur is the costly part, and a
# background that is blurred anyway loses nothing visible at low resolution.
BLUR_DOWNSCALE = 4
BLUR_RADIUS = 10
# Loudness targets for social platforms: -14 LUFS integrated, true peak at most -1 dBTP. loudnorm aims
# 0.5 dB lower than the ceiling because AAC encoding adds a little to the true peak.
TARGET_LUFS = -14.0
TARGET_TP = -1.5
TARGET_LRA = 11.0
# Logo watermark: this share of the output width, this share of the width as margin from the top-right corner.
LOGO_WIDTH_SHARE = 0.12
LOGO_MARGIN_SHARE = 0.03
# Subtitle font: DejaVu Sans has every Vietnamese diacritic (ư, ơ, ẫ, ệ, ...) and ships with Debian's fontconfig.
SUBTITLE_FONT = "DejaVu Sans"
ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True)
class EncodeOptions:
    preset: str = "veryfast"
    crf: int = 23
    threads: int = 0
    # Read the source at most this many times faster than real time (0: as fast as possible). A cap
    # keeps a transcode from starving services that share the machine, and makes a job's length
    # predictable (the crash test relies on that to have a job still running when it kills the worker).
    read_rate: float = 0.0


@dataclass(frozen=True)
class Trim:
    start_s: float = 0.0
    end_s: float | None = None


@dataclass(frozen=True)
class Loudness:
    """loudnorm's first-pass measurement of the source (see loudness.py)."""

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    target_offset: float


@dataclass(frozen=True)
class CropPath:
    """A vertical crop window that moves: `x` is an ffmpeg expression of t (seconds), in source pixels."""

    width: int
    height: int
    x: str


@dataclass(frozen=True)
class Output:
    target: Target
    path: Path
    crop: CropPath | None = None


@dataclass(frozen=True)
class Candidates:
    """Small grey frames written as raw bytes, from which the stills are picked (see thumbnails.py)."""

    path: Path
    every_s: float
    width: int = 160
    height: int = 90


@dataclass(frozen=True)
class Job:
    source: Path
    info: SourceInfo
    outputs: tuple[Output, ...]
    options: EncodeOptions = field(default_factory=EncodeOptions)
    trim: Trim = field(default_factory=Trim)
    loudness: Loudness | None = None
    subtitles: Path | None = None
    logo: Path | None = None
    candidates: Candidates | None = None

    @property
    def duration_s(self) -> float:
        """Length of the trimmed source."""
        end = self.info.duration_s if self.trim.end_s is None else min(self.trim.end_s, self.info.duration_s)
        return max(0.0, end - self.trim.start_s)


def escape_value(value: str) -> str:
    """Escape a filter option value for a filtergraph string (ffmpeg's two levels of quoting)."""
    level1 = "".join("\\" + c if c in "\\':" else c for c in value)
    return "".join("\\" + c if c in "\\'[],;" else c for c in level1)


def _even(n: float) -> int:
    return max(2, int(n) // 2 * 2)


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def same_aspect(info: SourceInfo, target: Target) -> bool:
    return abs(info.aspect - target.width / target.height) / (target.width / target.height) < ASPECT_TOLERANCE


def loudnorm_filter(loudness: Loudness | None) -> str:
    base = f"loudnorm=I={_num(TARGET_LUFS)}:TP={_num(TARGET_TP)}:LRA={_num(TARGET_LRA)}"
    if loudness is None:
        return f"{base}:print_format=json"
    # Second pass: with the first pass's figures loudnorm applies one linear gain (no pumping) whenever
    # the true-peak ceiling allows it, and falls back to its dynamic mode only when it does not.
    return (
        f"{base}:measured_I={_num(loudness.input_i)}:measured_TP={_num(loudness.input_tp)}"
        f":measured_LRA={_num(loudness.input_lra)}:measured_thresh={_num(loudness.input_thresh)}"
        f":offset={_num(loudness.target_offset)}:linear=true"
    )


def trim_input_args(trim: Trim) -> list[str]:
    """Input options for the in/out points: seeking on the input decodes nothing before the in point."""
    args: list[str] = []
    if trim.start_s > 0:
        args += ["-ss", _num(trim.start_s)]
    if trim.end_s is not None:
        args += ["-to", _num(trim.end_s)]
    return args


def measure_loudness_args(source: Path, trim: Trim) -> list[str]:
    """Audio-only first pass: decodes no video, so it costs a small fraction of the encode."""
    return [
        *trim_input_args(trim),
        "-i",
        f"file:{source}",
        "-map",
        "0:a:0",
        "-af",
        loudnorm_filter(None),
        "-f",
        "null",
        "-",
    ]


def _frame(src: str, bg: str | None, out: Output, info: SourceInfo, label: str) -> list[str]:
    """Filter chains that turn one copy of the source into the cut's frame, ending at [label]."""
    t = out.target
    if out.crop is not None:
        c = out.crop
        return [f"[{src}]crop=w={c.width}:h={c.height}:x={escape_value(c.x)}:y=0,scale={t.width}:{t.height}[{label}]"]
    if bg is None:
        # Same shape: fill the frame exactly (a few pixels of a not-quite-equal aspect are cropped, not stretched).
        return [
            f"[{src}]scale={t.width}:{t.height}:force_original_aspect_ratio=increase,crop={t.width}:{t.height}[{label}]"
        ]
    small_w, small_h = _even(t.width / BLUR_DOWNSCALE), _even(t.height / BLUR_DOWNSCALE)
    return [
        f"[{bg}]scale={small_w}:{small_h}:force_original_aspect_ratio=increase,crop={small_w}:{small_h},"
        f"boxblur={BLUR_RADIUS},scale={t.width}:{t.height}[{label}bg]",
        f"[{src}]scale={t.width}:{t.height}:force_original_aspect_ratio=decrease:force_divisible_by=2[{label}fg]",
        # The whole frame stays visible, centred on a blurred, cropped copy of itself: never stretched.
        f"[{label}bg][{label}fg]overlay=x=(W-w)/2:y=(H-h)/2[{label}]",
    ]


def _needs_blur(out: Output, info: SourceInfo) -> bool:
    return out.crop is None and not same_aspect(info, out.target)


def build_graph(job: Job) -> tuple[str, list[str], list[str]]:
    """The filtergraph, and the labels of each output's video and audio (pure)."""
    if not job.outputs:
        raise ValueError("at least one output is needed")
    info = job.info
    chains: list[str] = []

    pre: list[str] = []
    if info.interlaced:
        # Broadcast footage: bwdif deinterlaces one frame per frame; platforms show progressive video only.
        pre.append("bwdif=mode=send_frame:parity=auto:deint=interlaced")
    if abs(info.sar - 1.0) > ASPECT_TOLERANCE:
        # Anamorphic pixels made square first, so every later size is plain arithmetic on the shown picture.
        pre.append(f"scale={info.width}:{info.height},setsar=1")
    # One constant rate for every cut: variable-frame-rate phone footage becomes what platforms expect.
    pre.append(f"fps={info.fps}")

    copies = sum(2 if _needs_blur(o, info) else 1 for o in job.outputs) + (1 if job.candidates else 0)
    copy_labels = [f"s{i}" for i in range(copies)]
    split = f"split={copies}" + "".join(f"[{c}]" for c in copy_labels) if copies > 1 else f"null[{copy_labels[0]}]"
    chains.append(f"[0:v]{','.join(pre)},{split}")

    logo_labels: list[str] = []
    if job.logo is not None:
        logo_labels = [f"logo{i}" for i in range(len(job.outputs))]
        fan = f"split={len(logo_labels)}" if len(logo_labels) > 1 else "null"
        chains.append(f"[1:v]format=rgba,{fan}" + "".join(f"[{x}]" for x in logo_labels))

    video_labels: list[str] = []
    cursor = 0
    for i, out in enumerate(job.outputs):
        t = out.target
        src = copy_labels[cursor]
        bg = copy_labels[cursor + 1] if _needs_blur(out, info) else None
        cursor += 2 if bg else 1
        framed = f"f{i}"
        chains.extend(_frame(src, bg, out, info, framed))
        steps: list[str] = []
        if job.subtitles is not None:
            style = f"FontName={SUBTITLE_FONT},FontSize=18,Outline=2,MarginV=30"
            steps.append(
                f"subtitles=filename={escape_value(str(job.subtitles))}:charenc=UTF-8:force_style={escape_value(style)}"
            )
        steps += ["setsar=1", "format=yuv420p"]
        current = framed
        if job.logo is not None:
            logo_w = _even(t.width * LOGO_WIDTH_SHARE)
            margin = _even(t.width * LOGO_MARGIN_SHARE)
            chains.append(f"[{logo_labels[i]}]scale={logo_w}:-2[lg{i}]")
            # The single logo picture is repeated over the whole cut (overlay's default at the logo's end).
            chains.append(f"[{current}][lg{i}]overlay=x=W-w-{margin}:y={margin}[wm{i}]")
            current = f"wm{i}"
        label = f"v{i}"
        chains.append(f"[{current}]{','.join(steps)}[{label}]")
        video_labels.append(label)

    if job.candidates is not None:
        c = job.candidates
        chains.append(f"[{copy_labels[cursor]}]fps=1/{_num(c.every_s)},scale={c.width}:{c.height},format=gray[cand]")

    audio_source = "0:a:0" if info.has_audio else f"{2 if job.logo else 1}:a"
    audio_steps = [loudnorm_filter(job.loudness)] if info.has_audio and job.loudness is not None else []
    # Every platform wants 48 kHz stereo AAC; resampling once before the fan-out serves every cut.
    audio_steps += ["aresample=48000", "aformat=sample_fmts=fltp:channel_layouts=stereo"]
    audio_labels = [f"a{i}" for i in range(len(job.outputs))]
    fan = f"asplit={len(audio_labels)}" if len(audio_labels) > 1 else "anull"
    chains.append(f"[{audio_source}]{','.join(audio_steps)},{fan}" + "".join(f"[{a}]" for a in audio_labels))
    return ";".join(chains), video_labels, audio_labels


def _video_codec_args(out: Output, options: EncodeOptions) -> list[str]:
    t = out.target
    args = ["-c:v", "libx264", "-preset", options.preset, "-profile:v", "high"]
    if t.video_kbps is None:
        args += ["-crf", str(options.crf)]
    else:
        # Size-driven: an average bitrate with a VBV ceiling, so the file cannot overshoot its size limit.
        args += ["-b:v", f"{t.video_kbps}k", "-maxrate", f"{t.video_kbps}k", "-bufsize", f"{2 * t.video_kbps}k"]
    return [*args, "-threads", str(options.threads)]


def build_args(job: Job) -> list[str]:
    """ffmpeg arguments (without the program name) for one decode feeding every output (pure)."""
    graph, video_labels, audio_labels = build_graph(job)
    read_rate = ["-readrate", _num(job.options.read_rate)] if job.options.read_rate > 0 else []
    args = [*trim_input_args(job.trim), *read_rate, "-i", f"file:{job.source}"]
    if job.logo is not None:
        args += ["-i", f"file:{job.logo}"]
    if not job.info.has_audio:
        # Footage without sound gets digital silence: platforms handle a silent track better than none.
        args += ["-f", "lavfi", "-t", _num(job.duration_s), "-i", "anullsrc=channel_layout=stereo:sample_rate=48000"]
    args += ["-filter_complex", graph]
    for out, v, a in zip(job.outputs, video_labels, audio_labels, strict=True):
        t = out.target
        args += ["-map", f"[{v}]", "-map", f"[{a}]", *_video_codec_args(out, job.options)]
        args += ["-c:a", "aac", "-b:a", f"{t.profile.audio_kbps}k", "-ar", str(t.profile.audio_rate), "-ac", "2"]
        # moov before mdat, so platforms and browsers start playing before the download ends.
        args += ["-movflags", "+faststart"]
        # Several outputs fed by one graph can run ahead of each other; a deeper queue avoids ffmpeg's
        # "Too many packets buffered" abort on long-GOP sources.
        args += ["-max_muxing_queue_size", "4096"]
        # Cut both tracks at the cut's length (the trimmed source, or a Short's 3 minutes).
        args += ["-t", _num(t.duration_s), "-f", "mp4", f"file:{out.path}"]
    if job.candidates is not None:
        args += ["-map", "[cand]", "-f", "rawvideo", "-pix_fmt", "gray", f"file:{job.candidates.path}"]
    return args


def stills_args(source: Path, at_s: float, info: SourceInfo, images: Sequence[tuple[int, int, Path]]) -> list[str]:
    """One frame at `at_s`, framed (fit on blur) into each (width, height, path) JPEG (pure)."""
    outputs = [Output(Target(Profile(f"image{i}", w, h), w, h, 1.0), path) for i, (w, h, path) in enumerate(images)]
    pre = "bwdif=mode=send_frame:parity=auto:deint=interlaced," if info.interlaced else ""
    if abs(info.sar - 1.0) > ASPECT_TOLERANCE:
        pre += f"scale={info.width}:{info.height},setsar=1,"
    copies = [f"s{i}" for i in range(sum(2 if _needs_blur(o, info) else 1 for o in outputs))]
    chains = [f"[0:v]{pre}split={len(copies)}" + "".join(f"[{c}]" for c in copies)]
    cursor = 0
    for i, out in enumerate(outputs):
        bg = copies[cursor + 1] if _needs_blur(out, info) else None
        chains.extend(_frame(copies[cursor], bg, out, info, f"f{i}"))
        cursor += 2 if bg else 1
        chains.append(f"[f{i}]setsar=1,format=yuvj420p[v{i}]")
    args = ["-ss", _num(at_s), "-i", f"file:{source}", "-filter_complex", ";".join(chains)]
    for i, out in enumerate(outputs):
        # q 3 is visually lossless for a still at these sizes, a few hundred kB at most.
        args += ["-map", f"[v{i}]", "-frames:v", "1", "-q:v", "3", "-f", "image2", "-update", "1", f"file:{out.path}"]
    return args
