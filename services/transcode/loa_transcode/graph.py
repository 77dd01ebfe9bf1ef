"""Build the one ffmpeg command that decodes the source once and writes every cut. Pure: no ffmpeg runs here.

The filter graph, for N cuts:

    [0:v] deinterlace? → BT.709 SDR → square pixels? → fps → split ─┬─ cut 1: frame (scale|blur fit|crop) → subs? → logo
                                                                    ├─ ...
                                                                    └─ thumbnail candidates: small grey frames (stills)
    [0:a] loudnorm (measured first) → 48 kHz stereo → asplit → one per cut   (no audio: digital silence)

Every option that is not obvious carries its reason in a comment next to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loa_core.contracts.events import Edit
from loa_core.media import ProbeResult
from loa_transcode.colour import BT709, OUTPUT_TAGS, to_bt709
from loa_transcode.loudness import Loudness, clamped
from loa_transcode.profiles import Profile, Target
from loa_transcode.source import INTERLACED_ORDERS, SourceInfo

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
# A source's frame rate is the cut's when it is within this share of it (ffprobe prints 30000/1001 as 29.97002997).
RATE_TOLERANCE = 0.001


@dataclass(frozen=True)
class EncodeOptions:
    # None: each cut's own measured settings (Profile.preset, Profile.crf); a value overrides them for every cut
    # (tests take a fast preset and a high CRF).
    preset: str | None = None
    crf: int | None = None
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
class CropPath:
    """A crop window that moves sideways: (t seconds, left edge x) keyframes, in source pixels.

    Between keyframes x moves linearly; ffmpeg's sendcmd hands each stretch to the crop filter. During the
    `fallback` spans (start, end seconds: the shots whose subjects do not fit the crop) the cut shows the whole
    frame fitted on a blurred background instead.
    """

    width: int
    height: int
    keyframes: tuple[tuple[float, float], ...]
    fallback: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Output:
    target: Target
    path: Path
    crop: CropPath | None = None
    # The source's video stream is copied into this cut as it is (see passthrough_problems); its audio is still
    # normalized and encoded like every cut's.
    copy_video: bool = False


@dataclass(frozen=True)
class Candidates:
    """Small grey frames written as raw bytes, from which the stills are picked (see thumbnails.py)."""

    path: Path
    every_s: float
    width: int = 160
    height: int = 90


@dataclass(frozen=True)
class Bumper:
    """An intro or outro clip of the channel, played whole before or after the footage in every cut."""

    path: Path
    info: SourceInfo


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
    intro: Bumper | None = None
    outro: Bumper | None = None
    # Where the crop path commands (crop_script) are written, when some output follows a subject.
    crop_commands: Path | None = None

    @property
    def duration_s(self) -> float:
        """Length of the trimmed source."""
        end = self.info.duration_s if self.trim.end_s is None else min(self.trim.end_s, self.info.duration_s)
        return max(0.0, end - self.trim.start_s)

    @property
    def bumpers(self) -> tuple[Bumper, ...]:
        return tuple(b for b in (self.intro, self.outro) if b is not None)

    @property
    def total_s(self) -> float:
        """Length of a cut with its bumpers, before a profile's maximum."""
        return self.duration_s + sum(b.info.duration_s for b in self.bumpers)


@dataclass(frozen=True)
class Inputs:
    """Where each input of the ffmpeg command is (its index), and the arguments that open them."""

    args: list[str]
    logo: int | None
    intro: int | None
    outro: int | None
    # Where each part's audio comes from: a real stream or generated silence (for parts without sound).
    main_audio: str
    intro_audio: str | None
    outro_audio: str | None


def escape_value(value: str) -> str:
    """Escape a filter option value for a filtergraph string (ffmpeg's two levels of quoting)."""
    level1 = "".join("\\" + c if c in "\\':" else c for c in value)
    return "".join("\\" + c if c in "\\'[],;" else c for c in level1)


