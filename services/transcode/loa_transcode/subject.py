"""Subject-aware vertical framing, AutoFlip-style: follow the faces and people with a smoothed crop path.

1. Analysis: ffmpeg decodes the footage at a few frames per second, downscaled and grey, into a FIFO;
   this process reads it frame by frame (bounded memory, however long the footage).
2. Shot boundaries: a large change of the picture between two samples.
3. Detection: OpenCV's Haar cascades (frontal and profile faces; upper bodies where no face is found).
4. Path (pure, `plan_crop`): per sample the centre of the subjects; within each shot, gaps filled and the
   path smoothed (held still when the subject barely moves, a moving average otherwise); never smoothed
   across a cut. A shot whose subjects do not fit in the crop (people far apart), or where nobody is found,
   shows the whole frame fitted on a blurred background instead; when that is every shot, the plan is None.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loa_core.media import run_ffmpeg
from loa_transcode.graph import CropPath, Trim, trim_input_args
from loa_transcode.source import SourceInfo

# Detection runs on frames this wide: faces of a person filmed at a ceremony stay above the cascade's
# 24-pixel minimum, and a frame costs a few milliseconds.
ANALYSIS_WIDTH = 480
SAMPLES_PER_S = 4.0
# At most this many samples, however long the footage (a 2-hour livestream is sampled less densely).
MAX_SAMPLES = 4000
# Mean absolute grey-level change between consecutive samples above which a new shot starts.
SHOT_CHANGE = 30.0
# A shot whose subject moves less than this share of the crop width keeps one still crop.
STILL_SHARE = 0.15
# Moving-average window over the samples of a shot, in seconds.
SMOOTH_S = 1.0
# A shot falls back to the blurred fit when the subjects do not fit in this share of its samples...
MISFIT_SHARE = 0.2
# ...or when subjects are found in fewer than this share of its samples.
MIN_FOUND_SHARE = 0.3


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Sample:
    t: float
    boxes: tuple[Box, ...]
    # First sample of a new shot.
    cut: bool = False


def sample_rate(duration_s: float) -> float:
    return min(SAMPLES_PER_S, MAX_SAMPLES / max(duration_s, 1e-3))


def analysis_size(info: SourceInfo) -> tuple[int, int]:
    height = max(2, round(ANALYSIS_WIDTH * info.height / info.width / 2) * 2)
    return ANALYSIS_WIDTH, height


def analysis_args(source: Path, info: SourceInfo, trim: Trim, out: Path) -> list[str]:
    """Small grey frames at a few per second, as raw bytes into `out` (pure)."""
    width, height = analysis_size(info)
    steps = []
    if info.interlaced:
        steps.append("bwdif=mode=send_frame:parity=auto:deint=interlaced")
    steps += [f"fps={sample_rate(info.duration_s):.4f}", f"scale={width}:{height}", "format=gray"]
    return [
        *trim_input_args(trim),
        "-i",
        f"file:{source}",
        "-an",
        "-vf",
        ",".join(steps),
        "-f",
        "rawvideo",
        f"file:{out}",
    ]


def plan_crop(
    samples: Sequence[Sample], *, frame_w: int, frame_h: int, crop_w: int, scale: float = 1.0
) -> CropPath | None:
    """A smoothed crop path in frame pixels (boxes are in analysis pixels: frame = analysis * scale); pure.

    Decided shot by shot: a shot whose subjects do not fit the crop, or where nobody is found, falls back to the
    blurred fit (`CropPath.fallback`). None when every shot falls back: the whole footage is then simply fitted.
    """
    if not samples or crop_w >= frame_w:
        return None
    centres: list[float | None] = []
    misfit: list[bool] = []
    for s in samples:
        if not s.boxes:
            centres.append(None)
            misfit.append(False)
            continue
        left = min(b.x for b in s.boxes) * scale
        right = max(b.x + b.w for b in s.boxes) * scale
        misfit.append(right - left > crop_w)
        # Weighted by area: the main speaker matters more than a face far in the back.
        weights = [b.w * b.h for b in s.boxes]
        centres.append(sum((b.x + b.w / 2) * scale * wt for b, wt in zip(s.boxes, weights, strict=True)) / sum(weights))

    # Shots: [start, end) index ranges.
    starts = [0] + [i for i, s in enumerate(samples) if s.cut and i > 0]
    bounds = list(zip(starts, [*starts[1:], len(samples)], strict=True))
    interval = (samples[-1].t - samples[0].t) / max(1, len(samples) - 1) if len(samples) > 1 else 1.0
    window = max(1, round(SMOOTH_S / max(interval, 1e-3)))
    path: list[float] = []
    fallback: list[tuple[float, float]] = []
    for number, (start, end) in enumerate(bounds):
        shot = centres[start:end]
        found = sum(c is not None for c in shot)
        if found < MIN_FOUND_SHARE * len(shot) or sum(misfit[start:end]) > MISFIT_SHARE * found:
            # From this shot's first sample (the start of the footage for the first shot) to the next shot's
            # first sample; the last shot's span runs past the end (samples reach within one interval of it).
            span_start = 0.0 if number == 0 else samples[start].t
            span_end = samples[end].t if end < len(samples) else samples[-1].t + 2 * interval
            if fallback and fallback[-1][1] == span_start:
                span_start = fallback.pop()[0]
            fallback.append((round(span_start, 3), round(span_end, 3)))
        filled = _fill(shot, frame_w / 2)
        if max(filled) - min(filled) <= STILL_SHARE * crop_w:
            filled = [float(np.mean(filled))] * len(filled)
        else:
            filled = _moving_average(filled, window)
        path += filled
    if len(fallback) == 1 and fallback[0][0] == 0.0 and fallback[0][1] >= samples[-1].t:
        return None
    limit = frame_w - crop_w
    keyframes: list[tuple[float, float]] = []
    for i, (s, centre) in enumerate(zip(samples, path, strict=True)):
        x = float(min(max(centre - crop_w / 2, 0.0), limit))
        if s.cut and keyframes:
            # Hold the previous shot's position up to the cut, then jump: a cut stays a cut.
            keyframes.append((max(s.t - 1e-3, keyframes[-1][0]), keyframes[-1][1]))
        if i == 0 or s.cut or i == len(samples) - 1 or abs(x - keyframes[-1][1]) >= 1.0:
            keyframes.append((s.t, round(x, 1)))
    return CropPath(width=crop_w, height=frame_h, keyframes=tuple(keyframes), fallback=tuple(fallback))


def _fill(values: list[float | None], default: float) -> list[float]:
    """Gaps in a shot filled by linear interpolation, held at the ends; a shot with nobody stays centred."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return [default] * len(values)
    xs, ys = zip(*known, strict=True)
    return [float(v) for v in np.interp(range(len(values)), xs, ys)]


