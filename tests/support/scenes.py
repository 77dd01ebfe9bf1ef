"""Generated clips that look like footage to a perceptual fingerprint: shots of distinct pictures, each panned slowly.

testsrc2 (tests/support/media.py) draws the same pattern in every clip, so two of its clips are, to a fingerprint,
one video. Here each seed makes its own pictures (random colour fields at two scales, a PNG per shot) and each shot
pans across its picture the way a camera moves, so frames sampled a fraction of a second apart stay alike.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def _picture(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    coarse = Image.fromarray(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    fine = Image.fromarray(rng.integers(0, 256, (18, 32, 3), dtype=np.uint8)).resize((width, height), Image.BICUBIC)
    return Image.blend(coarse, fine, 0.45)


def make_scene_clip(
    path: Path,
    *,
    seed: int,
    duration_s: float,
    width: int = 480,
    height: int = 270,
    fps: int = 15,
    shot_s: float = 5.0,
) -> Path:
    """A clip of `duration_s` made of shots of `shot_s` (H.264, no audio), the same for the same seed."""
    rng = np.random.default_rng(seed)
    shots = max(1, math.ceil(duration_s / shot_s))
    argv = ["ffmpeg", "-v", "error", "-y"]
    graph = []
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        for k in range(shots):
            picture = Path(tmp) / f"shot{k}.png"
            # 1.5 times the frame: the shot pans over half a frame's width during shot_s.
            _picture(rng, width * 3 // 2, height * 3 // 2).save(picture)
            argv += ["-i", str(picture)]
            direction = "t" if k % 2 else f"({shot_s}-t)"
            graph.append(
                f"[{k}:v]loop=loop=-1:size=1,fps={fps},trim=duration={shot_s},"
                f"crop={width}:{height}:x='(iw-ow)*{direction}/{shot_s}':y='(ih-oh)/2',setsar=1[v{k}]"
            )
        graph.append("".join(f"[v{k}]" for k in range(shots)) + f"concat=n={shots}:v=1:a=0[out]")
        argv += ["-filter_complex", ";".join(graph), "-map", "[out]", "-t", f"{duration_s}"]
        argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-r", str(fps), str(path)]
        subprocess.run(argv, check=True)
    return path


def derive(
    source: Path,
    target: Path,
    *,
    vf: str | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
    video_kbps: int | None = None,
) -> Path:
    """A copy of `source` as someone else would make it: cut (`start_s`, `duration_s`), filtered (`vf`: a scale, a
    crop, a logo), re-encoded (at `video_kbps`, else the encoder's default quality)."""
    argv = ["ffmpeg", "-v", "error", "-y", "-ss", f"{start_s}", "-i", str(source)]
    if duration_s is not None:
        argv += ["-t", f"{duration_s}"]
    if vf:
        argv += ["-vf", vf]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an"]
    if video_kbps:
        argv += ["-b:v", f"{video_kbps}k", "-maxrate", f"{video_kbps}k", "-bufsize", f"{2 * video_kbps}k"]
    subprocess.run([*argv, str(target)], check=True)
    return target
