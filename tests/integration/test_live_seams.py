"""A live's seams, frame by frame: 8 s whose frames carry their number, pushed as FLV (what the archiver's RTMP server
hands its recorder) into the recorder's own ffmpeg command, cut into 30 segments of 8 frames (B-frames, sound that
starts before the picture by a different amount in each), assembled by the archiver, encoded as 15 live chunks and
joined by transcode: no frame duplicated or dropped at any of the 44 seams, the sound in sync from start to end and
at the target loudness from the chunks' own measures (the archive's, only for a chunk without one).
What goes wrong on the way (a chunk that never comes, a chunk that decodes to the wrong length) leaves the archive to
the single run, which is frame-exact too."""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from loa_core.contracts import (
    LIVE_RESULT,
    FootageUploaded,
    LiveChunk,
    LiveChunkResult,
    LiveSound,
    layout,
)
from loa_core.fingerprint import fingerprint_file
from loa_core.media import FFMPEG, probe
from loa_core.storage import LocalStorage
from loa_core.streaming import PermanentError
from loa_transcode import live, profiles
from loa_transcode.graph import TARGET_LUFS
from loa_transcode.live import encode_live_chunk
from loa_transcode.pipeline import transcode
from tests.support.chunks import audio_samples, frame_numbers, lag_samples, numbered_clip, packet_times
from tests.support.live import record_live
from tests.support.transcode import context, ebur128

SECONDS = 8.0
FRAMES = 240
GOP = 8  # a keyframe every 8 frames: the recorder cuts a segment at each
FRAME_SAMPLES = 48000 // 30


@dataclass(frozen=True)
class Live:
    clip: Path
    root: Path  # the storage, every chunk encoded
    event: FootageUploaded  # the archive's announcement
    chunks: tuple[LiveChunk, ...]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Live:
    work = tmp_path_factory.mktemp("live-seams")
    clip = numbered_clip(work / "numbered.mp4", duration_s=SECONDS, gop=GOP)
    push = work / "push.flv"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(clip), "-c", "copy", "-f", "flv", str(push)], check=True)
    made = record_live(push, work, segment_s=0.2, chunk_s=0.4)
    assert len(made.chunks) == FRAMES // GOP // 2  # two segments a chunk, as the archiver groups them
    ctx = context(made.storage, work / "work", "youtube")
    for chunk in made.chunks:
        result = asyncio.run(encode_live_chunk(chunk, ctx))
        assert result.error is None, result.error
    return Live(clip, made.storage.root, made.event, made.chunks)


def _storage(live: Live, tmp_path: Path) -> LocalStorage:
    """A copy of the live's storage, for one test to change."""
    return LocalStorage(Path(shutil.copytree(live.root, tmp_path / "storage")))


def _cut(live: Live, storage: LocalStorage, tmp_path: Path) -> Path:
    ready = asyncio.run(transcode(live.event, ctx=context(storage, tmp_path / "work", "youtube")))
    [rendition] = ready.renditions
    path = storage.local_path(rendition.key)
    assert path is not None
    return path


def _assert_exact(live: Live, cut: Path, *, single_run: bool = False) -> None:
    """Every frame of the live once, in order, one period after the other; the sound where the picture is, at the
    start as at the end. The single run keeps the archive's picture starting a little after its sound (the live's
    own lead, under a frame), so a player holds its first frame that long: its frames are counted as stored."""
    assert frame_numbers(cut, as_stored=single_run) == list(range(FRAMES)), (
        "a frame duplicated, dropped or out of order"
    )
    times = packet_times(cut, "v:0")
    assert all(abs(b - a - 1 / 30) < 1e-3 for a, b in itertools.pairwise(times)), "a gap or an overlap at a seam"
    source, ours = audio_samples(live.clip), audio_samples(cut)
    if not single_run:
        # The join's sound is the archive's from its first frame, as long as its frames.
        assert abs(len(ours) - len(source)) < FRAME_SAMPLES
    late = len(source) - 3 * 48000  # the same instant in both, near the end
    lags = [lag_samples(source, ours), lag_samples(source[late:], ours[late:])]
    assert all(abs(lag) < FRAME_SAMPLES for lag in lags), lags
    # Nothing drifts over the seams: the sound is as late at the end as at the start (within a millisecond).
    assert abs(lags[1] - lags[0]) <= 48, lags


