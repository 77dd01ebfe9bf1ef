"""Chunked encoding on real ffmpeg and local storage, the group in one process (tests/support/chunks.Group): the
joined cut against the single run's, frame by frame and sample by sample, and what goes wrong on the way (a chunk
never encoded, a chunk of the wrong length, sources that must keep the single run)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from loa_core.contracts import RenditionsReady, layout
from loa_core.fingerprint import Fingerprint, fingerprint_file
from loa_core.media import probe, video_packets
from loa_core.storage import LocalStorage
from loa_core.streaming import PermanentError
from loa_transcode import chunked, pipeline
from loa_transcode.chunks import ChunkPlan, SingleRun, plan_chunks
from loa_transcode.graph import TARGET_LUFS, Job, Trim
from loa_transcode.pipeline import transcode
from loa_transcode.source import source_info
from tests.support.chunks import (
    TEST_POLICY,
    Group,
    audio_samples,
    frame_numbers,
    lag_samples,
    numbered_clip,
    packet_times,
)
from tests.support.transcode import context, ebur128, upload

TRIM_START = 1.5  # not on a keyframe: the first chunk starts where the single run does
FRAME_SAMPLES = 48000 // 30


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return numbered_clip(tmp_path_factory.mktemp("chunked") / "numbered.mp4", duration_s=24.0)


@pytest.fixture(scope="module")
def single(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zalo cut of the clip (from 1.5 s) in the single run: the reference."""
    import asyncio

    root = tmp_path_factory.mktemp("single")
    storage = LocalStorage(root / "storage")
    event = upload(storage, clip, trim_start_s=TRIM_START)
    ready = asyncio.run(transcode(event, ctx=context(storage, root / "work", "zalo")))
    return _cut(storage, ready)


def _cut(storage: LocalStorage, ready: RenditionsReady) -> Path:
    [rendition] = ready.renditions
    path = storage.local_path(rendition.key)
    assert path is not None
    return path


async def _chunked(tmp_path: Path, clip: Path, group: Group, **kw: float) -> Path:
    storage = LocalStorage(tmp_path / "storage")
    event = upload(storage, clip, trim_start_s=TRIM_START)
    ready = await transcode(event, ctx=group.context(context(storage, tmp_path / "work", "zalo"), **kw))
    await group.settle()
    return _cut(storage, ready)


def _assert_same_cut(cut: Path, single: Path) -> None:
    """Every frame once, in order, at the single run's times; the sound the single run's, not a sample late."""
    numbers = frame_numbers(cut)
    first = round(TRIM_START * 30)
    assert numbers == list(range(first, first + len(numbers))), "a frame duplicated, dropped or out of order"
    assert numbers == frame_numbers(single)
    assert packet_times(cut, "v:0") == packet_times(single, "v:0")
    ours, theirs = audio_samples(cut), audio_samples(single)
    assert abs(len(ours) - len(theirs)) < FRAME_SAMPLES
    assert lag_samples(theirs, ours) == 0
    # Late in the cut too: the audio was made once, so nothing drifts at the seams.
    late = len(theirs) - 3 * 48000
    assert lag_samples(theirs[late:], ours[late:]) == 0


async def test_the_chunked_cut_is_the_single_runs_frame_for_frame_and_in_sync(
    clip: Path, single: Path, tmp_path: Path
) -> None:
    group = Group()
    cut = await _chunked(tmp_path, clip, group)
    # From 1.5 s, a keyframe every 2 s, chunks from 4 s: 1.5-6, 6-10, ... 18-22, 22-24; each encoded once, exact.
    assert sorted(r.index for r in group.requests) == [0, 1, 2, 3, 4, 5]
    assert all(r.error is None for r in group.results.values()) and len(group.results) == 6
    assert sum(r.frames["zalo"] for r in group.results.values()) == round((24.0 - TRIM_START) * 30)
    _assert_same_cut(cut, single)
    # The staging area is clear, and a request that comes after the cuts are announced (asked again, then
    # redelivered) is skipped: nothing is encoded, nothing left behind.
    footage_id = group.requests[0].footage_id
    assert group.storage.list(layout.staging_prefix(footage_id)) == []
    await group.encode(group.requests[0])
    assert group.storage.list(layout.staging_prefix(footage_id)) == []


