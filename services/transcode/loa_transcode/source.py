"""What transcode needs to know about a source, from its own ffprobe (pure).

The upload event carries ffprobe's size and duration, but not what real-world footage hides: rotation
metadata, non-square pixels, interlacing, variable frame rate. Transcode probes the source itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from loa_core.media import ProbeResult
from loa_core.streaming import PermanentError
from loa_transcode.colour import BT709, Colour, source_colour

# Output rates are one of these constant rates (see output_rate).
STANDARD_RATES: tuple[tuple[str, float], ...] = (
    ("24000/1001", 24000 / 1001),
    ("24", 24.0),
    ("25", 25.0),
    ("30000/1001", 30000 / 1001),
    ("30", 30.0),
    ("50", 50.0),
    ("60000/1001", 60000 / 1001),
    ("60", 60.0),
)
INTERLACED_ORDERS = frozenset({"tt", "bb", "tb", "bt"})


@dataclass(frozen=True)
class SourceInfo:
    # The picture as shown: after rotation metadata and non-square pixels are applied.
    width: int
    height: int
    duration_s: float
    has_audio: bool
    # Output frame rate as an ffmpeg rational ("30000/1001"), constant, at most the profile cap.
    fps: str
    fps_value: float
    interlaced: bool = False
    # Pixel aspect ratio of the coded picture when it is not square (anamorphic broadcast footage).
    sar: float = 1.0
    # Its colour (tags, or what is assumed without them): every cut is converted from it to BT.709.
    colour: Colour = BT709

    @property
    def aspect(self) -> float:
        return self.width / self.height


def _sar(text: str) -> float:
    num, _, den = text.partition(":")
    try:
        n, d = int(num), int(den)
    except ValueError:
        return 1.0
    return n / d if n > 0 and d > 0 else 1.0


def output_rate(avg: float, base: float, max_fps: float = 60.0) -> tuple[str, float]:
    """A constant output rate for a source whose average rate is `avg` (pure).

    The broadcast rate within 2 % of the source's average (a phone's variable-frame-rate 29.6 fps becomes
    29.97), else the smallest one above it (a 12.5 fps camera becomes 24: TikTok wants at least 23), by
    repeating frames, never dropping them; high-speed 120 fps footage is capped at the platforms' 60.
    """
    rate = avg if avg > 0 else base
    if rate <= 0:
        rate = 30.0
    rate = min(rate, max_fps)
    name, value = min(STANDARD_RATES, key=lambda r: abs(r[1] - rate))
    if abs(value - rate) / rate <= 0.02:
        return name, value
    return next((n, v) for n, v in STANDARD_RATES if v >= rate and "/" not in n)


def source_info(probe: ProbeResult, *, max_fps: float = 60.0) -> SourceInfo:
    video = probe.video
    if video is None or not video.width or not video.height:
        raise PermanentError("the source has no video stream")
    sar = _sar(video.sample_aspect_ratio)
    width, height = video.width, video.height
    if abs(sar - 1.0) > 0.01:
        width = round(width * sar / 2) * 2
    if abs(video.rotation) % 180 == 90:
        # ffmpeg applies the display matrix while decoding (autorotate), so the frames arrive turned.
        width, height = height, width
    duration = probe.duration_s
    if video.duration_s:
        # The video stream decides the length of a cut; a longer audio tail is cut to it.
        duration = video.duration_s
    if duration <= 0:
        raise PermanentError("the source has no known duration")
    fps_name, fps_value = output_rate(video.avg_frame_rate, video.r_frame_rate, max_fps)
    return SourceInfo(
        width=width,
        height=height,
        duration_s=duration,
        has_audio=probe.has_audio,
        fps=fps_name,
        fps_value=fps_value,
        interlaced=video.field_order in INTERLACED_ORDERS,
        sar=sar,
        colour=source_colour(video),
    )
