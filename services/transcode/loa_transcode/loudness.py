"""Loudness, pure: loudnorm's measurement read from ffmpeg's stderr and fitted to what its second pass accepts; and
EBU R128 material that adds up (ebur128's 400 ms blocks, gated once over every stretch of a programme)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
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


# --- EBU R128 material that adds up: a stretch's 400 ms blocks, gated once over the whole programme -----------------

# ITU-R BS.1770's gates for the integrated loudness: blocks at or under the absolute gate are silence; of the others,
# those more than 10 LU under their own mean are left out.
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0

# ebur128's frame log (`framelog=info`): a line every 100 ms of sound, whose "M:" is the momentary loudness, that of the
# 400 ms block ending there (printed to 0.1 LU; -120.7 until 400 ms of sound have come, under the absolute gate).
_MOMENTARY = re.compile(
    r"^\[Parsed_ebur128_\d+ @ [^\]]*\] t: *\S+ +TARGET:\S+ LUFS +M: *(-?[0-9.]+|-?inf)", re.MULTILINE
)
_TRUE_PEAK = re.compile(r"True peak:\s*Peak:\s*(-?[0-9.]+|-inf) dBFS")


def momentary_blocks(stderr: str) -> list[float]:
    """The loudness (LUFS) of each 400 ms block, 100 ms apart, from ebur128's frame log in ffmpeg's stderr (pure)."""
    return [float(m[1]) for m in _MOMENTARY.finditer(stderr)]


def summary_true_peak(stderr: str) -> float | None:
    """The true peak (dBTP) in ebur128's summary (`peak=true`); None for digital silence (pure)."""
    found = _TRUE_PEAK.findall(stderr)
    if not found:
        raise ValueError("ebur128 printed no true peak")
    return None if "inf" in found[-1] else float(found[-1])


def _mean_energy(blocks: list[float]) -> float:
    # The mean of the blocks' energies, not of their LUFS figures (the -0.691 of LUFS cancels out: 10^(l/10) is
    # proportional to a block's mean square).
    return sum(10 ** (b / 10) for b in blocks) / len(blocks)


def gated_loudness(blocks: Iterable[float]) -> float | None:
    """The integrated loudness (LUFS) of a programme from its 400 ms blocks' loudness, in any order (pure): EBU R128's
    absolute gate, then the relative gate 10 LU under the mean of the blocks above it. None: silence (no block above
    the absolute gate). Blocks from every stretch of a programme give the whole's loudness, all but the blocks that
    straddle two stretches."""
    audible = [b for b in blocks if b > ABSOLUTE_GATE_LUFS]
    if not audible:
        return None
    threshold = 10 * math.log10(_mean_energy(audible)) + RELATIVE_GATE_LU
    kept = [b for b in audible if b > threshold]
    return 10 * math.log10(_mean_energy(kept))
