"""A live whose archive already is the YouTube cut (1080p H.264 High, BT.709, no edit): the cut passes the archive's
video through, in sync with its sound, and its fingerprint comes from the live chunks' hashes of their source frames,
made during the live, not from a decode of the whole cut once the live has ended."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from loa_core import fingerprint
from loa_core.contracts import (
    LIVE_SOURCE,
)
from loa_core.media import FFMPEG
from loa_transcode import live, pipeline
from loa_transcode.live import _encode_chunk, encode_live_chunk, joined_fingerprint
from tests.support.chunks import audio_samples, lag_samples
from tests.support.live import record_live
from tests.support.media import ffprobe, video_md5
from tests.support.transcode import context, video_stream


def test_a_passed_through_live_cut_has_its_fingerprint_from_the_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # 4 s of 1080p30 as a phone or an encoder would push it, a keyframe every second: the recorder cuts 4 segments.
    push = tmp_path / "push.flv"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
         "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.3:sample_rate=48000", "-t", "4",
         "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-g", "30", "-keyint_min", "30",
         "-sc_threshold", "0", "-b:v", "4M", "-pix_fmt", "yuv420p", "-color_range", "tv",
         # BT.709 in the stream itself (x264's VUI): ffmpeg's output colour options are the frames' to set.
         "-x264-params", "colorprim=bt709:transfer=bt709:colormatrix=bt709",
         "-c:a", "aac", "-f", "flv", str(push)],
        check=True,
    )  # fmt: skip
    # Two segments a chunk, encoded (here: hashed only) as they come during the live.
    recorded = record_live(push, tmp_path, segment_s=1.0, chunk_s=2.0)
    storage, archive, chunks, event = recorded.storage, recorded.archive, recorded.chunks, recorded.event
    assert len(chunks) >= 2
    ctx = context(storage, tmp_path / "work", "youtube")
    monkeypatch.setattr(live, "STILL_EVERY_S", 1.0)  # thumbnail candidates from these short chunks too
    results = [asyncio.run(encode_live_chunk(c, ctx)) for c in chunks]
    for result in results:
        # Nothing to encode: the YouTube cut will be the archive's video. Its frames are hashed all the same, and
        # its candidates made, from one decode.
        assert result.error is None and result.files == {}, result
        assert LIVE_SOURCE in result.frame_prints and result.candidates >= 1, result
    # A chunk that encodes another cut (TikTok) hashes the same frames from a branch of that encode's decode.
    work = tmp_path / "both"
    work.mkdir()
    both = asyncio.run(_encode_chunk(chunks[0], context(storage, tmp_path / "work", "youtube", "tiktok"), work))
    assert both.error is None and both.files == {"tiktok": "tiktok.mp4"}, both
    assert both.frame_prints[LIVE_SOURCE] == results[0].frame_prints[LIVE_SOURCE]

    decoded: list[Path] = []
    whole_cut = fingerprint.fingerprint_file

    async def counted(path: Path, **kwargs: Any) -> fingerprint.Fingerprint:
        decoded.append(path)
        return await whole_cut(path, **kwargs)

    monkeypatch.setattr(pipeline, "fingerprint_file", counted)
    ready = asyncio.run(pipeline.transcode(event, ctx=ctx))
    assert "single run" not in caplog.text
    [rendition] = ready.renditions
    cut = storage.local_path(rendition.key)
    assert cut is not None
    # Passed through: the archive's own video stream, not an encode of it.
    assert video_md5(cut) == video_md5(archive)
    # The archive's picture starts a little after its sound (the push's): the cut's sound is made from its first
    # frame on, and its picture is moved back as much. In sync: both are early on the archive by that lead.
    lead = float(video_stream(archive)["start_time"]) - float(ffprobe(archive)["format"]["start_time"])
    assert lead > 0, "the push's picture starts after its sound: what this test is about"
    start = float(video_stream(cut)["start_time"]) - float(ffprobe(cut)["format"]["start_time"])
    assert abs(lag_samples(audio_samples(archive), audio_samples(cut)) - (start - lead) * 48000) <= 48
    # No decode of the whole cut once the live had ended: its fingerprint is the chunks'.
    assert decoded == []
    assert rendition.fingerprint == joined_fingerprint(results, "youtube", passed_through=True, start_s=start)
    # And it is exactly the whole cut's, as a fresh decode of it makes it.
    assert rendition.fingerprint == asyncio.run(whole_cut(cut)).to_text()
