"""ffprobe and ffmpeg behind one module: one runner that logs the exact command and raises one error type.

Commands are argv lists, never shell strings: file names and user text never reach a shell.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg

log = logging.getLogger(__name__)

# Every service runs the same pinned ffmpeg: the static FFmpeg 9 build inside the imageio-ffmpeg wheel, not Debian
# 12's 5.1. Measured on transcode's one-decode command (three cuts of 10 s of phone-like 1080p30, alternating runs of
# both binaries on the same file): 6-10 % less wall and CPU time. FFmpeg 7+ also runs each decoder, filtergraph and
# encoder of a command in its own thread. IMAGEIO_FFMPEG_EXE=/usr/bin/ffmpeg switches back to the system binary.
# ffprobe is not in the wheel and stays the system's: probing does not depend on the encoder's version.
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
FFPROBE = "ffprobe"


class MediaError(Exception):
    """ffmpeg or ffprobe refused the input or failed; `stderr` holds the tail of what it said."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


@dataclass(frozen=True)
class StreamInfo:
    codec_type: str
    codec_name: str
    width: int | None
    height: int | None
    # What transcode needs to plan and to check its outputs; empty/None when ffprobe did not say.
    profile: str = ""
    level: int | None = None  # H.264's level times ten (40: level 4.0, 42: level 4.2)
    pix_fmt: str = ""
    sample_aspect_ratio: str = ""  # "1:1", "16:15", ... ("" or "0:1" when unknown)
    r_frame_rate: float = 0.0  # the container's base rate
    avg_frame_rate: float = 0.0  # frames / duration; differs from r_frame_rate in variable-frame-rate video
    field_order: str = ""  # "progressive", "tt", "bb", "tb", "bt" or "" (unknown)
    rotation: int = 0  # degrees from the display matrix (phones film sideways and say so here)
    duration_s: float | None = None
    # When its first packet shows, in seconds after the file's start (the earliest packet of any stream).
    start_s: float | None = None
    nb_frames: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bit_rate: int | None = None  # bits per second, as the container's index or the stream's header says
    # Colour tags as ffprobe names them; "" when the file does not say (ffprobe's "unknown").
    color_range: str = ""  # "tv" (limited) or "pc" (full)
    color_space: str = ""  # the YCbCr matrix: "bt709", "smpte170m", "bt470bg", "bt2020nc", ...
    color_transfer: str = ""  # "bt709", "smpte170m", "smpte2084" (PQ), "arib-std-b67" (HLG), ...
    color_primaries: str = ""  # "bt709", "smpte170m", "bt470bg", "bt2020", ...


@dataclass(frozen=True)
class ProbeResult:
    format_name: str
    duration_s: float
    size_bytes: int
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.codec_type == "video"), None)

    @property
    def has_audio(self) -> bool:
        return any(s.codec_type == "audio" for s in self.streams)


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None  # absent, or ffprobe's "N/A"


def _int_or_none(value: Any) -> int | None:
    number = _float_or_none(value)
    return None if number is None else int(number)


def _rate(value: Any) -> float:
    """ffprobe writes rates as fractions ("30000/1001"); "0/0" means unknown, returned as 0."""
    num, _, den = str(value or "0/0").partition("/")
    try:
        n, d = float(num), float(den or 1)
    except ValueError:
        return 0.0
    return n / d if d else 0.0


def _since(time_s: float | None, start_s: float) -> float | None:
    return None if time_s is None else round(time_s - start_s, 6)


def _tag(value: Any) -> str:
    text = str(value or "")
    return "" if text in ("unknown", "unspecified", "reserved") else text


def _rotation(stream: dict[str, Any]) -> int:
    """Rotation in degrees: the display matrix side data (ffmpeg >= 5), else the legacy `rotate` tag."""
    for side in stream.get("side_data_list") or []:
        if isinstance(side, dict) and "rotation" in side:
            return int(float(side["rotation"]))
    tags = stream.get("tags") or {}
    if isinstance(tags, dict) and "rotate" in tags:
        return int(float(tags["rotate"]))
    return 0


def parse_probe(raw: dict[str, Any]) -> ProbeResult:
    """Turn ffprobe's JSON into a ProbeResult (pure, so it is tested without ffprobe)."""
    fmt: dict[str, Any] = raw.get("format") or {}
    file_start = _float_or_none(fmt.get("start_time")) or 0.0
    streams = []
    for s in raw.get("streams") or []:
        # Attached pictures (cover art) are "video" streams that are not footage.
        if (s.get("disposition") or {}).get("attached_pic"):
            continue
        streams.append(
            StreamInfo(
                codec_type=str(s.get("codec_type", "")),
                codec_name=str(s.get("codec_name", "")),
                width=int(s["width"]) if s.get("width") else None,
                height=int(s["height"]) if s.get("height") else None,
                profile=str(s.get("profile", "")),
                level=_int_or_none(s.get("level")),
                pix_fmt=str(s.get("pix_fmt", "")),
                sample_aspect_ratio=str(s.get("sample_aspect_ratio", "")),
                r_frame_rate=_rate(s.get("r_frame_rate")),
                avg_frame_rate=_rate(s.get("avg_frame_rate")),
                field_order=str(s.get("field_order", "")),
                rotation=_rotation(s),
                duration_s=_float_or_none(s.get("duration")),
                start_s=_since(_float_or_none(s.get("start_time")), file_start),
                nb_frames=_int_or_none(s.get("nb_frames")),
                sample_rate=_int_or_none(s.get("sample_rate")),
                channels=_int_or_none(s.get("channels")),
                bit_rate=_int_or_none(s.get("bit_rate")),
                color_range=_tag(s.get("color_range")),
                color_space=_tag(s.get("color_space")),
                color_transfer=_tag(s.get("color_transfer")),
                color_primaries=_tag(s.get("color_primaries")),
            )
        )
    duration = fmt.get("duration")
    return ProbeResult(
        format_name=str(fmt.get("format_name", "")),
        duration_s=float(duration) if duration not in (None, "N/A") else 0.0,
        size_bytes=int(fmt.get("size") or 0),
        streams=tuple(streams),
    )


