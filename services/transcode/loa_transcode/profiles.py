"""Output profiles are data: what each platform is handed (see shared/PLATFORMS.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    width: int
    height: int
    max_fps: float = 60.0
    audio_rate: int = 48_000
    audio_bitrate: str = "128k"

    @property
    def aspect(self) -> float:
        return self.width / self.height


PROFILES: dict[str, Profile] = {
    # TikTok, Reels and Shorts take the same vertical 9:16 cut.
    "tiktok": Profile("tiktok", 1080, 1920),
    "youtube": Profile("youtube", 1920, 1080),
}


def profiles_for(names: set[str] | frozenset[str]) -> list[Profile]:
    unknown = sorted(names - PROFILES.keys())
    if unknown:
        raise KeyError(f"unknown profiles: {', '.join(unknown)}")
    return [PROFILES[n] for n in sorted(names)]
