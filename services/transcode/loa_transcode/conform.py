"""Check a finished cut against its profile before anyone is told it exists. Pure: takes ffprobe's findings."""

from __future__ import annotations

from loa_core.media import ProbeResult
from loa_transcode.profiles import Profile

# Container and stream durations differ by up to an AAC frame (~21 ms at 48 kHz) plus one video frame.
DURATION_TOLERANCE_S = 0.1


def conformance_problems(profile: Profile, probe: ProbeResult, expected_duration_s: float) -> list[str]:
    problems: list[str] = []
    video = probe.video
    if video is None:
        return [f"{profile.name}: no video stream in the output"]
    if (video.width, video.height) != (profile.width, profile.height):
        problems.append(f"{profile.name}: size {video.width}x{video.height}, expected {profile.width}x{profile.height}")
    if video.codec_name != "h264":
        problems.append(f"{profile.name}: video codec {video.codec_name}, expected h264")
    if not probe.has_audio:
        problems.append(f"{profile.name}: no audio stream")
    if abs(probe.duration_s - expected_duration_s) > DURATION_TOLERANCE_S:
        problems.append(
            f"{profile.name}: duration {probe.duration_s:.3f}s, expected {expected_duration_s:.3f}s "
            f"(±{DURATION_TOLERANCE_S}s)"
        )
    return problems