def _moving_average(values: list[float], window: int) -> list[float]:
    if window <= 1 or len(values) <= 2:
        return values
    padded = np.pad(np.asarray(values), (window // 2, window - 1 - window // 2), mode="edge")
    return [float(v) for v in np.convolve(padded, np.ones(window) / window, mode="valid")]


class Detector:
    """OpenCV's bundled Haar cascades (opencv-python-headless 4.x ships them; 5.x does not)."""

    def __init__(self) -> None:
        import cv2

        base = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
        self._cv2 = cv2
        self._faces = [
            # alt2 rather than default: as sensitive on the test portraits, without default's false faces.
            cv2.CascadeClassifier(str(base / "haarcascade_frontalface_alt2.xml")),
            cv2.CascadeClassifier(str(base / "haarcascade_profileface.xml")),
        ]
        self._bodies = cv2.CascadeClassifier(str(base / "haarcascade_upperbody.xml"))

    def detect(self, frame: np.ndarray) -> tuple[Box, ...]:
        # No histogram equalization: on real portraits it made the frontal cascade both miss the face
        # and find faces in a helmet's highlights.
        found: list[Box] = []
        for cascade in self._faces:
            faces = cascade.detectMultiScale(frame, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
            found += [Box(float(x), float(y), float(w), float(h)) for x, y, w, h in faces]
        if not found:
            bodies = self._bodies.detectMultiScale(frame, scaleFactor=1.1, minNeighbors=4, minSize=(48, 48))
            found += [Box(float(x), float(y), float(w), float(h)) for x, y, w, h in bodies]
        return _merge(found)


def _merge(boxes: list[Box]) -> tuple[Box, ...]:
    """Drop a box mostly inside another (the frontal and profile cascades often find the same face)."""
    kept: list[Box] = []
    for b in sorted(boxes, key=lambda b: -b.w * b.h):
        inside = any(
            max(0.0, min(b.x + b.w, k.x + k.w) - max(b.x, k.x)) * max(0.0, min(b.y + b.h, k.y + k.h) - max(b.y, k.y))
            > 0.5 * b.w * b.h
            for k in kept
        )
        if not inside:
            kept.append(b)
    return tuple(kept)


def shot_change(previous: np.ndarray | None, frame: np.ndarray) -> bool:
    if previous is None:
        return False
    return float(np.abs(frame.astype(np.int16) - previous.astype(np.int16)).mean()) > SHOT_CHANGE


def _read_samples(fifo: Path, width: int, height: int, rate: float, detector: Detector) -> list[Sample]:
    size = width * height
    samples: list[Sample] = []
    previous: np.ndarray | None = None
    with fifo.open("rb") as stream:
        index = 0
        while True:
            raw = stream.read(size)
            if len(raw) < size:
                break
            frame = np.frombuffer(raw, np.uint8).reshape(height, width)
            samples.append(Sample(index / rate, detector.detect(frame), cut=shot_change(previous, frame)))
            previous = frame
            index += 1
    return samples


async def analyse(source: Path, info: SourceInfo, trim: Trim, workdir: Path, crop_w: int) -> CropPath | None:
    """Run the analysis pass and plan the crop path for a vertical crop `crop_w` frame pixels wide."""
    width, height = analysis_size(info)
    fifo = workdir / "analysis.fifo"
    with contextlib.suppress(FileNotFoundError):
        fifo.unlink()
    os.mkfifo(fifo)
    detector = Detector()
    result: list[Sample] = []
    failure: list[BaseException] = []

    def reader() -> None:
        try:
            result.extend(_read_samples(fifo, width, height, sample_rate(info.duration_s), detector))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task below
            failure.append(exc)

    thread = threading.Thread(target=reader, name="subject-analysis", daemon=True)
    thread.start()
    try:
        await run_ffmpeg(analysis_args(source, info, trim, fifo))
    finally:
        # If ffmpeg failed before opening its output, the reader still waits in open() (or is about to):
        # opening the write end ourselves lets it see the end of the stream.
        while thread.is_alive():
            _unblock(fifo)
            await asyncio.sleep(0.05)
    if failure:
        raise failure[0]
    return plan_crop(result, frame_w=info.width, frame_h=info.height, crop_w=crop_w, scale=info.width / width)


def _unblock(fifo: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
