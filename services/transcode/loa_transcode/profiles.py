"""Output profiles are data: what each platform is handed (see shared/PLATFORMS.md).

A `Profile` says what a platform accepts; `resolve` turns it into a `Target` for one footage (the frame
size a 4K source keeps, the length a Short is cut to, the bitrate that fits Zalo's 50 MB).
"""

from __future__ import annotations

from dataclasses import dataclass

from loa_core.streaming import PermanentError

MB = 1_000_000


@dataclass(frozen=True)
class CopyLimits:
    """What a source's H.264 video may be for a cut to take it as it is (passed through, not re-encoded)."""

    # H.264 level times ten, as ffprobe says it: 42 (level 4.2) is 1080p at 60 fps, 52 is 2160p at 60 fps.
    max_level: int
    max_kbps: int


@dataclass(frozen=True)
class Profile:
    name: str
    width: int
    height: int
    # A source at least this large keeps this larger frame (YouTube: a 4K source stays 2160p).
    large_width: int | None = None
    large_height: int | None = None
    max_fps: float = 60.0
    # Longer footage is cut to this length (Shorts are at most 3 minutes, TikTok's API takes 10).
    max_duration_s: float | None = None
    # The file must fit in this many bytes: the video bitrate is then chosen from the duration (Zalo).
    max_size_bytes: int | None = None
    # Ceiling for the size-driven bitrate: more than this buys nothing visible at this frame size.
    max_video_kbps: int = 2500
    audio_rate: int = 48_000
    audio_kbps: int = 128
    # A conformant source with no edit for this cut is passed through within these limits (None: always encoded),
    # and within `large_copy` when the cut keeps the large frame.
    copy: CopyLimits | None = None
    large_copy: CopyLimits | None = None
    # x264's speed/size trade-off and constant rate factor for this cut (the CRF is unused when size-driven),
    # chosen by measurement (tools/loa_dev/encoder_settings.py; see PROFILES).
    preset: str = "veryfast"
    crf: int = 23

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def vertical(self) -> bool:
        return self.height > self.width


@dataclass(frozen=True)
class Target:
    """A profile resolved for one footage."""

    profile: Profile
    width: int
    height: int
    duration_s: float
    # None: quality-driven (CRF). A number: size-driven average bitrate, capped by the VBV buffer.
    video_kbps: int | None = None
    # What a source must stay within to be passed through into this cut (None: the cut is always encoded).
    copy: CopyLimits | None = None

    @property
    def name(self) -> str:
        return self.profile.name


@dataclass(frozen=True)
class ImageSpec:
    kind: str
    width: int
    height: int


# Passthrough limits. 20 Mb/s is above what phones record 1080p30 at (16-17 Mb/s) and what cameras record 1080p60
# at; a file above it costs more upload time than the encode it saves. 4K: phones record 2160p30 at 40-50 Mb/s,
# 2160p60 at 60-80. The platforms re-encode whatever they are handed, so a copy is the last generation loss avoided.
HD_COPY = CopyLimits(max_level=42, max_kbps=20_000)
UHD_COPY = CopyLimits(max_level=52, max_kbps=80_000)