async def test_a_chunk_never_encoded_is_asked_for_again(
    clip: Path, single: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The first request of chunk 2 is lost (a worker that took it and died for good, say).
    group = Group(tamper=lambda chunk, nth: None if (chunk.index, nth) == (2, 1) else chunk)
    cut = await _chunked(tmp_path, clip, group, stall_s=5.0, requests=20)
    # Asked again once nothing came for a while (others too, if their encode outlasted the wait: harmless).
    assert [r.index for r in group.requests].count(2) >= 2
    assert "asking again for chunk(s)" in caplog.text and "single run after all" not in caplog.text
    assert group.results[2].error is None
    _assert_same_cut(cut, single)


async def test_a_chunk_lost_every_time_leaves_the_footage_to_the_single_run(
    clip: Path, single: Path, tmp_path: Path
) -> None:
    group = Group(tamper=lambda chunk, _nth: None if chunk.index == 3 else chunk)
    cut = await _chunked(tmp_path, clip, group, stall_s=2.0, requests=2)
    assert [r.index for r in group.requests].count(3) == 2
    assert 3 not in group.results
    _assert_same_cut(cut, single)


async def test_a_chunk_of_the_wrong_length_is_refused_and_the_single_run_makes_the_cut(
    clip: Path, single: Path, tmp_path: Path
) -> None:
    # Chunk 1 reads a stretch half a second short of the frames it must hold.
    def short(chunk, _nth):  # type: ignore[no-untyped-def]
        return chunk.model_copy(update={"end_s": chunk.end_s - 0.5}) if chunk.index == 1 else chunk

    group = Group(tamper=short)
    cut = await _chunked(tmp_path, clip, group)
    error = group.results[1].error
    assert error is not None and "chunk 1 of the zalo cut has 105 frames, expected 120" in error
    _assert_same_cut(cut, single)


async def test_sources_that_keep_the_single_run(tmp_path: Path) -> None:
    async def plan(path: Path) -> ChunkPlan | SingleRun:
        info = source_info(await probe(path))
        return plan_chunks(await video_packets(path), info, Trim(), TEST_POLICY, duration_s=info.duration_s)

    assert isinstance(await plan(numbered_clip(tmp_path / "closed.mp4", duration_s=12.0)), ChunkPlan)
    # A keyframe every 25 s: stands for the livestream encoder that sends one every few minutes.
    rare = await plan(numbered_clip(tmp_path / "rare.mp4", duration_s=30.0, gop=25 * 30))
    assert isinstance(rare, SingleRun) and "no keyframe for 25 s" in rare.reason
    opened = await plan(numbered_clip(tmp_path / "open.mp4", duration_s=12.0, x264="open-gop=1:bframes=3"))
    assert isinstance(opened, SingleRun) and "open GOP" in opened.reason
    # Variable frame rate: every seventh frame missing, the others at their own times.
    vfr = tmp_path / "vfr.mp4"
    numbered = numbered_clip(tmp_path / "cfr.mp4", duration_s=12.0)
    import subprocess

    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(numbered), "-vf", "select='not(eq(mod(n\\,7)\\,3))'",
         "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-an", str(vfr)],
        check=True,
    )  # fmt: skip
    varied = await plan(vfr)
    assert isinstance(varied, SingleRun) and "not a constant" in varied.reason, varied


