from __future__ import annotations

from typing import Literal

from loa_core.settings import CommonSettings


class TranscodeSettings(CommonSettings):
    http_port: int = 8002
    # x264 speed/size trade-off; "veryfast" keeps a 2-core machine near real time for 1080p.
    x264_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] = "veryfast"
    crf: int = 23
    # Threads per ffmpeg run; 0 lets x264 pick (all cores).
    ffmpeg_threads: int = 0
