"""Pick the frame the stills are made from: sharp and not black (pure, on small grey frames)."""

from __future__ import annotations

import numpy as np

# Mean luma (0-255) under which a frame counts as black (fades, lens cap, the first frame of many cameras).
BLACK_LUMA = 24.0
# Standard deviation under which a frame is one flat colour (a title card's background, a blank wall).
FLAT_STD = 8.0


def sharpness(frame: np.ndarray) -> float:
    """Variance of the Laplacian: high for crisp edges, low for motion blur and soft focus."""
    f = frame.astype(np.float32)
    lap = -4 * f[1:-1, 1:-1] + f[:-2, 1:-1] + f[2:, 1:-1] + f[1:-1, :-2] + f[1:-1, 2:]
    return float(lap.var())


def pick_frame(raw: bytes, width: int, height: int) -> int | None:
    """Index of the best frame among the grey `width`x`height` frames in `raw`; None if there are none.

    Frames that are black or flat are passed over; if every frame is, the brightest one is taken, so
    footage that is dark throughout still gets a still.
    """
    frames = _frames(raw, width, height)
    return None if len(frames) == 0 else _best(frames, range(len(frames)))


def pick_frames(raw: bytes, width: int, height: int, count: int) -> list[int]:
    """Up to `count` candidates spread over the footage: the best frame (as `pick_frame` judges) of each of `count`
    equal stretches, in order; fewer when there are fewer frames."""
    frames = _frames(raw, width, height)
    n = len(frames)
    stretches = [range(i * n // count, (i + 1) * n // count) for i in range(count)]
    return [_best(frames, s) for s in stretches if len(s) > 0]


def _frames(raw: bytes, width: int, height: int) -> np.ndarray:
    size = width * height
    count = len(raw) // size
    return np.frombuffer(raw[: count * size], dtype=np.uint8).reshape(count, height, width)


def _best(frames: np.ndarray, indices: range) -> int:
    means = frames.mean(axis=(1, 2))
    stds = frames.std(axis=(1, 2))
    usable = [i for i in indices if means[i] >= BLACK_LUMA and stds[i] >= FLAT_STD]
    if not usable:
        return max(indices, key=lambda i: float(means[i]))
    return max(usable, key=lambda i: sharpness(frames[i]))
