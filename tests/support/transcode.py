"""Helpers for the transcode tests: an upload event for a file, a job context, measurements by ffmpeg itself."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

from loa_core.channels import Channel
from loa_core.contracts import FootageMetadata, FootageUploaded, SourceMedia, new_id
from loa_core.storage import Storage
from loa_transcode.graph import EncodeOptions
from loa_transcode.pipeline import JobContext
from tests.support.media import ffprobe

# superfast, not ultrafast: ultrafast cannot make the H.264 High profile the conformance check demands.
TEST_OPTIONS = EncodeOptions(preset="superfast", crf=30, threads=2)


def channels(*profiles: str) -> dict[str, Channel]:
    return {"ward": Channel(name="ward", platform="local", profiles=profiles or ("tiktok", "youtube"))}


def context(storage: Storage, work: Path, *profiles: str) -> JobContext:
    return JobContext(storage=storage, channels=channels(*profiles), options=TEST_OPTIONS, workdir_root=work)


def upload(storage: Storage, path: Path, **metadata: Any) -> FootageUploaded:
    """Put `path` in storage and describe it as ingest would (ffprobe's width, height, duration, audio)."""
    footage_id = new_id()
    key = f"raw/{footage_id}/source{path.suffix}"
    storage.put_file(key, path)
    info = ffprobe(path)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    return FootageUploaded(
        footage_id=footage_id,
        metadata=FootageMetadata(title="Hội thi văn nghệ", channels=("ward",), **metadata),
        media=SourceMedia(
            key=key,
            size_bytes=path.stat().st_size,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            duration_s=float(info["format"].get("duration") or 1.0),
            width=int(video["width"]),
            height=int(video["height"]),
            has_audio=any(s["codec_type"] == "audio" for s in info["streams"]),
        ),
    )


def ebur128(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) of a file, read from ffmpeg's own ebur128 summary."""
    err = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    summary = err[err.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))  # type: ignore[union-attr]
    return integrated, peak


def video_stream(path: Path) -> dict[str, Any]:
    return next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")


def audio_stream(path: Path) -> dict[str, Any] | None:
    return next((s for s in ffprobe(path)["streams"] if s["codec_type"] == "audio"), None)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)
