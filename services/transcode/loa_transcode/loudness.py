"""Read loudnorm's measurement from ffmpeg's stderr (pure)."""

from __future__ import annotations

import json
import math

from loa_transcode.graph import Loudness


def parse_loudnorm(stderr: str) -> Loudness | None:
    """The last JSON block loudnorm printed; None when the audio is silent (its loudness is -inf)."""
    end = stderr.rfind("}")
    start = stderr.rfind("{", 0, end)
    if start < 0 or end < 0:
        raise ValueError("loudnorm printed no measurement")
    raw = json.loads(stderr[start : end + 1])
    values = {k: float(raw[k]) for k in ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")}
    if not all(math.isfinite(v) for v in values.values()):
        # Digital silence (or too short to gate): nothing to normalize, and no gain would make it louder.
        return None
    return Loudness(**values)
