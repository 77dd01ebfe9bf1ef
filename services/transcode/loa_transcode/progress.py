"""Turn ffmpeg's `-progress` blocks into percent, fps and ETA (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    percent: float
    fps: float | None
    eta_s: float | None
    done: bool


def _float(value: str | None) -> float | None:
    try:
        return float((value or "").rstrip("x"))
    except ValueError:
        return None  # "N/A" while ffmpeg has no figure yet


def parse_progress(block: dict[str, str], total_s: float) -> Progress:
    """`total_s` is the longest cut; ffmpeg's out_time is the furthest point written so far."""
    out_us = _float(block.get("out_time_us")) or _float(block.get("out_time_ms"))
    done_s = max(0.0, (out_us or 0.0) / 1e6)
    finished = block.get("progress") == "end"
    percent = 100.0 if finished else min(99.9, 100.0 * done_s / total_s) if total_s > 0 else 0.0
    speed = _float(block.get("speed"))
    eta = None
    if finished:
        eta = 0.0
    elif speed and speed > 0:
        # speed is media seconds per wall second, so what is left divides by it.
        eta = max(0.0, (total_s - done_s) / speed)
    fps = _float(block.get("fps"))
    return Progress(percent=round(percent, 1), fps=fps, eta_s=None if eta is None else round(eta, 1), done=finished)
