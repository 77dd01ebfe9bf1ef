"""SRT subtitles: checked as ingest receives them, parsed, shifted to the trimmed timeline and written back (pure).

Ingest refuses a file `check_srt` rejects, so transcode's tolerant `parse_srt` only ever reads checked files."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TIME = re.compile(r"(\d+):(\d{2}):(\d{2})[,.](\d{1,3})")
_TIMING = re.compile(r"^\s*(\d+:\d{2}:\d{2}[,.]\d{1,3})\s*-->\s*(\d+:\d{2}:\d{2}[,.]\d{1,3})(\s+.*)?$")
MAX_SRT_BYTES = 2 * 1024 * 1024


class InvalidSubtitles(ValueError):
    """An SRT file Loa will not burn in; the message (English / Vietnamese) says where and why."""


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


def check_srt(data: bytes) -> list[Cue]:
    """The cues of an SRT file as uploaded, or InvalidSubtitles naming the first problem (and its line).

    Strict where `parse_srt` is tolerant: UTF-8 (a BOM allowed), every block a timing line `00:00:01,000 -->
    00:00:02,500` (optionally after its number) followed by text, minutes and seconds below 60, the end after the
    start, at least one cue. Vietnamese text is kept as written (NFC is not forced: it is burnt in as is).
    """
    if len(data) > MAX_SRT_BYTES:
        raise InvalidSubtitles(
            f"The subtitle file is larger than {MAX_SRT_BYTES // 1024 // 1024} MB. / Tệp phụ đề quá lớn."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidSubtitles(
            f"The subtitle file is not UTF-8 text (byte {exc.start}); save it as UTF-8. "
            f"/ Tệp phụ đề không phải UTF-8 (byte {exc.start}); hãy lưu lại dưới dạng UTF-8."
        ) from exc
    if "\x00" in text:
        raise InvalidSubtitles("The subtitle file is not a text file. / Tệp phụ đề không phải tệp văn bản.")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cues: list[Cue] = []
    n = 0
    while n < len(lines):
        if not lines[n].strip():
            n += 1
            continue
        start_line = n
        if lines[n].strip().isdigit() and n + 1 < len(lines):
            n += 1
        timing = _TIMING.match(lines[n])
        if timing is None:
            raise InvalidSubtitles(
                f"Line {n + 1}: expected a timing like 00:00:01,000 --> 00:00:02,500, found {lines[n][:60]!r}. "
                f"/ Dòng {n + 1}: cần mốc thời gian dạng 00:00:01,000 --> 00:00:02,500."
            )
        start, end = (_TIME.fullmatch(group) for group in timing.group(1, 2))
        assert start is not None and end is not None
        if any(int(m.group(2)) > 59 or int(m.group(3)) > 59 for m in (start, end)):
            raise InvalidSubtitles(
                f"Line {n + 1}: minutes and seconds go up to 59. / Dòng {n + 1}: phút và giây tối đa là 59."
            )
        start_s, end_s = _seconds(start), _seconds(end)
        if end_s <= start_s:
            raise InvalidSubtitles(
                f"Line {n + 1}: the cue ends before it starts. / Dòng {n + 1}: thời điểm kết thúc trước khi bắt đầu."
            )
        body = []
        n += 1
        while n < len(lines) and lines[n].strip():
            body.append(lines[n].rstrip())
            n += 1
        if not body:
            raise InvalidSubtitles(
                f"Line {start_line + 1}: the cue has no text. / Dòng {start_line + 1}: đoạn phụ đề không có chữ."
            )
        cues.append(Cue(start_s, end_s, "\n".join(body)))
    if not cues:
        raise InvalidSubtitles("The subtitle file has no cue. / Tệp phụ đề không có đoạn nào.")
    return cues