# Encoder settings per cut, measured (python -m loa_dev.encoder_settings --seconds 5, phone-like 1080p30 source,
# 2026-12-06, libvmaf v0.6.1 in the pinned FFmpeg 9): the least x264 CPU time whose VMAF against the cut's own
# frames is at or above what veryfast/CRF 23 gave before.
#   tiktok/shorts (1080x1920, a 16:9 source fitted on blur): veryfast/23 VMAF 95.15, 4.08 CPU-s, 0.74 MB
#     -> superfast/31: VMAF 95.26, 3.03 CPU-s (1.35x less), 0.65 MB. (superfast/32: 94.82; veryfast/24: 95.07.)
#   youtube (1920x1080): veryfast/23 VMAF 95.31, 4.83 CPU-s, 3.42 MB
#     -> superfast/28: VMAF 95.45, 3.72 CPU-s (1.30x less), 4.09 MB (+20 %). (superfast/29: 94.75.)
# faster, fast and medium reach the bar only at 1.6-2.8x veryfast's CPU time. The machine was shared (load 8-32 on
# 2 CPUs): one run per candidate, CPU time (user+sys) rather than wall. Zalo (size-driven, at the bitrate of 10 minutes
# of footage) keeps veryfast: VMAF 89.87 at 2.20 CPU-s; superfast is 86.15, under the bar; faster and slower presets
# gain 1-2 points at 1.5-2x the CPU.
PROFILES: dict[str, Profile] = {
    "tiktok": Profile("tiktok", 1080, 1920, max_duration_s=600.0, copy=HD_COPY, preset="superfast", crf=31),
    # YouTube classifies a vertical video of at most 3 minutes as a Short; no API flag exists.
    "shorts": Profile("shorts", 1080, 1920, max_duration_s=180.0, copy=HD_COPY, preset="superfast", crf=31),
    "youtube": Profile(
        "youtube",
        1920,
        1080,
        large_width=3840,
        large_height=2160,
        copy=HD_COPY,
        large_copy=UHD_COPY,
        preset="superfast",
        crf=28,
    ),
    # Zalo articles take at most 50 MB; 720p keeps the bitrate per pixel sensible for long footage.
    "zalo": Profile("zalo", 1280, 720, max_size_bytes=50 * MB, audio_kbps=96),
}

# Every footage gets both stills, whatever its channels: they are small and every platform takes a cover.
IMAGES: tuple[ImageSpec, ...] = (ImageSpec("thumbnail", 1280, 720), ImageSpec("cover", 1080, 1920))
# How many other frames, spread over the footage, are made into both stills for a person to pick from
# (`thumbnail-1..N`, `cover-1..N`).
CANDIDATE_STILLS = 3

# What a size-driven file may use of its limit: the muxer's overhead and x264's rate-control error.
SIZE_HEADROOM = 0.90
# Below this the picture is not worth publishing; such footage is too long for the platform's size limit.
MIN_VIDEO_KBPS = 150


def profiles_for(names: set[str] | frozenset[str]) -> list[Profile]:
    unknown = sorted(names - PROFILES.keys())
    if unknown:
        raise KeyError(f"unknown profiles: {', '.join(unknown)}")
    return [PROFILES[n] for n in sorted(names)]


def resolve(profile: Profile, *, source_width: int, source_height: int, duration_s: float) -> Target:
    """Pick the frame size, length and bitrate of one cut for one footage (pure)."""
    width, height, copy = profile.width, profile.height, profile.copy
    if (
        profile.large_width is not None
        and profile.large_height is not None
        # Orientation-free: a 3840x2160 source and a sideways-filmed 2160x3840 one are both 4K.
        and max(source_width, source_height) >= profile.large_width
        and min(source_width, source_height) >= profile.large_height
    ):
        width, height, copy = profile.large_width, profile.large_height, profile.large_copy
    if profile.max_duration_s is not None:
        duration_s = min(duration_s, profile.max_duration_s)
    video_kbps = None
    if profile.max_size_bytes is not None:
        total_kbps = profile.max_size_bytes * 8 * SIZE_HEADROOM / duration_s / 1000
        video_kbps = min(profile.max_video_kbps, int(total_kbps - profile.audio_kbps))
        if video_kbps < MIN_VIDEO_KBPS:
            raise PermanentError(
                f"{profile.name}: {duration_s:.0f} s of footage cannot fit in {profile.max_size_bytes / MB:.0f} MB "
                f"(would need {video_kbps} kb/s of video, minimum {MIN_VIDEO_KBPS}); trim it or drop this cut"
            )
    return Target(profile, width, height, duration_s, video_kbps, copy)