@pytest.fixture(scope="module")
def two_cuts(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalStorage, RenditionsReady, list[list[str]]]:
    """A 12 s clip chunked into its TikTok and YouTube cuts (one sound alike: 128 kb/s, 48 kHz, the same length),
    with every ffmpeg run of the owner recorded."""
    import asyncio

    root = tmp_path_factory.mktemp("two")
    clip = numbered_clip(root / "numbered.mp4", duration_s=12.0)
    storage = LocalStorage(root / "storage")
    runs: list[list[str]] = []
    whole: list[Path] = []  # the cuts fingerprinted whole
    with pytest.MonkeyPatch.context() as patch:
        real_print = pipeline.fingerprint_file

        async def print_spy(path: Path, **kw: Any) -> Fingerprint:
            whole.append(path)
            return await real_print(path, **kw)

        patch.setattr(pipeline, "fingerprint_file", print_spy)
        for module in (pipeline, chunked):
            real = module.run_ffmpeg

            async def spy(args: list[str], *more: Any, real: Any = real, **kw: Any) -> str:
                runs.append(list(args))
                return str(await real(args, *more, **kw))

            patch.setattr(module, "run_ffmpeg", spy)

        async def run() -> RenditionsReady:
            group = Group()
            ready = await transcode(
                upload(storage, clip), ctx=group.context(context(storage, root / "work", "tiktok", "youtube"))
            )
            await group.settle()
            assert len(group.results) == 3 and all(r.error is None for r in group.results.values())
            # Each chunk hashed the frames of each of its cuts' files.
            assert all(set(r.frame_prints) == {"tiktok", "youtube"} for r in group.results.values())
            return ready

        ready = asyncio.run(run())
    assert whole == []  # every cut's fingerprint came from its chunks'
    return storage, ready, runs


def _measured_inputs(runs: list[list[str]]) -> list[str]:
    """The file each loudness measure (loudnorm's first pass) read."""
    return [a[a.index("-i") + 1] for a in runs if any("loudnorm" in x and "print_format=json" in x for x in a)]


def test_cuts_that_carry_one_sound_have_it_measured_once(
    two_cuts: tuple[LocalStorage, RenditionsReady, list[list[str]]],
) -> None:
    storage, ready, runs = two_cuts
    assert {r.profile for r in ready.renditions} == {"tiktok", "youtube"}
    # The source's measure (for the gain), then the one sound both cuts carry: not the tiktok cut's, then youtube's.
    source = storage.local_path(layout.source_key(ready.footage_id))
    measured = _measured_inputs(runs)
    assert measured[0] == f"file:{source}"
    assert len(measured) == 2 and measured[1].endswith(".m4a"), measured
    for rendition in ready.renditions:
        cut = storage.local_path(rendition.key)
        assert cut is not None
        integrated, peak = ebur128(cut)
        assert abs(integrated - TARGET_LUFS) <= 1.0 and peak <= -1.0, (rendition.profile, integrated, peak)


async def test_the_check_fails_a_chunked_cut_whose_sound_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sound made with a gain computed from a source measure 8 LU too loud: it comes out 8 LU too quiet, and the
    # check, which reads the measure of the sound the cut carries, refuses the cut.
    right = chunked.audio_args

    def off(job: Job) -> list[str]:
        assert job.loudness is not None
        m = job.loudness
        return right(replace(job, loudness=replace(m, input_i=m.input_i + 8.0)))

    monkeypatch.setattr(chunked, "audio_args", off)
    clip = numbered_clip(tmp_path / "numbered.mp4", duration_s=12.0)
    with pytest.raises(PermanentError, match=r"zalo: loudness -2[1-3]\.\d LUFS, expected -14 ±1"):
        await _chunked(tmp_path, clip, Group())


async def test_a_chunked_cuts_fingerprint_from_its_chunks_is_a_decode_of_the_whole_cut(
    two_cuts: tuple[LocalStorage, RenditionsReady, list[list[str]]],
) -> None:
    storage, ready, _ = two_cuts
    for rendition in ready.renditions:
        cut = storage.local_path(rendition.key)
        assert cut is not None and rendition.fingerprint is not None
        # Exactly: every sample, the whole frames' and the centre crops'.
        assert rendition.fingerprint == (await fingerprint_file(cut)).to_text(), rendition.profile
