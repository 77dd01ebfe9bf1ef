"""loudnorm's measurement: read from ffmpeg's stderr, and fitted to what its second pass accepts (pure)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Loudness:
    """loudnorm's first-pass measurement of an audio track (its input_* figures and target_offset)."""

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    target_offset: float


# The ranges loudnorm accepts for the measured_* and offset options of its second pass (af_loudnorm.c's options
# table; `ffmpeg -h filter=loudnorm` on the pinned FFmpeg 9 prints the same). A value outside makes ffmpeg refuse
# the whole command: a hard-clipped source measures above 0 LUFS (a full-scale square wave: +3.05).
MEASURED_I = (-99.0, 0.0)
MEASURED_TP = (-99.0, 99.0)
MEASURED_LRA = (0.0, 99.0)
MEASURED_THRESH = (-99.0, 0.0)
OFFSET = (-99.0, 99.0)

# The line loudnorm prints before its JSON block: "[Parsed_loudnorm_0 @ 0x7f3310001d80] ".
_HEADER = re.compile(r"^\[Parsed_loudnorm_\d+ @ [^\]]*\][ \t]*$", re.MULTILINE)
_FIELDS = ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")


def parse_loudnorm(stderr: str) -> Loudness | None:
    """The JSON block after loudnorm's own line in ffmpeg's stderr; None when there is nothing to normalize.

    Read by name: other text of the run (a source's metadata, a comment holding JSON) is never taken for it.
    """
    headers = list(_HEADER.finditer(stderr))
    if not headers:
        raise ValueError("loudnorm printed no measurement")
    start = headers[-1].end()
    start += len(stderr[start:]) - len(stderr[start:].lstrip())
    try:
        raw, _ = json.JSONDecoder().raw_decode(stderr, start)
        values = {k: float(raw[k]) for k in _FIELDS}
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"loudnorm's measurement is not the JSON expected: {exc}") from exc
    if not math.isfinite(values["input_i"]):
        # Silence, or sound so faint that no 400 ms block reaches EBU R128's -70 LUFS gate: no loudness to bring
        # to the target, and raising a noise floor by 60 dB or more would only make hiss.
        return None
    return Loudness(**values)


def _within(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return min(max(value, low), high)


def clamped(loudness: Loudness) -> Loudness:
    """The measurement with each figure inside the range loudnorm's second pass accepts (pure).

    Only a figure outside loudnorm's range changes. A source above 0 LUFS is given as 0 LUFS: loudnorm then does
    not trust the figures for one linear gain and normalizes dynamically, which still reaches the target.
    """
    return Loudness(
        input_i=_within(loudness.input_i, MEASURED_I),
        input_tp=_within(loudness.input_tp, MEASURED_TP),
        input_lra=_within(loudness.input_lra, MEASURED_LRA),
        input_thresh=_within(loudness.input_thresh, MEASURED_THRESH),
        target_offset=_within(loudness.target_offset, OFFSET),
    )
