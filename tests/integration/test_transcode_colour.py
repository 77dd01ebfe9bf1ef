"""Colour: HDR phone footage, full-range, BT.601 and untagged sources all give SDR BT.709 cuts in limited range.

Each source is a generated 1 s clip holding two flat patches of known code values (left and right halves). The cut's
pixels are read back and compared with what colour science predicts for them, computed here from the standards'
formulas (BT.2100 HLG and PQ, BT.2408 reference white, BT.1886, the BT.601 and BT.709 matrices and primaries), not
from the code under test. The sources are made with the pinned FFmpeg 9 (libx265 for 10-bit HEVC), one transcode
per source, shared by the module.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from loa_core.media import FFMPEG
from loa_core.storage import LocalStorage
from loa_core.streaming import PermanentError
from loa_transcode.colour import PEAK_NITS, REFERENCE_WHITE_NITS, TONEMAP_KNEE
from loa_transcode.pipeline import transcode
from tests.support.transcode import context, upload, video_stream

W, H = 320, 180
TONE = ["-f", "lavfi", "-i", "sine=frequency=500:sample_rate=48000"]
HDR_X265 = ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1"]
LOSSLESS_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"]


@dataclass(frozen=True)
class Source:
    size: str
    pix_fmt: str
    # geq expressions of the left and right patches, per plane (Y, Cb, Cr), in the pixel format's own codes.
    left: tuple[int, int, int]
    right: tuple[int, int, int]
    # setparams tags of the frames and the matching encoder tags; none for an untagged source.
    tags: dict[str, str]
    codec: list[str]
    suffix: str = ".mp4"
    sar: str = "1"


def _patches(left: tuple[int, int, int], right: tuple[int, int, int]) -> str:
    planes = ("lum", "cb", "cr")
    return ":".join(f"{p}='if(lt(X,W/2),{a},{b})'" for p, a, b in zip(planes, left, right, strict=True))


def make_source(path: Path, s: Source) -> Path:
    frames = f"nullsrc=s={s.size}:r=25:d=1,format={s.pix_fmt},geq={_patches(s.left, s.right)},setsar={s.sar}"
    if s.tags:
        frames += ",setparams=" + ":".join(f"{k}={v}" for k, v in s.tags.items())
    encoder_tags = {"color_primaries": "-color_primaries", "color_trc": "-color_trc", "colorspace": "-colorspace"}
    tag_args = [x for k, v in s.tags.items() if k in encoder_tags for x in (encoder_tags[k], v)]
    if "range" in s.tags:
        tag_args += ["-color_range", s.tags["range"]]
    argv = [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", frames, *TONE, "-t", "1", "-pix_fmt", s.pix_fmt]
    subprocess.run([*argv, *s.codec, *tag_args, "-c:a", "aac", str(path)], check=True)
    return path


def _hdr_tags(transfer: str) -> dict[str, str]:
    return {"color_primaries": "bt2020", "color_trc": transfer, "colorspace": "bt2020nc", "range": "tv"}


def _ten_bit(share: float) -> int:
    """A 10-bit limited-range luma code for a signal share (0 black, 1 nominal white)."""
    return round(64 + 876 * share)


GREY_10 = (512, 512)
SOURCES = {
    # BT.2408's 18 % grey card and HDR reference white: HLG 38 % and 75 %, PQ 38 % and 58 %.
    "hlg": Source(
        f"{W}x{H}", "yuv420p10le", (_ten_bit(0.38), *GREY_10), (_ten_bit(0.75), *GREY_10),
        _hdr_tags("arib-std-b67"), HDR_X265,
    ),
    "pq": Source(
        f"{W}x{H}", "yuv420p10le", (_ten_bit(0.38), *GREY_10), (_ten_bit(0.58), *GREY_10),
        _hdr_tags("smpte2084"), HDR_X265,
    ),
    # A camera's MJPEG: full range (yuvj420p), JPEG's BT.601 matrix, no other tag. Mid grey and full white.
    "mjpeg": Source(f"{W}x{H}", "yuvj420p", (128, 128, 128), (255, 128, 128), {}, ["-c:v", "mjpeg", "-q:v", "2"],
                    ".avi"),
    # PAL camcorder footage: 720x576 anamorphic 16:9, BT.601 (EBU) tagged. Grey, and a green of R'G'B' (.25,.75,.25).
    "pal": Source(
        "720x576", "yuv420p", (126, 128, 128), (135, 91, 81),
        {"color_primaries": "bt470bg", "color_trc": "smpte170m", "colorspace": "bt470bg", "range": "tv"},
        LOSSLESS_X264, sar="64/45",
    ),
    # HD with no colour tag at all, as many screen recorders and editors write it.
    "untagged": Source("1280x720", "yuv420p", (126, 128, 128), (200, 128, 128), {}, LOSSLESS_X264),
}  # fmt: skip


def decoded_patches(path: Path, pix_fmt: str, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean (Y, Cb, Cr) codes of the centre of the left and right halves of a file's first frame, as decoded."""
    raw = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    dtype = np.uint16 if "10" in pix_fmt else np.uint8
    data = np.frombuffer(raw, dtype)
    y = data[: width * height].reshape(height, width).astype(float)
    cw, ch = width // 2, height // 2
    cb = data[width * height : width * height + cw * ch].reshape(ch, cw).astype(float)
    cr = data[width * height + cw * ch : width * height + 2 * cw * ch].reshape(ch, cw).astype(float)

    def at(fx: float) -> np.ndarray:
        x, cy, r = int(width * fx), height // 2, max(2, height // 20)
        return np.array(
            [
                y[cy - r : cy + r, x - r : x + r].mean(),
                cb[cy // 2 - r // 2 : cy // 2 + r // 2, x // 2 - r // 2 : x // 2 + r // 2].mean(),
                cr[cy // 2 - r // 2 : cy // 2 + r // 2, x // 2 - r // 2 : x // 2 + r // 2].mean(),
            ]
        )

    return at(0.25), at(0.75)


@dataclass(frozen=True)
class Done:
    source: Path
    # Each cut by its profile, and the stills by their kind ("thumbnail", "cover").
    found: dict[str, Path] | PermanentError

    @property
    def cuts(self) -> dict[str, Path]:
        if isinstance(self.found, PermanentError):
            pytest.fail(f"the transcode of {self.source.name} failed: {self.found}")
        return self.found


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Done]:
    """Every source, transcoded once for the module: the full-range one to TikTok and YouTube, the rest to YouTube."""
    root = tmp_path_factory.mktemp("colour")
    storage = LocalStorage(root / "storage")
    result = {}
    for name, spec in SOURCES.items():
        source = make_source(root / f"{name}{spec.suffix}", spec)
        profiles = ("tiktok", "youtube") if name == "mjpeg" else ("youtube",)
        try:
            ready = asyncio.run(transcode(upload(storage, source), ctx=context(storage, root / "work", *profiles)))
        except PermanentError as exc:  # kept for the test of this source to report
            result[name] = Done(source, exc)
            continue
        files = {}
        for kind, key in [(r.profile, r.key) for r in ready.renditions] + [(i.kind, i.key) for i in ready.images]:
            path = storage.local_path(key)
            assert path is not None
            files[kind] = path
        result[name] = Done(source, files)
    return result


def _youtube(done: Done) -> tuple[np.ndarray, np.ndarray]:
    return decoded_patches(done.cuts["youtube"], "yuv420p", 1920, 1080)


def _limited(v: float) -> float:
    """An 8-bit limited-range luma code for a signal value in [0, 1]."""
    return 16 + 219 * v


def _bt1886_inverse(relative: float) -> float:
    """SDR signal for display light relative to white (BT.1886's gamma 2.4 with a zero black level)."""
    return float(min(max(relative, 0.0), 1.0) ** (1 / 2.4))


def _hlg_nits(signal: float) -> float:
    """BT.2100 HLG: signal → scene light (inverse OETF) → display light on a 1000 cd/m² display (system gamma 1.2)."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    scene = signal**2 / 3 if signal <= 0.5 else (math.exp((signal - c) / a) + b) / 12
    return 1000.0 * scene**1.2  # for grey, the OOTF is Y^1.2


def _pq_nits(signal: float) -> float:
    """BT.2100 PQ EOTF (SMPTE ST 2084)."""
    m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 4096 * 128, 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    p = signal ** (1 / m2)
    return float(10000.0 * (max(p - c1, 0.0) / (c2 - c3 * p)) ** (1 / m1))


def _tone(relative: float) -> float:
    """The tone curve chosen: linear up to the knee (in units of HDR reference white), then Möbius up to the peak."""
    j, peak = TONEMAP_KNEE, PEAK_NITS / REFERENCE_WHITE_NITS
    if relative <= j:
        return relative
    a = -j * j * (peak - 1) / (j * j - 2 * j + peak)
    b = (j * j - 2 * j * peak + peak) / (peak - 1)
    return (b * b + 2 * b * j + j * j) / (b - a) * (relative + a) / (relative + b)


def _expected_hdr(code10: float, nits: Callable[[float], float]) -> float:
    return _limited(_bt1886_inverse(_tone(nits((code10 - 64) / 876) / REFERENCE_WHITE_NITS)))


@pytest.mark.parametrize(("name", "nits"), [("hlg", _hlg_nits), ("pq", _pq_nits)])
def test_hdr_phone_footage_is_tone_mapped_to_sdr(
    done: dict[str, Done], name: str, nits: Callable[[float], float]
) -> None:
    src_grey, src_white = decoded_patches(done[name].source, "yuv420p10le", W, H)
    grey, white = _youtube(done[name])
    # 18 % grey (26 cd/m²) is below the knee: shown as SDR shows 26/203 of white, Y ≈ 109 (untreated: 99).
    assert grey[0] == pytest.approx(_expected_hdr(src_grey[0], nits), abs=2.0)
    # Reference white rolls off just under SDR white, Y ≈ 221 (untreated: 180 for HLG, 143 for PQ).
    assert white[0] == pytest.approx(_expected_hdr(src_white[0], nits), abs=3.0)
    assert abs(grey[1:] - 128).max() < 2 and abs(white[1:] - 128).max() < 2  # grey stays grey
    video = video_stream(done[name].cuts["youtube"])
    assert video["pix_fmt"] == "yuv420p"
    assert (video["color_primaries"], video["color_transfer"], video["color_space"]) == ("bt709",) * 3


def test_full_range_camera_footage_is_converted_to_limited_range(done: dict[str, Done]) -> None:
    src_grey, _ = decoded_patches(done["mjpeg"].source, "yuvj420p", W, H)
    # Every cut was made and passed its conformance check (it failed with "pixel format yuvj420p" before).
    assert {"tiktok", "youtube"} <= set(done["mjpeg"].cuts)
    grey, white = _youtube(done["mjpeg"])
    assert grey[0] == pytest.approx(16 + src_grey[0] * 219 / 255, abs=1.5)  # ≈ 128 → 126
    assert white[0] == pytest.approx(235, abs=1.5)  # full white is limited-range white, not 255
    # On the vertical cut the 16:9 picture sits in the middle, fitted on a blur.
    tiktok_grey, tiktok_white = decoded_patches(done["mjpeg"].cuts["tiktok"], "yuv420p", 1080, 1920)
    assert tiktok_grey[0] == pytest.approx(grey[0], abs=1.5) and tiktok_white[0] == pytest.approx(235, abs=1.5)
    for cut in (done["mjpeg"].cuts[p] for p in ("tiktok", "youtube")):
        video = video_stream(cut)
        assert (video["pix_fmt"], video["color_range"], video["color_space"]) == ("yuv420p", "tv", "bt709")


# BT.601 → BT.709 by the book: decode with the BT.601 matrix, to linear light (BT.1886), EBU → BT.709 primaries
# through CIE XYZ (both D65), back to signal, encode with the BT.709 matrix.
D65 = (0.3127, 0.3290)
EBU = ((0.64, 0.33), (0.29, 0.60), (0.15, 0.06))
BT709_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))


def _rgb_to_xyz(primaries: tuple[tuple[float, float], ...]) -> np.ndarray:
    xyz = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    white = np.array([D65[0] / D65[1], 1.0, (1 - D65[0] - D65[1]) / D65[1]])
    return xyz * np.linalg.solve(xyz, white)


def _ycbcr_to_rgb(ycc: np.ndarray, kr: float, kb: float) -> np.ndarray:
    y, cb, cr = (ycc[0] - 16) / 219, (ycc[1] - 128) / 224, (ycc[2] - 128) / 224
    r, b = y + 2 * (1 - kr) * cr, y + 2 * (1 - kb) * cb
    return np.array([r, (y - kr * r - kb * b) / (1 - kr - kb), b])


def _rgb_to_ycbcr(rgb: np.ndarray, kr: float, kb: float) -> np.ndarray:
    y = kr * rgb[0] + (1 - kr - kb) * rgb[1] + kb * rgb[2]
    return np.array(
        [16 + 219 * y, 128 + 224 * (rgb[2] - y) / (2 * (1 - kb)), 128 + 224 * (rgb[0] - y) / (2 * (1 - kr))]
    )


def _expected_601_to_709(ycc: np.ndarray) -> np.ndarray:
    linear = np.clip(_ycbcr_to_rgb(ycc, 0.299, 0.114), 0, 1) ** 2.4
    converted = np.linalg.solve(_rgb_to_xyz(BT709_PRIMARIES), _rgb_to_xyz(EBU) @ linear)
    return _rgb_to_ycbcr(np.clip(converted, 0, 1) ** (1 / 2.4), 0.2126, 0.0722)


def test_sd_bt601_footage_is_converted_to_bt709_when_scaled_to_hd(done: dict[str, Done]) -> None:
    src_grey, src_green = decoded_patches(done["pal"].source, "yuv420p", 720, 576)
    grey, green = _youtube(done["pal"])
    assert grey == pytest.approx(src_grey, abs=1.5)  # grey is the same in every matrix
    expected = _expected_601_to_709(src_green)
    # The green keeps its colour (Y 135 → 148 in BT.709 codes); left in BT.601 codes it would be off by 13.
    assert abs(_expected_601_to_709(src_green) - src_green).max() > 10
    assert green == pytest.approx(expected, abs=2.5)
    video = video_stream(done["pal"].cuts["youtube"])
    assert (video["color_primaries"], video["color_transfer"], video["color_space"]) == ("bt709",) * 3


def test_an_untagged_source_gives_explicitly_tagged_cuts(done: dict[str, Done]) -> None:
    source = video_stream(done["untagged"].source)
    assert all(source.get(k, "unknown") == "unknown" for k in ("color_primaries", "color_transfer", "color_space"))
    grey, light = _youtube(done["untagged"])
    assert grey[0] == pytest.approx(126, abs=1.5) and light[0] == pytest.approx(200, abs=1.5)
    video = video_stream(done["untagged"].cuts["youtube"])
    tags = ("color_range", "color_primaries", "color_transfer", "color_space")
    assert tuple(video.get(k) for k in tags) == ("tv", "bt709", "bt709", "bt709")


def _jpeg_colour(ycc709: np.ndarray) -> np.ndarray:
    """What a JPEG still holds for a BT.709 limited-range colour: JFIF's full range and BT.601 matrix."""
    rgb = np.clip(_ycbcr_to_rgb(ycc709, 0.2126, 0.0722), 0, 1)
    y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return np.array([255 * y, 128 + 255 * (rgb[2] - y) / 1.772, 128 + 255 * (rgb[0] - y) / 1.402])


def test_stills_are_converted_too_and_hold_jpeg_colour(done: dict[str, Done]) -> None:
    # The thumbnail of HDR footage is tone-mapped like its cuts: the grey patch is Y 109 of 16-235, 108 of 0-255.
    hlg_grey, _ = decoded_patches(done["hlg"].cuts["thumbnail"], "yuvj420p", 1280, 720)
    cut_grey, _ = _youtube(done["hlg"])
    assert hlg_grey[0] == pytest.approx(_jpeg_colour(cut_grey)[0], abs=2.0)
    # The BT.601 source's green, converted to BT.709 for the cut and to JPEG's BT.601 for the still: the same
    # colour, in JPEG's codes (only relabelled, its Y would read 151 instead of 133).
    _, still_green = decoded_patches(done["pal"].cuts["thumbnail"], "yuvj420p", 1280, 720)
    _, cut_green = _youtube(done["pal"])
    assert still_green == pytest.approx(_jpeg_colour(cut_green), abs=3.0)