async def _run(argv: Sequence[str], timeout_s: float | None) -> tuple[bytes, str]:
    log.info("running %s", shlex.join(argv))
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    stderr = err.decode("utf-8", errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise MediaError(f"{Path(argv[0]).name} exited with {proc.returncode}: {tail[-2000:]}", stderr)
    return out, stderr


async def probe(path: Path, timeout_s: float = 60.0) -> ProbeResult:
    argv = [
        FFPROBE,
        "-v",
        "error",
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        # "file:" stops ffprobe from reading a name like "concat:..." or "http:..." as a protocol.
        f"file:{path}",
    ]
    out, _ = await _run(argv, timeout_s)
    try:
        return parse_probe(json.loads(out))
    except (ValueError, TypeError, AttributeError) as exc:
        raise MediaError(f"ffprobe printed something that is not its JSON: {exc}") from exc


@dataclass(frozen=True)
class VideoPacket:
    """One packet of a file's first video stream, in decode order: its presentation time in seconds after the
    file's start (what ffmpeg's input -ss counts from; None when the container gives none) and its keyframe flag."""

    pts_s: float | None
    key: bool


def parse_packets(raw: dict[str, Any]) -> tuple[VideoPacket, ...]:
    """ffprobe's JSON of `-show_entries packet=pts_time,flags:format=start_time` as packets (pure)."""
    start = _float_or_none((raw.get("format") or {}).get("start_time")) or 0.0
    packets = []
    for p in raw.get("packets") or []:
        pts = _float_or_none(p.get("pts_time"))
        packets.append(VideoPacket(None if pts is None else round(pts - start, 6), "K" in str(p.get("flags", ""))))
    return tuple(packets)


async def video_packets(path: Path, timeout_s: float = 300.0) -> tuple[VideoPacket, ...]:
    """Every video packet's time and keyframe flag, read by demuxing only (no decoding: seconds for an hour)."""
    argv = [
        FFPROBE,
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts_time,flags:format=start_time",
        "-print_format",
        "json",
        f"file:{path}",
    ]
    out, _ = await _run(argv, timeout_s)
    try:
        return parse_packets(json.loads(out))
    except (ValueError, TypeError, AttributeError) as exc:
        raise MediaError(f"ffprobe printed something that is not its JSON: {exc}") from exc


# libvmaf's pooled score line on stderr: "[Parsed_libvmaf_0 @ 0x...] VMAF score: 93.177263".
_VMAF_SCORE = re.compile(r"VMAF score: (-?[0-9]+(?:\.[0-9]+)?)")


def vmaf_args(distorted: Sequence[str], reference: Sequence[str], threads: int = 0) -> list[str]:
    """ffmpeg arguments measuring VMAF (libvmaf's default model, v0.6.1) of a video against its reference (pure).

    Each side is given as the input arguments that open it (a raw reference needs its format, size and rate). The
    pinned FFmpeg 9 has libvmaf (--enable-libvmaf; Debian's 5.1 has not). Both sides start at 0, so frames pair
    by their place in the video.
    """
    graph = (
        "[0:v]setpts=PTS-STARTPTS[distorted];[1:v]setpts=PTS-STARTPTS[reference];"
        f"[distorted][reference]libvmaf=n_threads={threads or os.cpu_count() or 1}"
    )
    return [*distorted, *reference, "-lavfi", graph, "-f", "null", "-"]


def parse_vmaf(stderr: str) -> float:
    """The pooled (mean) VMAF score libvmaf printed; ValueError when it printed none."""
    found = _VMAF_SCORE.findall(stderr)
    if not found:
        raise ValueError("libvmaf printed no VMAF score")
    return float(found[-1])


ProgressCallback = Callable[[dict[str, str]], Awaitable[None]]


async def run_ffmpeg(args: Sequence[str], on_progress: ProgressCallback | None = None) -> str:
    """Run ffmpeg with `args` (everything after the program name). Progress comes from `-progress pipe:1`.

    Returns what ffmpeg wrote on stderr: some filters (loudnorm, ebur128) report their measurements there.
    """
    argv = [FFMPEG, "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", *args]
    log.info("running %s", shlex.join(argv))
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.create_task(proc.stderr.read())
    try:
        block: dict[str, str] = {}
        async for line in proc.stdout:
            key, _, value = line.decode("utf-8", errors="replace").strip().partition("=")
            block[key] = value
            if key == "progress":  # ffmpeg ends each progress block with progress=continue|end
                if on_progress is not None:
                    await on_progress(block)
                block = {}
        returncode = await proc.wait()
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    stderr = (await stderr_task).decode("utf-8", errors="replace")
    if returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise MediaError(f"ffmpeg exited with {returncode}: {tail[-2000:]}", stderr)
    return stderr


async def ffmpeg_stdout(args: Sequence[str], timeout_s: float | None = None) -> bytes:
    """Run ffmpeg with `args` (everything after the program name) and return what it wrote on stdout: raw frames
    for an output `-f rawvideo pipe:1` (loa_core.fingerprint reads small grayscale frames this way)."""
    out, _ = await _run([FFMPEG, "-hide_banner", "-nostdin", "-v", "error", *args], timeout_s)
    return out
