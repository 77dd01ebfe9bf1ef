"""Small generated media for tests: ffmpeg's testsrc2 and sine, never downloaded footage."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from loa_core.media import FFMPEG


def make_clip(
    path: Path, *, width: int = 640, height: int = 360, duration_s: float = 2.0, fps: int = 30, audio: bool = True
) -> Path:
    argv = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"]
    if audio:
        argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    argv += ["-t", f"{duration_s}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    argv += ["-c:a", "aac"] if audio else []
    subprocess.run([*argv, str(path)], check=True)
    return path


def tagged_copy(base: Path, path: Path, tag: str) -> Path:
    """`base` remuxed with `tag` as its comment: the same picture, another file (its own content hash, so ingest takes
    it for new footage)."""
    remux = ["ffmpeg", "-v", "error", "-y", "-i", str(base), "-c", "copy", "-metadata", f"comment={tag}", str(path)]
    subprocess.run(remux, check=True)
    return path


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def video_md5(path: Path) -> str:
    """The MD5 of a file's video packets as stored (no decode): equal only for the very same stream (an encode would
    change it)."""
    out = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "md5", "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip()