def _loudness_runs(live: Live, storage: LocalStorage, caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    """The ffmpeg runs the job measured loudness in (loa_core.media logs each command): over the archive, and others."""
    archive = storage.local_path(live.event.media.key)
    runs = [r.getMessage() for r in caplog.records if r.name == "loa_core.media" and "ebur128" in r.getMessage()]
    return [r for r in runs if f"file:{archive} " in r], [r for r in runs if f"file:{archive} " not in r]


def test_a_live_joined_from_its_chunks_has_every_frame_once_and_its_sound_in_sync(
    recorded: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="loa_core.media")
    storage = _storage(recorded, tmp_path)
    # Each chunk holds exactly its two segments' frames, the ones right after the chunk before.
    first = 0
    for chunk in recorded.chunks:
        path = storage.local_path(layout.live_chunk_key(chunk.footage_id, chunk.index, "youtube.mp4"))
        assert path is not None
        assert frame_numbers(path) == list(range(first, first + 2 * GOP)), f"chunk {chunk.index}"
        first += 2 * GOP
    cut = _cut(recorded, storage, tmp_path)
    assert "single run" not in caplog.text
    _assert_exact(recorded, cut)
    # Its sound at the target, from the loudness its chunks measured during the live: the archive's sound was not
    # decoded again to be measured; the one measure left is the check's, of the encoded sound.
    over_archive, others = _loudness_runs(recorded, storage, caplog)
    assert over_archive == [] and len(others) == 1 and "sound-" in others[0], others
    integrated, peak = ebur128(cut)
    assert abs(integrated - TARGET_LUFS) <= 0.3 and peak <= -1.0, (integrated, peak)
    # The sound is the chunks' own, encoded during the live and spliced: nothing is encoded after the end.
    assert "not spliced" not in caplog.text
    runs = [r.getMessage() for r in caplog.records if r.name == "loa_core.media"]
    assert not [r for r in runs if "-c:a aac" in r], "the sound was encoded after the live"
    assert [r for r in runs if "spliced-128.aac" in r]


class ObjectStore(LocalStorage):
    """Storage read only through its API, as S3 is (no object has a path to read in place); it counts downloads."""

    downloaded: list[str]

    def local_path(self, key: str) -> Path | None:
        return None

    def download(self, key: str, dest: Path) -> None:
        self.downloaded.append(key)
        super().download(key, dest)


def test_a_live_whose_storage_has_no_files_in_place_is_joined_from_downloaded_chunks(
    recorded: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = ObjectStore(_storage(recorded, tmp_path).root)
    storage.downloaded = []
    caplog.set_level(logging.INFO)
    ready = asyncio.run(transcode(recorded.event, ctx=context(storage, tmp_path / "work", "youtube")))
    assert "single run" not in caplog.text and "not spliced" not in caplog.text
    [rendition] = ready.renditions
    cut = LocalStorage.local_path(storage, rendition.key)
    assert cut is not None
    _assert_exact(recorded, cut)
    # Every chunk's video and sound came through the storage API into the job's folder.
    for chunk in recorded.chunks:
        for name in ("youtube.mp4", "sound-128.aac"):
            assert layout.live_chunk_key(chunk.footage_id, chunk.index, name) in storage.downloaded, (chunk.index, name)


def test_a_spliced_sound_the_check_would_refuse_gives_way_to_the_archives_with_one_gain(
    recorded: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    # As if the spliced sound measured off the target (its own measure is checked in the test above).
    monkeypatch.setattr(live, "_conforms", lambda loudness: False)
    calls: list[Path] = []
    measure = live._loudness

    async def measured(path: Path) -> object:
        calls.append(path)
        return await measure(path)

    monkeypatch.setattr(live, "_loudness", measured)
    cut = _cut(recorded, _storage(recorded, tmp_path), tmp_path)
    assert "spliced sound measures" in caplog.text and "single run" not in caplog.text
    # Measured twice: the spliced sound, refused, then the archive's with one gain, which the cut carries.
    assert len(calls) == 2
    _assert_exact(recorded, cut)
    integrated, peak = ebur128(cut)
    assert abs(integrated - TARGET_LUFS) <= 0.3 and peak <= -1.0, (integrated, peak)


def test_a_chunk_without_a_sound_measure_has_the_archive_measured_whole(
    recorded: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = _storage(recorded, tmp_path)
    key = layout.live_chunk_key(recorded.event.footage_id, 5, LIVE_RESULT)
    with storage.open_read(key) as f:
        measured = LiveChunkResult.read_json(f.read())
    assert measured.sound is not None and measured.sound.true_peak_dbtp is not None
    # As a worker of the release before wrote it: no sound field.
    storage.put_stream(key, [measured.model_dump_json(exclude={"sound"}).encode()])
    caplog.set_level(logging.INFO)
    cut = _cut(recorded, storage, tmp_path)
    assert "single run" not in caplog.text and "sound was not measured: the archive's measured whole" in caplog.text
    over_archive, _ = _loudness_runs(recorded, storage, caplog)
    assert len(over_archive) == 1
    integrated, peak = ebur128(cut)
    assert abs(integrated - TARGET_LUFS) <= 0.3 and peak <= -1.0, (integrated, peak)


def test_the_check_still_measures_the_joined_sound_and_fails_a_wrong_loudness(
    recorded: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A chunk without its sound encoded (from a release before chunks encoded it): the archive's sound gets one gain.
    storage = _storage(recorded, tmp_path)
    key = layout.live_chunk_key(recorded.event.footage_id, 3, LIVE_RESULT)
    with storage.open_read(key) as f:
        result = LiveChunkResult.read_json(f.read())
    storage.put_stream(key, [result.model_dump_json(exclude={"encoded_sound"}).encode()])
    # The chunks' measure as if it read 8 LU too loud: the gain leaves the sound 8 LU too quiet, and the check, which
    # measures the encoded sound itself, refuses the cut.
    right = live.measured_level

    def too_loud(sounds: list[LiveSound]) -> tuple[float, float]:
        level = right(sounds)
        assert level is not None
        return level[0] + 8.0, level[1] + 8.0

    monkeypatch.setattr(live, "measured_level", too_loud)
    with pytest.raises(PermanentError, match=r"youtube: loudness -2[1-3]\.\d LUFS, expected -14 ±1"):
        _cut(recorded, storage, tmp_path)


def test_a_chunk_that_never_comes_leaves_the_archive_to_the_single_run(
    recorded: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _storage(recorded, tmp_path)
    storage.delete(layout.live_chunk_key(recorded.event.footage_id, 7, LIVE_RESULT))
    monkeypatch.setattr(live, "CHUNK_STALL_S", 1.0)
    cut = _cut(recorded, storage, tmp_path)
    assert "live chunk 7 never came; encoding in a single run" in caplog.text
    _assert_exact(recorded, cut, single_run=True)


def test_a_chunk_of_the_wrong_length_is_never_joined(
    recorded: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = _storage(recorded, tmp_path)
    # Chunk 4's file decodes to a frame less than its result says (its last frame gone).
    path = storage.local_path(layout.live_chunk_key(recorded.event.footage_id, 4, "youtube.mp4"))
    assert path is not None
    short = tmp_path / "short.mp4"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-c", "copy", "-frames:v", str(2 * GOP - 1), str(short)],
                   check=True)  # fmt: skip
    shutil.move(short, path)
    cut = _cut(recorded, storage, tmp_path)
    assert "youtube: 239 frames, the archive's 240" in caplog.text and "single run" in caplog.text
    _assert_exact(recorded, cut, single_run=True)


def test_a_cut_shorter_than_the_live_has_its_fingerprint_from_the_chunks_up_to_its_end(
    recorded: Live, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Shorts cut of 5 s of this 8 s live (as TikTok's 10 minutes of a longer one): it ends inside chunk 9.
    monkeypatch.setitem(profiles.PROFILES, "shorts", replace(profiles.PROFILES["shorts"], max_duration_s=5.0))
    storage = _storage(recorded, tmp_path)
    for key in storage.list(layout.staging_prefix(recorded.event.footage_id)):
        storage.delete(key)
    ctx = context(storage, tmp_path / "work", "shorts")
    for chunk in recorded.chunks:
        assert asyncio.run(encode_live_chunk(chunk, ctx)).error is None
    caplog.set_level(logging.INFO)
    ready = asyncio.run(transcode(recorded.event, ctx=ctx))
    assert "single run" not in caplog.text
    [rendition] = ready.renditions
    cut = storage.local_path(rendition.key)
    assert cut is not None
    # 5 s of frames (the vertical frame's numbers are too small to read): the chunk it ends in encoded only those.
    found = asyncio.run(probe(cut)).video
    assert found is not None and found.nb_frames == 150
    # Its fingerprint is the chunks' frame hashes up to the cut's end, and exactly a fresh decode's of the cut.
    runs = [r.getMessage() for r in caplog.records if r.name == "loa_core.media"]
    assert not [r for r in runs if "rawvideo" in r and "shorts.mp4" in r], "the cut was decoded for its fingerprint"
    assert rendition.fingerprint == asyncio.run(fingerprint_file(cut)).to_text()
