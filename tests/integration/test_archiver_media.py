"""The archiver's ffmpeg step on real files: lossless assembly of MPEG-TS segments."""

from __future__ import annotations

import subprocess
from pathlib import Path

from loa_archiver.finalize import assemble
from loa_core.media import probe


async def test_assemble_is_a_stream_copy(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    # A keyframe every second (-g 25), as a live encoder sends them.
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine",
         "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", str(clip)],
        check=True,
    )  # fmt: skip
    # Segment it the way the recorder does (stream copy into 2 s MPEG-TS pieces, each starting at 0).
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(clip), "-map", "0", "-c", "copy", "-f", "segment", "-segment_time", "2",
         "-segment_format", "mpegts", "-reset_timestamps", "1", str(tmp_path / "seg%05d.ts")],
        check=True,
    )  # fmt: skip
    segments = sorted(tmp_path.glob("seg*.ts"))
    assert len(segments) >= 2
    work = tmp_path / "work"
    work.mkdir()
    archive = await assemble(segments, work)
    found = await probe(archive)
    assert abs(found.duration_s - 6.0) < 0.2 and found.has_audio
    assert found.video is not None and found.video.codec_name == "h264"
