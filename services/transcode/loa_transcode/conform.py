"""Check a finished cut against its profile before anyone is told it exists. Pure: takes ffprobe's findings."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from loa_core.media import ProbeResult
from loa_transcode.colour import BT709
from loa_transcode.graph import TARGET_LUFS
from loa_transcode.loudness import Loudness
from loa_transcode.profiles import Target

LOUDNESS_TOLERANCE_LU = 1.0
MAX_TRUE_PEAK_DBTP = -1.0
# Rates are compared with this slack: ffprobe prints 30000/1001 as 29.97002997.
FPS_SLACK = 0.01


# ffmpeg's own words when a decoder met broken data (the ffmpeg tool's, not a decoder's chatter): the source is
# damaged, and the cut would carry concealed garbage or a jump. The wording changed between versions: the pinned
# FFmpeg 9 says "Error submitting packet to decoder" and "Decoding error"; Debian's 5.1
# (IMAGEIO_FFMPEG_EXE=/usr/bin/ffmpeg) says "Error while decoding stream". Both print "corrupt decoded frame" for a
# concealed frame.
DAMAGE_MARKERS = (
    "Error submitting packet to decoder",
    "Decoding error",
    "Error while decoding stream",
    "corrupt decoded frame",
)


def damage_report(stderr: str) -> str | None:
    """A sentence about decoding errors in an ffmpeg run's stderr, or None when the source decoded cleanly."""
    hits = [line.strip() for line in stderr.splitlines() if any(m in line for m in DAMAGE_MARKERS)]
    if not hits:
        return None
    return f"{len(hits)} decoding error(s), first: {hits[0]}"


@dataclass(frozen=True)
class Expected:
    duration_s: float
    fps: float
    # Whether the cut should carry sound at the target loudness (False for silent or no-audio footage).
    loud: bool


def length_problem(name: str, probe: ProbeResult, expected: Expected) -> str | None:
    """The cut's video is not the expected length within one frame (a cut ends on a frame boundary of its own rate,
    the source's end need not), or None."""
    video = probe.video
    frame_s = 1.0 / (expected.fps or 30.0)
    actual = video.duration_s if video is not None and video.duration_s is not None else probe.duration_s
    if abs(actual - expected.duration_s) > frame_s + 1e-3:
        return (
            f"{name}: video lasts {actual:.3f} s, expected {expected.duration_s:.3f} s (± one frame, {frame_s:.3f} s)"
        )
    return None


def moov_before_mdat(path: Path) -> bool:
    """Faststart: the index (moov) precedes the media data (mdat), so playback starts before download ends."""
    boxes = []
    with path.open("rb") as f:
        offset = 0
        while True:
            f.seek(offset)
            header = f.read(16)
            if len(header) < 8:
                break
            size, name = struct.unpack(">I4s", header[:8])
            boxes.append(name)
            if name in (b"moov", b"mdat"):
                break
            if size == 1 and len(header) == 16:
                (size,) = struct.unpack(">Q", header[8:16])
            if size < 8:
                break
            offset += size
    return b"moov" in boxes and (b"mdat" not in boxes or boxes.index(b"moov") < boxes.index(b"mdat"))


def conformance_problems(
    target: Target,
    probe: ProbeResult,
    expected: Expected,
    *,
    faststart: bool,
    loudness: Loudness | None,
) -> list[str]:
    """Everything wrong with one cut, each as a sentence naming the cut; empty when it conforms."""
    name = target.name
    problems: list[str] = []
    video = probe.video
    if video is None:
        return [f"{name}: no video stream in the output"]
    if (video.width, video.height) != (target.width, target.height):
        problems.append(f"{name}: size {video.width}x{video.height}, expected {target.width}x{target.height}")
    if video.sample_aspect_ratio not in ("1:1", ""):
        problems.append(f"{name}: pixels are not square (SAR {video.sample_aspect_ratio})")
    if video.codec_name != "h264" or video.profile != "High":
        problems.append(f"{name}: video is {video.codec_name} {video.profile}, expected h264 High")
    if video.pix_fmt != "yuv420p":
        problems.append(f"{name}: pixel format {video.pix_fmt}, expected yuv420p")
    # Every cut is SDR BT.709 in limited range, and says so: an untagged or differently tagged cut is shown with
    # the wrong colours by some player or platform.
    found_colour = {
        "range": video.color_range,
        "primaries": video.color_primaries,
        "transfer": video.color_transfer,
        "matrix": video.color_space,
    }
    expected_colour = {
        "range": BT709.range,
        "primaries": BT709.primaries,
        "transfer": BT709.transfer,
        "matrix": BT709.matrix,
    }
    wrong = [f"{k} {found_colour[k] or 'untagged'}" for k in expected_colour if found_colour[k] != expected_colour[k]]
    if wrong:
        problems.append(f"{name}: colour {', '.join(wrong)}, expected BT.709 limited range (tv) for each")
    rate = video.avg_frame_rate or video.r_frame_rate
    if rate > target.profile.max_fps + FPS_SLACK:
        problems.append(f"{name}: {rate:.2f} fps, at most {target.profile.max_fps:g} allowed")
    audio = next((s for s in probe.streams if s.codec_type == "audio"), None)
    if audio is None:
        problems.append(f"{name}: no audio stream")
    elif audio.codec_name != "aac" or audio.sample_rate != target.profile.audio_rate:
        problems.append(
            f"{name}: audio is {audio.codec_name} at {audio.sample_rate} Hz, "
            f"expected aac at {target.profile.audio_rate}"
        )
    if not faststart:
        problems.append(f"{name}: moov is not before mdat (not faststart)")
    if (wrong_length := length_problem(name, probe, expected)) is not None:
        problems.append(wrong_length)
    if target.profile.max_size_bytes is not None and probe.size_bytes > target.profile.max_size_bytes:
        problems.append(f"{name}: {probe.size_bytes} bytes, more than the {target.profile.max_size_bytes} allowed")
    if expected.loud:
        if loudness is None:
            problems.append(f"{name}: the audio is silent, expected {TARGET_LUFS:g} LUFS")
        else:
            if abs(loudness.input_i - TARGET_LUFS) > LOUDNESS_TOLERANCE_LU:
                problems.append(
                    f"{name}: loudness {loudness.input_i:.1f} LUFS, expected {TARGET_LUFS:g} ±{LOUDNESS_TOLERANCE_LU:g}"
                )
            if loudness.input_tp > MAX_TRUE_PEAK_DBTP:
                problems.append(
                    f"{name}: true peak {loudness.input_tp:.1f} dBTP, at most {MAX_TRUE_PEAK_DBTP:g} allowed"
                )
    return problems