def _even(n: float) -> int:
    return max(2, int(n) // 2 * 2)


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def frames_before_end(duration_s: float, fps: float) -> int:
    """How many frames a cut `duration_s` long keeps at `fps` (pure): those that start before its end, as the single
    run's -t keeps them (the microsecond under a whole frame is rounding, not a frame)."""
    return math.ceil(duration_s * fps - 1e-6)


def same_aspect(info: SourceInfo, target: Target) -> bool:
    return abs(info.aspect - target.width / target.height) / (target.width / target.height) < ASPECT_TOLERANCE


def edits_of(job: Job, target: Target) -> tuple[Edit, ...]:
    """What making `target` from the footage did to it, as its C2PA manifest will say (pure): the span kept, a
    reframe to another aspect ratio, a scale, burned-in subtitles, the logo, the bumpers, the loudness."""
    info = job.info
    found: list[Edit] = []
    if job.trim.start_s > 0 or (job.trim.end_s is not None and job.trim.end_s < info.duration_s):
        found.append("trimmed")
    if not same_aspect(info, target):
        found.append("reframed")
    if (info.width, info.height) != (target.width, target.height):
        found.append("resized")
    added: tuple[tuple[Edit, object], ...] = (
        ("subtitles", job.subtitles),
        ("logo", job.logo),
        ("intro", job.intro),
        ("outro", job.outro),
    )
    found += [edit for edit, done in added if done is not None]
    if job.loudness is not None:
        found.append("loudness")
    return tuple(found)


def loudnorm_filter(loudness: Loudness | None) -> str:
    base = f"loudnorm=I={_num(TARGET_LUFS)}:TP={_num(TARGET_TP)}:LRA={_num(TARGET_LRA)}"
    if loudness is None:
        return f"{base}:print_format=json"
    # Second pass: with the first pass's figures loudnorm applies one linear gain (no pumping) whenever
    # the true-peak ceiling allows it, and falls back to its dynamic mode only when it does not. The figures are
    # fitted into the ranges loudnorm accepts, or it refuses the whole command.
    m = clamped(loudness)
    return (
        f"{base}:measured_I={_num(m.input_i)}:measured_TP={_num(m.input_tp)}"
        f":measured_LRA={_num(m.input_lra)}:measured_thresh={_num(m.input_thresh)}"
        f":offset={_num(m.target_offset)}:linear=true"
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
    """Audio-only loudness measurement of a file: decodes no video, so it costs a fraction of the encode."""
    measure = ["-map", "0:a:0", "-af", loudnorm_filter(None), "-f", "null", "-"]
    return [*trim_input_args(trim), "-i", f"file:{source}", *measure]


def _silence(duration_s: float) -> list[str]:
    # Parts without sound get digital silence: platforms handle a silent track better than none.
    return ["-f", "lavfi", "-t", _num(duration_s), "-i", "anullsrc=channel_layout=stereo:sample_rate=48000"]


def plan_inputs(job: Job, *, video: bool = True) -> Inputs:
    """The inputs of a job's command, in order (pure). Without `video`, only what the audio needs."""
    read_rate = ["-readrate", _num(job.options.read_rate)] if video and job.options.read_rate > 0 else []
    args = [*trim_input_args(job.trim), *read_rate, "-i", f"file:{job.source}"]
    count = 1

    def add(more: list[str]) -> int:
        nonlocal count
        args.extend(more)
        count += 1
        return count - 1

    logo = add(["-i", f"file:{job.logo}"]) if video and job.logo is not None else None
    intro = add(["-i", f"file:{job.intro.path}"]) if job.intro is not None else None
    outro = add(["-i", f"file:{job.outro.path}"]) if job.outro is not None else None
    main_audio = "0:a:0" if job.info.has_audio else f"{add(_silence(job.duration_s))}:a"

    def bumper_audio(bumper: Bumper | None, index: int | None) -> str | None:
        if bumper is None:
            return None
        return f"{index}:a:0" if bumper.info.has_audio else f"{add(_silence(bumper.info.duration_s))}:a"

    return Inputs(args, logo, intro, outro, main_audio, bumper_audio(job.intro, intro), bumper_audio(job.outro, outro))


def _audio_chain(job: Job, inputs: Inputs, loudnorm: str | None) -> str:
    """One audio track for every cut (intro, footage, outro), normalized once; ends in [aout]."""
    after = [loudnorm] if loudnorm else []
    # loudnorm works at 192 kHz internally: back to 48 kHz stereo, which every platform wants.
    after += ["aresample=48000", "aformat=sample_fmts=fltp:channel_layouts=stereo"]
    if not job.bumpers:
        return f"[{inputs.main_audio}]{','.join(after)}[aout]"
    chains = []
    parts = []
    for name, source, bumper in (
        ("ia", inputs.intro_audio, job.intro),
        ("ma", inputs.main_audio, None),
        ("oa", inputs.outro_audio, job.outro),
    ):
        if source is None:
            continue
        # The parts must agree in rate and layout before they are joined.
        steps = ["aresample=48000", "aformat=sample_fmts=fltp:channel_layouts=stereo"]
        if bumper is not None:
            # A bumper's sound is padded or cut to its picture, so the footage after it stays in sync.
            steps += ["apad", f"atrim=duration={_num(bumper.info.duration_s)}"]
        chains.append(f"[{source}]{','.join(steps)}[{name}]")
        parts.append(name)
    chains.append("".join(f"[{p}]" for p in parts) + f"concat=n={len(parts)}:v=0:a=1[joined]")
    chains.append(f"[joined]{','.join(after)}[aout]")
    return ";".join(chains)


def measure_job_loudness_args(job: Job) -> list[str]:
    """First pass of the loudness normalization: the audio of a whole cut (bumpers included), no video."""
    if not job.bumpers:
        return measure_loudness_args(job.source, job.trim)
    inputs = plan_inputs(job, video=False)
    graph = _audio_chain(job, inputs, loudnorm_filter(None))
    return [*inputs.args, "-filter_complex", graph, "-map", "[aout]", "-f", "null", "-"]


def passthrough_problems(job: Job, out: Output, probed: ProbeResult, *, stretch: bool = False) -> list[str]:
    """Why the source's video cannot be copied into this cut as it is; empty when it can (pure).

    It can when the source already is what the cut would be (H.264 High 8-bit 4:2:0 BT.709, the cut's frame,
    a constant rate the profile allows, a level and bitrate within its copy limits) and no edit touches the
    cut's picture (logo, trim, subtitles, bumpers, a subject crop, a cut to the profile's length).

    `stretch`: the source is a stretch of a longer one (a live chunk), which may pass the cut through as far as
    the stretch can tell: its bitrate and its length are the whole's to judge.
    """
    t, info, name = out.target, job.info, out.target.name
    video = probed.video
    if video is None:
        return [f"{name}: the source has no video"]
    limits = t.copy
    if limits is None or t.video_kbps is not None:
        # Size-driven cuts (Zalo) need their own bitrate; profiles without copy limits are always encoded.
        return [f"{name}: this profile is always encoded"]
    problems: list[str] = []
    if video.codec_name != "h264" or video.profile != "High":
        problems.append(f"{name}: video is {video.codec_name} {video.profile}, not h264 High")
    if video.level is None or video.level <= 0 or video.level > limits.max_level:
        problems.append(f"{name}: H.264 level {video.level}, at most {limits.max_level} passed through")
    if video.pix_fmt != "yuv420p":
        problems.append(f"{name}: pixel format {video.pix_fmt}, not yuv420p")
    if (video.width, video.height) != (t.width, t.height) or video.rotation % 360 != 0:
        problems.append(
            f"{name}: frame {video.width}x{video.height} turned {video.rotation}°, not the cut's {t.width}x{t.height}"
        )
    if video.sample_aspect_ratio not in ("1:1", "") or abs(info.sar - 1.0) > ASPECT_TOLERANCE:
        problems.append(f"{name}: pixels are not square (SAR {video.sample_aspect_ratio})")
    if info.interlaced or video.field_order in INTERLACED_ORDERS:
        problems.append(f"{name}: interlaced")
    tags = (video.color_primaries, video.color_transfer, video.color_space, video.color_range)
    if tags != (BT709.primaries, BT709.transfer, BT709.matrix, BT709.range):
        # Untagged or other colour: the encode converts it or writes the tags every cut must carry.
        problems.append(f"{name}: colour tagged {'/'.join(x or 'untagged' for x in tags)}, not BT.709 tv")
    rates = (video.avg_frame_rate, video.r_frame_rate)
    if any(abs(r - info.fps_value) > info.fps_value * RATE_TOLERANCE for r in rates) or (
        info.fps_value > t.profile.max_fps + RATE_TOLERANCE
    ):
        # A variable rate (average and base rate differ) is made constant by the encode.
        problems.append(
            f"{name}: frame rate {video.avg_frame_rate:.3f} (base {video.r_frame_rate:.3f}), "
            f"not a constant {info.fps_value:.3f} within {t.profile.max_fps:g}"
        )
    # Without the stream's own figure (Matroska does not index one), the whole file's: an upper bound of the video's.
    whole = int(probed.size_bytes * 8 / probed.duration_s) if probed.duration_s > 0 else None
    bit_rate = video.bit_rate or whole
    if not stretch and (bit_rate is None or bit_rate > limits.max_kbps * 1000):
        problems.append(f"{name}: video bitrate {bit_rate} b/s, at most {limits.max_kbps} kb/s passed through")
    edits = [
        ("a logo", job.logo is not None),
        ("a trim", job.trim != Trim()),
        ("subtitles", job.subtitles is not None),
        ("bumpers", bool(job.bumpers)),
        ("a subject crop", out.crop is not None),
        ("a cut to the profile's length", not stretch and t.duration_s < info.duration_s - RATE_TOLERANCE),
    ]
    problems += [f"{name}: {edit} changes the picture" for edit, applies in edits if applies]
    return problems


def _copies(out: Output, info: SourceInfo) -> int:
    """How many copies of the source `_frame` needs for this output: the picture, a background to blur, or both
    plus the crop when a subject crop falls back to the blurred fit for some shots; none when it is copied."""
    if out.copy_video:
        return 0
    if out.crop is not None:
        return 1 + (_copies(_plain(out), info) if out.crop.fallback else 0)
    return 1 if same_aspect(info, out.target) else 2


def _frame(copies: Sequence[str], out: Output, info: SourceInfo, label: str) -> list[str]:
    """Filter chains that turn `_copies(out, info)` copies of the source into the cut's frame, ending at [label]."""
    t = out.target
    if out.crop is not None:
        c = out.crop
        # Named, so the crop path commands reach this crop only (and not the ones inside other framings).
        crop = (
            f"[{copies[0]}]crop@{label}=w={c.width}:h={c.height}:x={_num(c.keyframes[0][1])}:y=0,"
            f"scale={t.width}:{t.height}"
        )
        if not c.fallback:
            return [f"{crop}[{label}]"]
        shots = "+".join(f"between(t,{_num(start)},{_num(end)})" for start, end in c.fallback)
        # The fitted frame covers the whole crop during the shots that fall back; elsewhere overlay passes the crop.
        return [
            f"{crop}[{label}crop]",
            *_frame(copies[1:], _plain(out), info, f"{label}fit"),
            f"[{label}crop][{label}fit]overlay=x=0:y=0:enable='{shots}'[{label}]",
        ]
    src = copies[0]
    if len(copies) == 1:
        # Same shape: fill the frame exactly (a few pixels of a not-quite-equal aspect are cropped, not stretched).
        return [
            f"[{src}]scale={t.width}:{t.height}:force_original_aspect_ratio=increase,crop={t.width}:{t.height}[{label}]"
        ]
    bg = copies[1]
    small_w, small_h = _even(t.width / BLUR_DOWNSCALE), _even(t.height / BLUR_DOWNSCALE)
    # fast_bilinear for the background's two scalings: it is blurred anyway, and this halves their cost
    # (measured: 0.95 → 0.55 CPU-s per 8 s of 1080p).
    return [
        f"[{bg}]scale={small_w}:{small_h}:force_original_aspect_ratio=increase:flags=fast_bilinear,"
        f"crop={small_w}:{small_h},boxblur={BLUR_RADIUS},scale={t.width}:{t.height}:flags=fast_bilinear[{label}bg]",
        f"[{src}]scale={t.width}:{t.height}:force_original_aspect_ratio=decrease:force_divisible_by=2[{label}fg]",
        # The whole frame stays visible, centred on a blurred, cropped copy of itself: never stretched.
        f"[{label}bg][{label}fg]overlay=x=(W-w)/2:y=(H-h)/2[{label}]",
    ]


def _plain(out: Output) -> Output:
    """The output without its subject crop (for the clips the crop path was not planned on)."""
    return Output(out.target, out.path)


def crop_script(job: Job) -> str:
    """The sendcmd script that moves every subject crop along its path (pure).

    Each stretch between two keyframes sets x to a linear function of t, so the window glides.
    """
    lines: dict[float, list[str]] = {}
    for i, out in enumerate(job.outputs):
        if out.crop is None:
            continue
        frames = out.crop.keyframes
        for k, (t0, x0) in enumerate(frames):
            if k + 1 < len(frames) and frames[k + 1][0] > t0:
                t1, x1 = frames[k + 1]
                expr = f"{_num(x0)}+({_num(x1 - x0)})*(t-{_num(t0)})/{_num(t1 - t0)}"
            else:
                expr = _num(x0)
            lines.setdefault(round(t0, 3), []).append(f"crop@f{i} x '{expr}'")
    return "".join(f"{t:.3f} {', '.join(cmds)};\n" for t, cmds in sorted(lines.items()))


def _prepare(info: SourceInfo, fps: str) -> list[str]:
    steps: list[str] = []
    if info.interlaced:
        # Broadcast footage: bwdif deinterlaces one frame per frame; platforms show progressive video only.
        steps.append("bwdif=mode=send_frame:parity=auto:deint=interlaced")
    # Once, before the split: every cut is SDR BT.709 limited range (see colour.py).
    steps += to_bt709(info.colour)
    if abs(info.sar - 1.0) > ASPECT_TOLERANCE:
        # Anamorphic pixels made square first, so every later size is plain arithmetic on the shown picture.
        steps.append(f"scale={info.width}:{info.height},setsar=1")
    # One constant rate for every cut: variable-frame-rate phone footage becomes what platforms expect.
    steps.append(f"fps={fps}")
    return steps


def _fan(source: str, steps: list[str], labels: list[str], split: str = "split") -> str:
    """A chain from `source` through `steps` into as many copies as `labels` (a filter output is used once)."""
    fan = f"{split}={len(labels)}" if len(labels) > 1 else ("null" if split == "split" else "anull")
    return f"[{source}]{','.join([*steps, fan])}" + "".join(f"[{x}]" for x in labels)


def build_graph(job: Job, inputs: Inputs | None = None, *, audio: bool = True) -> tuple[str, list[str], list[str]]:
    """The filtergraph, and the labels of each output's video and audio (pure). Without `audio`, video only (a
    chunk's: its cut's audio is made once for the whole programme, see chunks.py)."""
    if not job.outputs and job.candidates is None:
        raise ValueError("at least one output or the candidates are needed")
    inputs = inputs or plan_inputs(job)
    info = job.info
    chains: list[str] = []

    copies = sum(_copies(o, info) for o in job.outputs) + (1 if job.candidates else 0)
    copy_labels = [f"s{i}" for i in range(copies)]
    prepare = _prepare(info, info.fps)
    if any(o.crop is not None for o in job.outputs):
        if job.crop_commands is None:
            raise ValueError("an output follows a subject, but the job has no crop_commands file")
        # Timed commands move the subject crops; after fps, so they see the cut's own timeline.
        prepare.append(f"sendcmd=f={escape_value(str(job.crop_commands))}")
    if copy_labels:  # nothing to decode when every cut copies the source's video and no still is wanted
        chains.append(_fan("0:v", prepare, copy_labels))

    logo_labels: list[str] = []
    if inputs.logo is not None:
        logo_labels = [f"logo{i}" for i in range(len(job.outputs))]
        chains.append(_fan(f"{inputs.logo}:v", ["format=rgba"], logo_labels))

    bumper_copies: dict[str, list[str]] = {}
    for name, bumper, index in (("intro", job.intro, inputs.intro), ("outro", job.outro, inputs.outro)):
        if bumper is None or index is None:
            continue
        # Bumpers are framed without the footage's subject crop: fitted (on a blur) like any other clip.
        labels = [f"{name}{k}" for k in range(sum(_copies(_plain(o), bumper.info) for o in job.outputs))]
        # At the footage's rate, so the parts of a cut join into one constant-rate stream.
        chains.append(_fan(f"{index}:v", _prepare(bumper.info, info.fps), labels))
        bumper_copies[name] = labels

    video_labels: list[str] = []
    cursor = 0
    bumper_cursor = dict.fromkeys(bumper_copies, 0)
    for i, out in enumerate(job.outputs):
        if out.copy_video:
            video_labels.append("")  # mapped from the source itself (build_args)
            continue
        t = out.target
        used = _copies(out, info)
        framed = f"f{i}"
        chains.extend(_frame(copy_labels[cursor : cursor + used], out, info, framed))
        cursor += used
        current = framed
        if inputs.logo is not None:
            logo_w = _even(t.width * LOGO_WIDTH_SHARE)
            margin = _even(t.width * LOGO_MARGIN_SHARE)
            chains.append(f"[{logo_labels[i]}]scale={logo_w}:-2[lg{i}]")
            # The single logo picture is repeated over the whole footage (overlay's default at the logo's end).
            chains.append(f"[{current}][lg{i}]overlay=x=W-w-{margin}:y={margin}[wm{i}]")
            current = f"wm{i}"
        steps: list[str] = []
        if job.subtitles is not None:
            # On the footage only, whose timeline starts at 0 here, as the shifted SRT does.
            style = f"FontName={SUBTITLE_FONT},FontSize=18,Outline=2,MarginV=30"
            steps.append(
                f"subtitles=filename={escape_value(str(job.subtitles))}:charenc=UTF-8:force_style={escape_value(style)}"
            )
        steps += ["setsar=1", "format=yuv420p"]
        parts = []
        for name, bumper in (("intro", job.intro), ("outro", job.outro)):
            if bumper is None or name not in bumper_copies:
                continue
            k = bumper_cursor[name]
            used = _copies(_plain(out), bumper.info)
            bumper_cursor[name] += used
            label = f"{name[0]}b{i}"
            chains.extend(_frame(bumper_copies[name][k : k + used], _plain(out), bumper.info, f"{label}f"))
            chains.append(f"[{label}f]setsar=1,format=yuv420p[{label}]")
            parts.append((name, label))
        label = f"v{i}"
        if parts:
            chains.append(f"[{current}]{','.join(steps)}[m{i}]")
            order = [p for n, p in parts if n == "intro"] + [f"m{i}"] + [p for n, p in parts if n == "outro"]
            chains.append("".join(f"[{p}]" for p in order) + f"concat=n={len(order)}:v=1:a=0[{label}]")
        else:
            chains.append(f"[{current}]{','.join(steps)}[{label}]")
        video_labels.append(label)

    if job.candidates is not None:
        c = job.candidates
        chains.append(f"[{copy_labels[cursor]}]fps=1/{_num(c.every_s)},scale={c.width}:{c.height},format=gray[cand]")

    if not audio:
        return ";".join(chains), video_labels, []
    audio_graph, audio_labels = build_audio_graph(job, inputs)
    return ";".join([*chains, audio_graph]), video_labels, audio_labels


def build_audio_graph(job: Job, inputs: Inputs) -> tuple[str, list[str]]:
    """The audio of every output, normalized once and split: the chains and each output's label (pure)."""
    loudnorm = loudnorm_filter(job.loudness) if job.loudness is not None else None
    audio_labels = [f"a{i}" for i in range(len(job.outputs))]
    return ";".join([_audio_chain(job, inputs, loudnorm), _fan("aout", [], audio_labels, split="asplit")]), audio_labels


def video_codec_args(out: Output, options: EncodeOptions) -> list[str]:
    """x264 for one cut: the options' preset and CRF, else the cut's profile's (pure)."""
    t = out.target
    args = ["-c:v", "libx264", "-preset", options.preset or t.profile.preset, "-profile:v", "high"]
    if t.video_kbps is None:
        args += ["-crf", str(t.profile.crf if options.crf is None else options.crf)]
    else:
        # Size-driven: an average bitrate with a VBV ceiling, so the file cannot overshoot its size limit.
        args += ["-b:v", f"{t.video_kbps}k", "-maxrate", f"{t.video_kbps}k", "-bufsize", f"{2 * t.video_kbps}k"]
    return [*args, "-threads", str(options.threads)]


def audio_codec_args(t: Target) -> list[str]:
    return ["-c:a", "aac", "-b:a", f"{t.profile.audio_kbps}k", "-ar", str(t.profile.audio_rate), "-ac", "2"]


def build_args(job: Job, *, audio: bool = True) -> list[str]:
    """ffmpeg arguments (without the program name) for one decode feeding every output (pure).

    Without `audio`, the cuts are video only (a live chunk's: its sound is the whole archive's, made at the end).
    """
    inputs = plan_inputs(job)
    graph, video_labels, audio_labels = build_graph(job, inputs)
    args = [*inputs.args, "-filter_complex", graph]
    for out, v, a in zip(job.outputs, video_labels, audio_labels, strict=True):
        t = out.target
        if out.copy_video:
            # Passed through: the source's own H.264 stream, already tagged BT.709 (passthrough_problems).
            args += ["-map", "0:v:0", "-c:v", "copy"]
        else:
            args += ["-map", f"[{v}]", *video_codec_args(out, job.options)]
            # Explicit colour tags in the H.264 stream, as the frames carry them: no player guesses.
            args += [x for pair in OUTPUT_TAGS for x in pair]
        if audio:
            args += ["-map", f"[{a}]", *audio_codec_args(t)]
        # moov before mdat, so platforms and browsers start playing before the download ends.
        args += ["-movflags", "+faststart"]
        # Several outputs fed by one graph can run ahead of each other; a deeper queue avoids ffmpeg's
        # "Too many packets buffered" abort on long-GOP sources.
        args += ["-max_muxing_queue_size", "4096"]
        # Cut both tracks at the cut's length (the trimmed source, or a Short's 3 minutes).
        args += ["-t", _num(t.duration_s), "-f", "mp4", f"file:{out.path}"]
    if job.candidates is not None:
        args += ["-map", "[cand]", "-f", "rawvideo", "-pix_fmt", "gray", f"file:{job.candidates.path}"]
    if not audio:
        # The graph's sound goes nowhere, but every output of a filtergraph must be used.
        args += [*(x for a in audio_labels for x in ("-map", f"[{a}]")), "-f", "null", "-"]
    return args


def stills_args(source: Path, at_s: float, info: SourceInfo, images: Sequence[tuple[int, int, Path]]) -> list[str]:
    """One frame at `at_s`, framed (fit on blur) into each (width, height, path) JPEG (pure)."""
    outputs = [Output(Target(Profile(f"image{i}", w, h), w, h, 1.0), path) for i, (w, h, path) in enumerate(images)]
    pre = "bwdif=mode=send_frame:parity=auto:deint=interlaced," if info.interlaced else ""
    pre += ",".join(to_bt709(info.colour)) + ","
    if abs(info.sar - 1.0) > ASPECT_TOLERANCE:
        pre += f"scale={info.width}:{info.height},setsar=1,"
    copies = [f"s{i}" for i in range(sum(_copies(o, info) for o in outputs))]
    chains = [f"[0:v]{pre}split={len(copies)}" + "".join(f"[{c}]" for c in copies)]
    cursor = 0
    for i, out in enumerate(outputs):
        used = _copies(out, info)
        chains.extend(_frame(copies[cursor : cursor + used], out, info, f"f{i}"))
        cursor += used
        # JPEG (JFIF) is full range with the BT.601 matrix, whatever the video was: converted, not only relabelled.
        chains.append(f"[f{i}]setsar=1,zscale=m=bt470bg:r=pc,format=yuvj420p[v{i}]")
    args = ["-ss", _num(at_s), "-i", f"file:{source}", "-filter_complex", ";".join(chains)]
    for i, out in enumerate(outputs):
        # q 3 is visually lossless for a still at these sizes, a few hundred kB at most.
        args += ["-map", f"[v{i}]", "-frames:v", "1", "-q:v", "3", "-f", "image2", "-update", "1", f"file:{out.path}"]
    return args
