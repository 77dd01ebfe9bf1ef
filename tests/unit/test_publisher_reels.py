"""Whether a cut goes to a Facebook Page as a Reel or as a Page video (pure: adapters.facebook.reel_or_video)."""

from __future__ import annotations

import pytest

from loa_publisher.adapters.facebook import REELS_PER_DAY, reel_or_video


def test_a_vertical_cut_within_the_limits_is_a_reel() -> None:
    for width, height, seconds in ((1080, 1920, 30.0), (540, 960, 3.0), (720, 1280, 90.0)):
        assert reel_or_video(width, height, seconds, reels_last_24h=REELS_PER_DAY - 1) == (True, "")


@pytest.mark.parametrize(
    ("width", "height", "seconds", "why"),
    [
        (1920, 1080, 30.0, "not a vertical"),
        (1080, 1080, 30.0, "not a vertical"),
        (1080, 1920, 90.5, "outside a Reel's 3-90 s"),
        (1080, 1920, 2.9, "outside a Reel's 3-90 s"),
        (360, 640, 30.0, "below a Reel's 540x960"),
    ],
)
def test_anything_else_is_a_page_video_and_says_why(width: int, height: int, seconds: float, why: str) -> None:
    reel, reason = reel_or_video(width, height, seconds, reels_last_24h=0)
    assert not reel and why in reason


def test_the_pages_thirty_reels_a_day_are_counted() -> None:
    reel, reason = reel_or_video(1080, 1920, 30.0, reels_last_24h=REELS_PER_DAY)
    assert not reel and "30 reels" in reason
