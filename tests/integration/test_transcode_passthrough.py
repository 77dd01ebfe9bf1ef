"""Passthrough on real ffmpeg: a conformant 1080p source's YouTube cut is its own video stream, packet for packet,
with the sound normalized; the TikTok cut of the same job is encoded, and a logo makes the YouTube cut encoded."""

from __future__ import annotations

import subprocess
from pathlib import Path

from loa_core.channels import Channel
from loa_core.media import FFMPEG
from loa_core.storage import LocalStorage
from loa_transcode.pipeline import JobContext, transcode
from tests.support.media import video_md5
from tests.support.transcode import TEST_OPTIONS, ebur128, upload, video_stream

TAG_BT709 = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"


def _conformant_1080p(path: Path) -> Path:
    """2 s of 1080p30 H.264 High, BT.709 tagged, with a quiet tone (so the normalization has work to do)."""
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000,volume=0.05", "-t", "2",
         "-vf", TAG_BT709, "-c:v", "libx264", "-preset", "superfast", "-profile:v", "high", "-pix_fmt", "yuv420p",
         "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip
    return path


def _context(storage: LocalStorage, work: Path, logo_key: str | None = None) -> JobContext:
    channel = Channel(name="ward", platform="local", profiles=("tiktok", "youtube"), logo_key=logo_key)
    return JobContext(storage=storage, channels={"ward": channel}, options=TEST_OPTIONS, workdir_root=work)


async def test_a_conformant_sources_youtube_cut_is_its_own_video_with_normalized_sound(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    source = _conformant_1080p(tmp_path / "source.mp4")
    ready = await transcode(upload(storage, source), ctx=_context(storage, tmp_path / "work"))

    cuts = {r.profile: storage.local_path(r.key) for r in ready.renditions}
    youtube, tiktok = cuts["youtube"], cuts["tiktok"]
    assert youtube is not None and tiktok is not None
    assert video_md5(youtube) == video_md5(source)
    # The sound is not the source's: brought to -14 LUFS like every cut's.
    integrated, peak = ebur128(youtube)
    assert abs(integrated - -14.0) <= 1.0 and peak <= -1.0, (integrated, peak)
    # The vertical cut of the same run is encoded (framed on a blur).
    assert (video_stream(tiktok)["width"], video_stream(tiktok)["height"]) == (1080, 1920)
    assert video_md5(tiktok) != video_md5(source)


async def test_a_logo_makes_the_youtube_cut_of_the_same_source_encoded(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    source = _conformant_1080p(tmp_path / "source.mp4")
    logo = tmp_path / "logo.png"
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "color=red:size=64x64", "-frames:v", "1", str(logo)],
        check=True,
    )
    storage.put_file("branding/logo.png", logo)
    ready = await transcode(
        upload(storage, source), ctx=_context(storage, tmp_path / "work", logo_key="branding/logo.png")
    )
    youtube = next(storage.local_path(r.key) for r in ready.renditions if r.profile == "youtube")
    assert youtube is not None
    assert video_md5(youtube) != video_md5(source)
    assert video_stream(youtube)["profile"] == "High"
