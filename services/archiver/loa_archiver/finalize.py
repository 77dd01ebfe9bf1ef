"""End of stream: assemble the stored segments losslessly into one MP4, and plan the highlight ranges.

Pure argument builders plus one small ffmpeg step; the orchestration (state, announce) is in finalizer.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loa_core.media import run_ffmpeg


def concat_list(paths: list[Path], durations: list[float | None] | None = None) -> str:
    """The concat demuxer's script. Paths are ours (a temp folder), quoted anyway as the demuxer documents.

    A duration is given for fragmented-MP4 segments (HLS with EXT-X-MAP): ffmpeg reports such a file's end
    time as its duration, which would push every following segment later by the time before it.
    """
    lines = []
    for i, path in enumerate(paths):
        lines.append("file '" + str(path).replace("'", "'\\''") + "'\n")
        duration = durations[i] if durations else None
        if duration is not None:
            lines.append(f"duration {duration:.6f}\n")
    return "".join(lines)


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


async def assemble(segment_paths: list[Path], work: Path, durations: list[float | None] | None = None) -> Path:
    list_path = work / "concat.txt"
    list_path.write_text(concat_list(segment_paths, durations), encoding="utf-8")
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
