"""The subject-aware crop path planner (pure): smoothing within shots, cuts kept, fallback to the blur."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from loa_transcode.graph import Trim
from loa_transcode.source import SourceInfo
from loa_transcode.subject import Box, Sample, analysis_args, plan_crop, sample_rate, shot_change

FRAME_W, FRAME_H, CROP_W = 1920, 1080, 608


def face(cx: float, size: float = 100) -> Box:
    return Box(cx - size / 2, 400, size, size)


def _x_at(path_keyframes: tuple[tuple[float, float], ...], t: float) -> float:
    ts, xs = zip(*path_keyframes, strict=True)
    return float(np.interp(t, ts, xs))


def test_a_still_subject_gets_one_still_crop() -> None:
    samples = [Sample(i / 4, (face(1400 + (i % 3) * 10),)) for i in range(20)]
    path = plan_crop(samples, frame_w=FRAME_W, frame_h=FRAME_H, crop_w=CROP_W)
    assert path is not None and (path.width, path.height) == (CROP_W, FRAME_H)
    assert len({x for _, x in path.keyframes}) == 1
    assert abs(path.keyframes[0][1] + CROP_W / 2 - 1410) < 5


def test_a_moving_subject_is_followed_smoothly_and_kept_inside() -> None:
    samples = [Sample(i / 4, (face(200 + 80 * i),)) for i in range(20)]  # 200 → 1720 px in 5 s
    path = plan_crop(samples, frame_w=FRAME_W, frame_h=FRAME_H, crop_w=CROP_W)
    assert path is not None
    xs = [x for _, x in path.keyframes]
    assert xs == sorted(xs)  # it follows without jitter
    assert xs[0] >= 0 and xs[-1] <= FRAME_W - CROP_W  # never outside the frame
    for s in samples:
        left = _x_at(path.keyframes, s.t)
        assert (left <= s.boxes[0].x and s.boxes[0].x + s.boxes[0].w <= left + CROP_W) or s.t in (0, 4.75)


def test_a_cut_is_not_smoothed_over() -> None:
    left = [Sample(i / 4, (face(400),)) for i in range(8)]
    right = [Sample((8 + i) / 4, (face(1500),), cut=i == 0) for i in range(8)]
    path = plan_crop(left + right, frame_w=FRAME_W, frame_h=FRAME_H, crop_w=CROP_W)
    assert path is not None
    assert abs(_x_at(path.keyframes, 1.9) - (400 - CROP_W / 2)) < 2
    assert abs(_x_at(path.keyframes, 2.0) - (1500 - CROP_W / 2)) < 2


def test_gaps_are_filled_from_the_neighbours() -> None:
    samples = [Sample(i / 4, (face(1000),) if i % 3 == 0 else ()) for i in range(16)]
    path = plan_crop(samples, frame_w=FRAME_W, frame_h=FRAME_H, crop_w=CROP_W)
    assert path is not None and {round(x) for _, x in path.keyframes} == {1000 - CROP_W // 2}


def test_people_far_apart_fall_back_to_the_blurred_fit() -> None:
    samples = [Sample(i / 4, (face(300), face(1600))) for i in range(12)]
    assert plan_crop(samples, frame_w=FRAME_W, frame_h=FRAME_H, crop_w=CROP_W) is None


def test_only_the_shot_whose_people_do_not_fit_falls_back() -> None:
    speaker = [Sample(i / 4, (face(500),)) for i in range(8)]  # shot 1, 0-2 s: one speaker
    panel = [Sample((8 + i) / 4, (face(300), face(1600)), cut=i == 0) for i in range(8)]  # shot 2: far apart
    close_up = [Sample((16 + i) / 4, (face(1400),), cut=i == 0) for i in range(8)]  # shot 3, 4-6 s
    path = plan_crop(speaker + panel + close_up, frame_w=FRAME_W, frame_h=FRAME_H, crop_w=CROP_W)
    assert path is not None
    assert path.fallback == ((2.0, 4.0),)
    assert abs(_x_at(path.keyframes, 1.0) - (500 - CROP_W / 2)) < 2
    assert abs(_x_at(path.keyframes, 5.0) - (1400 - CROP_W / 2)) < 2


def test_a_shot_with_nobody_falls_back_until_the_next_shot_and_to_the_end() -> None:
    hall = [Sample(i / 4, ()) for i in range(8)]  # 0-2 s: a wide shot of the hall, nobody detectable
    speaker = [Sample((8 + i) / 4, (face(900),), cut=i == 0) for i in range(8)]  # 2-4 s
    crowd = [Sample((16 + i) / 4, (face(100), face(1800)), cut=i == 0) for i in range(4)]  # 4-5 s, last shot
    path = plan_crop(hall + speaker + crowd, frame_w=FRAME_W, frame_h=FRAME_H, crop_w=CROP_W)
    assert path is not None
    # The last shot's span runs past its last sample (4.75 s), to cover the footage's last frames.
    assert path.fallback == ((0.0, 2.0), (4.0, 5.25))


def test_nobody_found_falls_back_to_the_blurred_fit() -> None:
    samples = [Sample(i / 4, (face(900),) if i == 3 else ()) for i in range(12)]
    assert plan_crop(samples, frame_w=FRAME_W, frame_h=FRAME_H, crop_w=CROP_W) is None


def test_boxes_are_scaled_from_analysis_pixels() -> None:
    samples = [Sample(i / 4, (Box(100, 50, 25, 25),)) for i in range(8)]  # centre 112.5 at 480 wide
    path = plan_crop(samples, frame_w=FRAME_W, frame_h=FRAME_H, crop_w=CROP_W, scale=4.0)
    assert path is not None and path.keyframes[0][1] == 450 - CROP_W / 2


def test_shot_change_and_sampling() -> None:
    dark, bright = np.zeros((4, 4), np.uint8), np.full((4, 4), 200, np.uint8)
    assert shot_change(dark, bright) and not shot_change(dark, dark + 5) and not shot_change(None, dark)
    assert sample_rate(10) == 4.0 and sample_rate(7200) < 1.0
    info = SourceInfo(1920, 1080, 10.0, True, "25", 25.0, interlaced=True)
    args = analysis_args(Path("/w/s.mp4"), info, Trim(2.0), Path("/w/a.fifo"))
    assert args[:2] == ["-ss", "2"]
    assert (
        args[args.index("-vf") + 1]
        == "bwdif=mode=send_frame:parity=auto:deint=interlaced,fps=4.0000,scale=480:270,format=gray"
    )
