"""End of stream: assemble the stored segments losslessly into one MP4, and plan the highlight ranges.

Pure argument builders plus one small ffmpeg step; the orchestration (state, announce) is in finalizer.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loa_core.media import run_ffmpeg
from loa_core.segments import RecordedVideo, concat_script, videos_of


def assemble_args(list_path: Path, out: Path) -> list[str]:
    return [
        "-f",
        "concat",
        # -safe 0: the list holds absolute paths (our own temp folder), which the safe mode refuses.
        "-safe",
        "0",
        "-i",
        str(list_path),
        # Video and audio only: an HLS source may carry timed-metadata streams that MP4 cannot hold.
        "-map",
        "0:v?",
        "-map",
        "0:a?",
        "-c",
        "copy",
        # The index at the front, so platforms and players can start before the whole file arrived.
        "-movflags",
        "+faststart",
        str(out),
    ]


async def assemble(segment_paths: Sequence[Path], recorded: Sequence[RecordedVideo], work: Path) -> Path:
    """The segments joined by stream copy, each one's first frame right after the last frame of the one before
    (loa_core.segments: the same timeline transcode's live chunks are cut from). Each segment's video as `recorded`
    when it was stored; only the segments recorded without it are read here."""
    list_path = work / "concat.txt"
    videos = await videos_of(segment_paths, recorded)
    list_path.write_text(concat_script(segment_paths, videos), encoding="utf-8")
    out = work / "archive.mp4"
    await run_ffmpeg(assemble_args(list_path, out))
    return out


@dataclass(frozen=True)
class HighlightRange:
    start_s: float
    end_s: float


def clamp_range(start_s: float, end_s: float, duration_s: float) -> HighlightRange | None:
    """The part of [start_s, end_s) inside the archive, or None when nothing of it is."""
    start = max(0.0, min(start_s, duration_s))
    end = max(0.0, min(end_s, duration_s))
    return HighlightRange(start, end) if end - start >= 0.5 else None


def highlight_title(title: str, label: str | None, idx: int) -> str:
    suffix = f" — {label}" if label else f" — highlight {idx}"
    return (title[: 200 - len(suffix)] + suffix).strip()
