"""The subject-aware vertical crop on a real face: scikit-image's astronaut portrait panned across a 16:9 frame.

The measure is the share of sampled frames of the vertical cut in which OpenCV finds the face wholly
inside the picture, against a plain centre crop of the same footage made by ffmpeg.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from loa_core.storage import LocalStorage
from loa_transcode.pipeline import transcode
from tests.support.transcode import context, ffmpeg, upload

ASTRONAUT = Path(skimage.data.__file__).parent / "astronaut.png"
SAMPLES_PER_S = 4


def _frames(path: Path, width: int, height: int) -> list[np.ndarray]:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"fps={SAMPLES_PER_S},scale={width}:{height},format=gray",
         "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    count = len(raw) // (width * height)
    return [
        np.frombuffer(raw, np.uint8, width * height, i * width * height).reshape(height, width) for i in range(count)
    ]


def _face_inside_share(path: Path) -> float:
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    frames = _frames(path, 540, 960)
    inside = 0
    for frame in frames:
        faces = cascade.detectMultiScale(frame, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
        if any(x > 2 and y > 2 and x + w < 538 and y + h < 958 for x, y, w, h in faces):
            inside += 1
    return inside / len(frames)


async def test_vertical_cut_follows_the_face(tmp_path: Path) -> None:
    assert ASTRONAUT.exists()
    storage = LocalStorage(tmp_path / "storage")
    clip = tmp_path / "astronaut.mp4"
    # Shot 1 (0-3 s): the portrait pans from the left edge to the right edge. Shot 2 (3-5 s): a cut to it
    # standing at the left edge. A centre crop sees the face only while it passes the middle.
    ffmpeg("-f", "lavfi", "-i", "color=c=0x303030:size=1280x720:rate=25", "-loop", "1", "-i", str(ASTRONAUT),
           "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000",
           "-filter_complex", "[1:v]scale=600:600[p];[0:v][p]overlay=x='if(lt(t,3),t*680/3,0)':y=60,format=yuv420p",
           "-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(clip))  # fmt: skip
    centre = tmp_path / "centre.mp4"
    ffmpeg("-i", str(clip), "-vf", "crop=404:720,scale=1080:1920", "-c:v", "libx264", "-preset", "ultrafast",
           "-an", str(centre))  # fmt: skip

    event = upload(storage, clip, vertical_framing="subject")
    ready = await transcode(event, ctx=context(storage, tmp_path / "work", "tiktok"))
    cut = storage.local_path(ready.renditions[0].key)
    assert cut is not None

    followed, centred = _face_inside_share(cut), _face_inside_share(centre)
    assert followed >= 0.8, (followed, centred)
    assert followed >= centred + 0.3, (followed, centred)


@pytest.mark.parametrize("framing", ["subject"])
async def test_two_people_far_apart_fall_back_to_the_blurred_fit(tmp_path: Path, framing: str) -> None:
    storage = LocalStorage(tmp_path / "storage")
    clip = tmp_path / "two.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x303030:size=1280x720:rate=25", "-loop", "1", "-i", str(ASTRONAUT),
           "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000",
           "-filter_complex",
           "[1:v]scale=400:400,split[a][b];[0:v][a]overlay=x=0:y=160[l];[l][b]overlay=x=880:y=160,format=yuv420p",
           "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(clip))  # fmt: skip
    event = upload(storage, clip, vertical_framing=framing)
    ready = await transcode(event, ctx=context(storage, tmp_path / "work", "tiktok"))
    cut = storage.local_path(ready.renditions[0].key)
    assert cut is not None
    # The whole frame, fitted on a blurred background: both faces are in the cut (small, one either side).
    frame = _frames(cut, 540, 960)[4]
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    faces = cascade.detectMultiScale(frame, scaleFactor=1.05, minNeighbors=4, minSize=(16, 16))
    centres = sorted(x + w / 2 for x, y, w, h in faces if 300 < y < 660)
    assert len(centres) >= 2 and centres[0] < 200 and centres[-1] > 340, faces


async def test_the_fallback_is_decided_shot_by_shot(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    clip = tmp_path / "two-shots.mp4"
    # Shot 1 (0-2 s): one speaker at the left. Shot 2 (2-4 s, a lighter background so it is a cut): two people far
    # apart, who cannot both fit a vertical crop.
    ffmpeg("-f", "lavfi", "-i", "color=c=0x303030:size=1280x720:rate=25:d=2",
           "-f", "lavfi", "-i", "color=c=0x909090:size=1280x720:rate=25:d=2", "-loop", "1", "-i", str(ASTRONAUT),
           "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000",
           "-filter_complex",
           "[2:v]split=3[p][a][b];[p]scale=600:600[big];[a]scale=400:400[l];[b]scale=400:400[r];"
           "[0:v][big]overlay=x=40:y=60:shortest=1[one];[1:v][l]overlay=x=0:y=160:shortest=1[t];"
           "[t][r]overlay=x=880:y=160:shortest=1[two];[one][two]concat=n=2:v=1:a=0,format=yuv420p[v]",
           "-map", "[v]", "-map", "3:a", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
           str(clip))  # fmt: skip
    event = upload(storage, clip, vertical_framing="subject")
    ready = await transcode(event, ctx=context(storage, tmp_path / "work", "tiktok"))
    cut = storage.local_path(ready.renditions[0].key)
    assert cut is not None
    frames = _frames(cut, 540, 960)
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))

    # Shot 1 is cropped to the speaker: one face, as large as a 404-pixel-wide crop of 1280 makes it.
    speaker = cascade.detectMultiScale(frames[4], scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
    assert len(speaker) == 1 and speaker[0][2] > 100, speaker
    # Shot 2 shows the whole frame on a blurred background: both faces, small, one either side.
    faces = cascade.detectMultiScale(frames[12], scaleFactor=1.05, minNeighbors=4, minSize=(16, 16))
    centres = sorted(x + w / 2 for x, y, w, h in faces if 300 < y < 660)
    assert len(centres) >= 2 and centres[0] < 200 and centres[-1] > 340, faces
