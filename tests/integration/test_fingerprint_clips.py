"""Fingerprints of real (generated) clips through ffmpeg: copies of a published cut as people make them match the
right post at the right span; unrelated clips match nothing.

The clips are shared by the module and small: a 40 s 640x360 landscape cut and a 30 s 270x480 vertical one at 12 fps
as the "published" cuts, a few copies of them, and 50 unrelated clips of 6 s at 64x36.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from loa_core.fingerprint import Fingerprint, FingerprintIndex, fingerprint_file
from tests.support.scenes import derive, make_scene_clip

CROP_9_16 = "crop=ih*9/16:ih,scale=360:640"
LOGO = "drawbox=x=iw*0.82:y=ih*0.04:w=iw*0.14:h=ih*0.14:color=white@0.9:t=fill"


def fingerprint(path: Path) -> Fingerprint:
    return asyncio.run(fingerprint_file(path))


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    folder = tmp_path_factory.mktemp("published")
    yield {
        "landscape": make_scene_clip(folder / "landscape.mp4", seed=1, duration_s=40, width=640, height=360, fps=12),
        "vertical": make_scene_clip(folder / "vertical.mp4", seed=5, duration_s=30, width=270, height=480, fps=12),
    }


@pytest.fixture(scope="module")
def index(published: dict[str, Path]) -> FingerprintIndex:
    index = FingerprintIndex()
    index.extend((name, fingerprint(path)) for name, path in published.items())
    return index


@pytest.mark.parametrize(
    ("copy", "source", "making", "span_s", "variant"),
    [
        ("lower bitrate", "landscape", {"video_kbps": 100}, (0.0, 40.0), "full"),
        ("rescaled to 720p", "landscape", {"vf": "scale=1280:720"}, (0.0, 40.0), "full"),
        ("3 s cut from each end", "landscape", {"start_s": 3.0, "duration_s": 34.0}, (3.0, 37.0), "full"),
        # 12.3 s is between two sampled frames: the span is said to the half second.
        ("a 20 s excerpt", "landscape", {"start_s": 12.3, "duration_s": 20.0}, (12.5, 32.5), "full"),
        ("a logo overlaid", "landscape", {"vf": LOGO}, (0.0, 40.0), "full"),
        ("cropped to 9:16 from the centre", "landscape", {"vf": CROP_9_16}, (0.0, 40.0), "center"),
        ("the vertical cut re-encoded", "vertical", {"video_kbps": 100}, (0.0, 30.0), "full"),
    ],
)
def test_a_copy_of_a_published_cut_matches_it_at_its_span(
    copy: str,
    source: str,
    making: dict[str, object],
    span_s: tuple[float, float],
    variant: str,
    published: dict[str, Path],
    index: FingerprintIndex,
    tmp_path: Path,
) -> None:
    made = derive(published[source], tmp_path / "copy.mp4", **making)  # type: ignore[arg-type]
    found = index.search(fingerprint(made))
    assert [m.key for m in found] == [source], copy
    alignment = found[0].alignment
    assert (alignment.span_s, alignment.variant) == (span_s, variant), copy
    assert alignment.score >= 0.75, copy


def test_unrelated_clips_never_match(index: FingerprintIndex, tmp_path: Path) -> None:
    for seed in range(100, 150):
        clip = make_scene_clip(tmp_path / f"other-{seed}.mp4", seed=seed, duration_s=6, width=64, height=36, shot_s=2)
        query = fingerprint(clip)
        assert query.pictures == len(query.full) >= 12, seed  # each had pictures to compare
        assert index.search(query) == [], seed
