"""SRT subtitles: parsed, shifted to the trimmed timeline and written back (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TIME = re.compile(r"(\d+):(\d{2}):(\d{2})[,.](\d{1,3})")


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


def _seconds(match: re.Match[str]) -> float:
    h, m, s, ms = match.groups()
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def _stamp(seconds: float) -> str:
    total_ms = round(seconds * 1000)
    h, rest = divmod(total_ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def parse_srt(text: str) -> list[Cue]:
    """Cues of an SRT file; tolerant of a BOM, CRLF line ends and missing sequence numbers."""
    cues = []
    for block in re.split(r"\n\s*\n", text.lstrip("\ufeff").replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        for i, line in enumerate(lines):
            if "-->" in line:
                times = list(_TIME.finditer(line))
                if len(times) == 2:
                    body = "\n".join(lines[i + 1 :]).strip()
                    if body:
                        cues.append(Cue(_seconds(times[0]), _seconds(times[1]), body))
                break
    return cues


def shift(cues: list[Cue], start_s: float, end_s: float | None) -> list[Cue]:
    """Cues on the timeline of the cut [start_s, end_s): moved earlier, clipped, the ones outside dropped."""
    shifted = []
    for cue in cues:
        lo, hi = cue.start_s - start_s, cue.end_s - start_s
        limit = None if end_s is None else end_s - start_s
        if hi <= 0 or (limit is not None and lo >= limit):
            continue
        shifted.append(Cue(max(0.0, lo), hi if limit is None else min(hi, limit), cue.text))
    return shifted


def to_srt(cues: list[Cue]) -> str:
    return "".join(f"{i}\n{_stamp(c.start_s)} --> {_stamp(c.end_s)}\n{c.text}\n\n" for i, c in enumerate(cues, start=1))
