"""Every cut is SDR BT.709 in limited range, whatever the source's colour: the decisions, pure.

Sources come in four colour families that need different treatment:

- BT.709 limited range (most HD cameras and phones in SDR): already right, only tagged.
- Full range (MJPEG from cameras, many phones' H.264): the levels are squeezed from 0-255 into 16-235.
- BT.601 (SD camcorders, 720x576 / 720x480, JPEG's own matrix): matrix and primaries converted to BT.709.
- HDR, HLG or PQ in BT.2020 (phones film it by default): tone-mapped to SDR BT.709.

YouTube would take proper 10-bit HDR, but every cut is SDR: one colour conversion serves every cut of the
single decode, and the conformance check stays one rule (H.264 High, 8-bit, BT.709) for every platform.

Untagged sources get what players assume for them: BT.709 for HD, BT.601 for SD. The conversion is zscale's
(zimg), which the pinned FFmpeg 9 has; tonemap runs on zscale's linear light (libplacebo is in the build too, but
needs a Vulkan device). Tone mapping is not free: measured on 4 s of 1080p30 10-bit HEVC, the three-cut command
took 1.32x the CPU time for an HLG source than for the same source tagged SDR.
"""

from __future__ import annotations

from dataclasses import dataclass

from loa_core.media import StreamInfo

# Transfer functions of HDR video: PQ (SMPTE ST 2084, HDR10) and HLG (ARIB STD-B67, phones and broadcast).
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
# The tags transcode converts from (zscale knows each); any other tag, or none, is replaced by what players assume.
KNOWN_MATRICES = frozenset({"bt709", "smpte170m", "bt470bg", "bt2020nc", "bt2020c", "smpte240m", "fcc"})
KNOWN_PRIMARIES = frozenset(
    {"bt709", "smpte170m", "bt470bg", "bt470m", "smpte240m", "film", "bt2020", "smpte431", "smpte432"}
)
# HDR reference white (ITU-R BT.2408): diffuse white, a white shirt or paper, is shown at 203 cd/m². Linear light
# is expressed in units of it, so it lands at SDR white before the highlight roll-off.
REFERENCE_WHITE_NITS = 203.0
# The brightest highlight mapped: HLG's nominal display peak, and what phones grade PQ to. Brighter PQ clips.
PEAK_NITS = 1000.0
# mobius tone curve: linear (untouched) up to this share of reference white, then a smooth roll-off that brings
# PEAK_NITS to SDR white. Measured on generated HLG/PQ patches: 18 % grey (26 cd/m²) stays Y 109, reference
# white becomes Y 221 (93 % of SDR white), 1000 cd/m² Y 235. hable (the common recipe) darkens mid-tones to Y 85.
TONEMAP_KNEE = 0.7


@dataclass(frozen=True)
class Colour:
    """A source's colour as transcode reads it, in ffmpeg's names (the tags, or what is assumed without them)."""

    matrix: str = "bt709"
    transfer: str = "bt709"
    primaries: str = "bt709"
    range: str = "tv"

    @property
    def hdr(self) -> bool:
        return self.transfer in HDR_TRANSFERS


BT709 = Colour()
# What every cut carries, as ffmpeg output options: explicit tags, so no player has to guess.
OUTPUT_TAGS: tuple[tuple[str, str], ...] = (
    ("-color_primaries", BT709.primaries),
    ("-color_trc", BT709.transfer),
    ("-colorspace", BT709.matrix),
    ("-color_range", BT709.range),
)


def _hd(width: int, height: int) -> bool:
    # The rule players use for untagged video (mpv, browsers): HD is 1280 wide or more than 576 lines.
    return width >= 1280 or height > 576


def source_colour(video: StreamInfo) -> Colour:
    """The colour of a source video stream (pure): its tags, completed with what players assume without them."""
    width, height = video.width or 0, video.height or 0
    transfer = video.color_transfer if video.color_transfer in HDR_TRANSFERS else "bt709"
    wide = transfer in HDR_TRANSFERS or video.color_space in ("bt2020nc", "bt2020c")
    if video.color_space in KNOWN_MATRICES:
        matrix = video.color_space
    else:
        matrix = "bt2020nc" if wide else ("bt709" if _hd(width, height) else "smpte170m")
    if video.color_primaries in KNOWN_PRIMARIES:
        primaries = video.color_primaries
    elif wide:
        primaries = "bt2020"
    elif _hd(width, height):
        primaries = "bt709"
    else:
        # SD: PAL's 576 lines have EBU primaries, NTSC's 480 (and everything else small) SMPTE C.
        primaries = "bt470bg" if height == 576 else "smpte170m"
    # yuvj* pixel formats are full range by definition (ffprobe 5.1 names full-range H.264 so).
    full = video.color_range == "pc" or video.pix_fmt.startswith("yuvj")
    return Colour(matrix=matrix, transfer=transfer, primaries=primaries, range="pc" if full else "tv")


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def to_bt709(colour: Colour) -> list[str]:
    """Filter steps that turn frames of `colour` into 8-bit SDR BT.709 limited range, tagged so (pure)."""
    # Tags only: the pixels may be right already, but untagged frames would give untagged cuts.
    tag = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
    if colour == BT709:
        return [tag]
    # zscale is told the source's colour explicitly: frames of an untagged source carry none, and zscale cannot
    # convert from "unspecified".
    source = f"zscale=pin={colour.primaries}:min={colour.matrix}:rin={colour.range}"
    if not colour.hdr:
        # SDR transfers are all BT.709's curve in practice (SMPTE 170M is the same formula; BT.470's nominal
        # gammas describe old CRTs, not what cameras record): only matrix, primaries and range change.
        return [f"{source}:tin=bt709:p=bt709:t=bt709:m=bt709:r=tv", "format=yuv420p", tag]
    return [
        # To linear display light in units of HDR reference white (zimg applies HLG's system gamma for a
        # 1000 cd/m² display), in float so nothing clips before the tone curve.
        f"{source}:tin={colour.transfer}:t=linear:npl={_num(REFERENCE_WHITE_NITS)}",
        "format=gbrpf32le",
        "zscale=p=bt709",
        # desat=0: tonemap scales R, G and B by one factor, so hues stay; desaturating highlights is not needed.
        f"tonemap=tonemap=mobius:param={_num(TONEMAP_KNEE)}:desat=0:peak={_num(PEAK_NITS / REFERENCE_WHITE_NITS)}",
        "zscale=t=bt709:m=bt709:r=tv",
        "format=yuv420p",
        tag,
    ]
