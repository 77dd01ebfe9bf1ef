"""The transcode pipeline on real ffmpeg and local storage: every cut, its checks, loudness, edits, stills."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loa_core.contracts import RenditionsReady, layout, new_id
from loa_core.fingerprint import fingerprint_file
from loa_core.hashing import sha256_file
from loa_core.storage import LocalStorage
from loa_core.streaming import PermanentError
from loa_transcode.pipeline import announcement_id, transcode
from tests.support.media import ffprobe, make_clip
from tests.support.transcode import audio_stream, context, ebur128, ffmpeg, upload, video_stream


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


def _file(storage: LocalStorage, key: str) -> Path:
    path = storage.local_path(key)
    assert path is not None and path.exists(), key
    return path


async def test_every_cut_of_a_horizontal_clip(storage: LocalStorage, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=640, height=360, duration_s=2.0)
    event = upload(storage, clip)
    ready = await transcode(event, ctx=context(storage, tmp_path / "work", "tiktok", "shorts", "youtube", "zalo"))

    assert ready.event_id == announcement_id(event)
    assert {r.profile: (r.width, r.height) for r in ready.renditions} == {
        "tiktok": (1080, 1920),
        "shorts": (1080, 1920),
        "youtube": (1920, 1080),
        "zalo": (1280, 720),
    }
    for rendition in ready.renditions:
        path = _file(storage, rendition.key)
        video, audio = video_stream(path), audio_stream(path)
        assert (video["width"], video["height"]) == (rendition.width, rendition.height)
        assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", "High", "yuv420p")
        assert audio is not None and (audio["codec_name"], audio["sample_rate"]) == ("aac", "48000")
        assert abs(float(video["duration"]) - 2.0) <= 1 / 30 + 1e-3
        integrated, peak = ebur128(path)
        assert abs(integrated - -14.0) <= 1.0, (rendition.profile, integrated)
        assert peak <= -1.0
    # The default picks and three candidates of each, spread over the footage, for a person to pick from.
    sizes = {"thumbnail": (1280, 720), "cover": (1080, 1920)}
    assert {i.kind: (i.width, i.height) for i in ready.images} == sizes | {
        f"{kind}-{n}": size for kind, size in sizes.items() for n in (1, 2, 3)
    }
    times = [next(i.at_s for i in ready.images if i.kind == f"thumbnail-{n}") for n in (1, 2, 3)]
    assert all(t is not None for t in times) and times == sorted(times) and len(set(times)) == 3, times
    assert all(t is not None and 0 <= t < 2.0 for t in times)
    for image in ready.images:
        stream = ffprobe(_file(storage, image.key))["streams"][0]
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", image.width, image.height)
    # Nothing of the attempt is left in staging, and the manifest is the announcement.
    assert storage.list(layout.STAGING.prefix) == []
    assert RenditionsReady.from_bytes(_file(storage, layout.manifest_key(event.footage_id)).read_bytes()) == ready


async def test_staging_left_by_an_earlier_attempt_is_gone_once_the_set_is_in_place(
    storage: LocalStorage, tmp_path: Path
) -> None:
    """An attempt cut short between its staging writes and its moves (storage gone, a crash) leaves objects
    there; the attempt that completes the set removes them."""
    event = upload(storage, make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=1.0))
    earlier = layout.staging_key(event.footage_id, new_id(), layout.rendition_key(event.footage_id, "youtube"))
    storage.put_stream(earlier, [b"half of an earlier attempt"])
    await transcode(event, ctx=context(storage, tmp_path / "work", "youtube"))
    assert storage.list(layout.STAGING.prefix) == []


async def test_a_redelivered_job_announces_the_same_set_without_encoding_again(
    storage: LocalStorage, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=1.0)
    event = upload(storage, clip)
    ctx = context(storage, tmp_path / "work", "youtube")
    first = await transcode(event, ctx=ctx)
    youtube = _file(storage, first.renditions[0].key)
    before = youtube.stat().st_mtime_ns
    again = await transcode(event, ctx=ctx)
    assert again == first
    assert youtube.stat().st_mtime_ns == before


async def test_the_same_record_delivered_twice_at_once_is_encoded_once_and_announced_alike(
    storage: LocalStorage, tmp_path: Path
) -> None:
    """After a rebalance or a broker restart Faust can hand one record to two agents of the same worker at once;
    they used to share and clear one work folder, and one of them failed the footage (a file of its work gone)."""
    event = upload(storage, make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=1.0))
    ctx = context(storage, tmp_path / "work", "tiktok", "youtube")
    first, second = await asyncio.gather(transcode(event, ctx=ctx), transcode(event, ctx=ctx))
    assert first == second
    assert first.event_id == announcement_id(event)
    for rendition in first.renditions:
        assert _file(storage, rendition.key).stat().st_size == rendition.size_bytes
        # The stored file is the one an approval's sha256 pins (contracts.decisions).
        assert rendition.sha256 == sha256_file(_file(storage, rendition.key))
        # And its fingerprint is the stored file's (what a copy of the post is checked against).
        assert rendition.fingerprint == (await fingerprint_file(_file(storage, rendition.key))).to_text()
    assert storage.list(layout.STAGING.prefix) == []
    assert len(ctx.jobs) == 0  # nothing held once both are done
    assert list((tmp_path / "work").iterdir()) == []


async def test_quiet_footage_is_brought_to_minus_14_lufs(storage: LocalStorage, tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=44100",
        "-t", "4", "-af", "volume=-24dB", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(quiet),
    )  # fmt: skip
    assert ebur128(quiet)[0] < -30
    ready = await transcode(upload(storage, quiet), ctx=context(storage, tmp_path / "work", "youtube"))
    integrated, peak = ebur128(_file(storage, ready.renditions[0].key))
    assert abs(integrated - -14.0) <= 1.0
    assert peak <= -1.0


async def test_footage_without_audio_gets_valid_silent_cuts(storage: LocalStorage, tmp_path: Path) -> None:
    mute = make_clip(tmp_path / "mute.mp4", width=320, height=180, duration_s=1.5, audio=False)
    ready = await transcode(upload(storage, mute), ctx=context(storage, tmp_path / "work", "tiktok", "youtube"))
    for rendition in ready.renditions:
        path = _file(storage, rendition.key)
        audio = audio_stream(path)
        assert audio is not None and audio["sample_rate"] == "48000"
        assert abs(float(video_stream(path)["duration"]) - 1.5) <= 1 / 30 + 1e-3


async def test_trim_keeps_only_the_chosen_part(storage: LocalStorage, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=4.0)
    event = upload(storage, clip, trim_start_s=1.0, trim_end_s=2.5)
    ready = await transcode(event, ctx=context(storage, tmp_path / "work", "youtube"))
    assert abs(ready.renditions[0].duration_s - 1.5) <= 1 / 30 + 1e-3


async def test_a_trim_past_the_end_fails_with_the_reason(storage: LocalStorage, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=1.0)
    event = upload(storage, clip, trim_start_s=5.0)
    with pytest.raises(PermanentError, match="past the end"):
        await transcode(event, ctx=context(storage, tmp_path / "work", "youtube"))
