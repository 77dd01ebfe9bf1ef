"""Edits on real ffmpeg: burned-in Vietnamese subtitles on the trimmed timeline, logo watermark, bumpers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from loa_core.channels import Channel
from loa_core.storage import LocalStorage
from loa_transcode.pipeline import JobContext, transcode
from tests.support.transcode import TEST_OPTIONS, context, ffmpeg, upload, video_stream

TONE = ["-f", "lavfi", "-i", "sine=frequency=500:sample_rate=48000"]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


def _frame(path: Path, at_s: float, width: int, height: int, pix_fmt: str = "gray") -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(at_s), "-i", str(path), "-frames:v", "1",
         "-vf", f"scale={width}:{height},format={pix_fmt}", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    depth = 3 if pix_fmt == "rgb24" else 1
    return np.frombuffer(raw, np.uint8).reshape(height, width, depth).squeeze()


def _ink_rows(frame: np.ndarray) -> tuple[int, int]:
    rows = np.nonzero((frame > 128).any(axis=1))[0]
    assert rows.size, "no subtitle drawn"
    return int(rows.min()), int(rows.max())


async def test_vietnamese_subtitles_are_burned_in_on_the_trimmed_timeline(
    storage: LocalStorage, tmp_path: Path
) -> None:
    black = tmp_path / "black.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=black:size=640x360:rate=25", *TONE, "-t", "3",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(black))  # fmt: skip
    # Times on the source's timeline; the cut keeps 0.5-2.5 s, so they land at 0-1 s and 1-2 s.
    srt = "1\n00:00:00,500 --> 00:00:01,500\nEEE AAA OOO\n\n2\n00:00:01,500 --> 00:00:02,500\nỆỆỆ ẪẪẪ Ợ̃Ợ̃Ợ\n\n"
    storage.put_stream("raw/subs/vi.srt", [srt.encode("utf-8")])
    event = upload(storage, black, trim_start_s=0.5, trim_end_s=2.5, subtitles_key="raw/subs/vi.srt")
    ready = await transcode(event, ctx=context(storage, tmp_path / "work", "youtube"))
    cut = storage.local_path(ready.renditions[0].key)
    assert cut is not None

    # Grey levels of the lower half of the frame, at full height resolution of a 480x270 copy.
    plain = _frame(cut, 0.5, 480, 270)[135:]
    marked = _frame(cut, 1.5, 480, 270)[135:]
    plain_top, plain_bottom = _ink_rows(plain)
    marked_top, marked_bottom = _ink_rows(marked)
    # Circumflex and tilde reach above the capitals, the dot below under the baseline: the diacritics were
    # drawn as marks of their letters (a missing glyph draws a box no taller than a capital).
    assert marked_top < plain_top - 2
    assert marked_bottom > plain_bottom + 1
    # Same line of text, centred: similar width, so the letters are the letters and not boxes or nothing.
    plain_cols = np.nonzero((plain > 128).any(axis=0))[0]
    marked_cols = np.nonzero((marked > 128).any(axis=0))[0]
    assert abs(int(plain_cols.mean()) - int(marked_cols.mean())) < 10


async def test_logo_and_bumpers_frame_every_cut(storage: LocalStorage, tmp_path: Path) -> None:
    grey, intro, outro, logo = (tmp_path / n for n in ("grey.mp4", "intro.mp4", "outro.mp4", "logo.png"))
    ffmpeg("-f", "lavfi", "-i", "color=gray:size=640x360:rate=25", *TONE, "-t", "1",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(grey))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "color=blue:size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=800",
           "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(intro))  # fmt: skip
    # A vertical outro without sound.
    ffmpeg("-f", "lavfi", "-i", "color=green:size=360x640:rate=25", "-t", "0.5",
           "-c:v", "libx264", "-preset", "ultrafast", str(outro))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "color=red:size=200x200", "-frames:v", "1", "-pix_fmt", "rgba", str(logo))
    for key, path in (("brand/logo.png", logo), ("brand/intro.mp4", intro), ("brand/outro.mp4", outro)):
        storage.put_file(key, path)
    channel = Channel(
        name="ward",
        platform="local",
        profiles=("tiktok", "youtube"),
        logo_key="brand/logo.png",
        intro_key="brand/intro.mp4",
        outro_key="brand/outro.mp4",
    )
    ctx = JobContext(storage, {"ward": channel}, TEST_OPTIONS, tmp_path / "work")
    ready = await transcode(upload(storage, grey), ctx=ctx)

    for rendition in ready.renditions:
        cut = storage.local_path(rendition.key)
        assert cut is not None
        # intro 1 s + footage 1 s + outro 0.5 s, and the conformance check (loudness included) passed.
        assert abs(float(video_stream(cut)["duration"]) - 2.5) <= 1 / 25 + 1e-3
        w, h = (16, 9) if rendition.width > rendition.height else (9, 16)
        intro_rgb = _frame(cut, 0.5, w, h, "rgb24").reshape(-1, 3).mean(axis=0)
        outro_rgb = _frame(cut, 2.25, w, h, "rgb24").reshape(-1, 3).mean(axis=0)
        assert intro_rgb[2] > 100 and intro_rgb[0] < 60, intro_rgb  # blue, blurred-fitted or filling
        assert outro_rgb[1] > 60 and outro_rgb[0] < 60, outro_rgb  # green
        footage = _frame(cut, 1.5, 100, 100 * rendition.height // rendition.width, "rgb24")
        corner = footage[4:10, 86:95].reshape(-1, 3).mean(axis=0)  # the logo's place, top right
        middle = footage[footage.shape[0] // 2, 50]
        assert corner[0] > 180 and corner[1] < 80, corner  # red logo
        assert abs(int(middle[0]) - int(middle[1])) < 20, middle  # the grey footage itself, unmarked
