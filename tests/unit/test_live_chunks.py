"""Live chunks, the pure parts: how the archiver groups segments, what the join may take, the one gain, the
candidates' times, the video-only command."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from aiokafka.partitioner import DefaultPartitioner

from loa_archiver.live import chunk_event_id, live_chunks, live_groups, preroll
from loa_archiver.store import Segment
from loa_core.contracts import (
    LIVE_CHUNKS,
    LIVE_PREROLL_S,
    LIVE_RESULT,
    LIVE_SOURCE,
    LiveChunk,
    LiveChunkResult,
    LiveSegment,
    LiveSound,
    layout,
)
from loa_core.fingerprint import Fingerprint, FramePrints
from loa_core.kafka import record_key
from loa_core.media import ProbeResult, StreamInfo
from loa_core.storage import LocalStorage
from loa_transcode.chunks import chunk_args
from loa_transcode.graph import Bumper, Candidates, Job, Output, Trim, build_args
from loa_transcode.live import (
    LIMIT_DBFS,
    STILL_EVERY_S,
    _read,
    candidate_times,
    frames_to_end,
    gain_filter,
    joined_fingerprint,
    left_to_the_archive,
    live_problem,
    live_sound,
    measured_level,
    parse_ebur128,
    shared_outputs,
)
from loa_transcode.profiles import PROFILES, resolve
from loa_transcode.source import SourceInfo, source_info

HD = SourceInfo(1280, 720, 12.0, True, "30", 30.0)


def _segments(*durations: float) -> list[Segment]:
    return [Segment(n, f"live/a/seg{n:05d}.ts", d, None) for n, d in enumerate(durations, 1)]


def test_segments_close_a_chunk_once_it_holds_the_chunk_length() -> None:
    segments = _segments(4, 4, 4, 4, 4.1, 3.9, 2)
    groups = live_groups(segments, 12, ended=False)
    assert [[s.n for s in g] for g in groups] == [[1, 2, 3], [4, 5, 6]]
    # The rest, still filling, is a chunk only once the live ended.
    assert [[s.n for s in g] for g in live_groups(segments, 12, ended=True)] == [[1, 2, 3], [4, 5, 6], [7]]
    # Grouping only looks at the stored segments in order: more segments never change the chunks made before.
    more = live_groups([*segments, *_segments(4, 4, 4)], 12, ended=False)
    assert more[:2] == groups


def test_a_chunk_announced_again_has_the_same_event_id() -> None:
    assert chunk_event_id("a", 3) == chunk_event_id("a", 3) != chunk_event_id("a", 4) != chunk_event_id("b", 3)


def test_a_chunks_preroll_is_the_last_segments_before_it_at_least_the_preroll_length() -> None:
    p = LIVE_PREROLL_S
    # One segment is enough when it is long enough.
    assert [s.n for s in preroll(_segments(8 * p, 8 * p, 8 * p))] == [3]
    # Short segments: as many of the last ones as make it, in order.
    assert [s.n for s in preroll(_segments(8 * p, 0.4 * p, 0.4 * p, 0.4 * p, 0.4 * p))] == [3, 4, 5]
    assert [s.n for s in preroll(_segments(8 * p, 0.2 * p, 0.6 * p, 0.5 * p))] == [3, 4]
    assert sum(s.duration_s for s in preroll(_segments(2 * p, 0.6 * p, 0.6 * p))) >= p
    # Exactly the length: no more.
    assert [s.n for s in preroll(_segments(0.5 * p, 0.5 * p, 0.5 * p))] == [2, 3]
    # Shorter in all than the pre-roll: every segment before.
    assert [s.n for s in preroll(_segments(0.4 * p, 0.2 * p))] == [1, 2]
    # The first chunk has none.
    assert preroll([]) == []


def test_each_chunk_announced_carries_its_index_start_preroll_and_event_id() -> None:
    segments = _segments(4, 4, 4.04, 0.2, 0.2, 3.7, 4.1, 3.9, 2)
    groups = live_groups(segments, 8, ended=True)
    assert [[s.n for s in g] for g in groups] == [[1, 2], [3, 4, 5, 6], [7, 8], [9]]
    chunks = live_chunks(groups, archive_id="a", footage_id="f" * 32, channels=("ward",), ward="hanoi")
    assert [c.index for c in chunks] == [0, 1, 2, 3]
    assert [c.event_id for c in chunks] == [chunk_event_id("a", k) for k in range(4)]
    assert {(c.footage_id, c.archive_id, c.ward, c.channels) for c in chunks} == {("f" * 32, "a", "hanoi", ("ward",))}
    # Where each starts: the sum of every segment before it.
    assert [c.start_s for c in chunks] == [0.0, 8.0, pytest.approx(16.14), pytest.approx(24.14)]
    assert [c.duration_s for c in chunks] == [8.0, pytest.approx(8.14), 8.0, 2.0]
    # Each chunk's segments are its group's, and its pre-roll the segments right before them.
    assert [[s.key for s in c.segments] for c in chunks] == [[s.key for s in g] for g in groups]
    assert LIVE_PREROLL_S == 4.5  # the pre-rolls below are chosen around it
    assert [[s.key for s in c.preroll] for c in chunks] == [
        [],
        ["live/a/seg00001.ts", "live/a/seg00002.ts"],
        ["live/a/seg00003.ts", "live/a/seg00004.ts", "live/a/seg00005.ts", "live/a/seg00006.ts"],
        ["live/a/seg00007.ts", "live/a/seg00008.ts"],
    ]
    assert chunks[2].preroll[-1].duration_s == 3.7
    # Grouped again with more segments (a restarted archiver), the chunks announced before are the same events.
    more = live_chunks(
        live_groups([*segments, *_segments(4, 4)], 8, ended=False),
        archive_id="a",
        footage_id="f" * 32,
        channels=("ward",),
        ward="hanoi",
    )
    assert [c.model_dump(exclude={"occurred_at"}) for c in more[:3]] == [
        c.model_dump(exclude={"occurred_at"}) for c in chunks[:3]
    ]


def test_short_segments_before_a_chunk_all_go_into_its_preroll() -> None:
    # A chunk after segments of 0.2 s (a push that reconnected): as many of them as make the pre-roll.
    p = LIVE_PREROLL_S
    segments = _segments(16 * p, 0.4 * p, 0.4 * p, 0.4 * p, 0.4 * p, 16 * p)
    groups = [segments[:5], segments[5:]]
    chunks = live_chunks(groups, archive_id="a", footage_id="f" * 32, channels=("ward",))
    assert [s.key for s in chunks[1].preroll] == ["live/a/seg00003.ts", "live/a/seg00004.ts", "live/a/seg00005.ts"]
    assert sum(s.duration_s for s in chunks[1].preroll) >= p
    assert chunks[1].start_s == pytest.approx(17.6 * p) and chunks[0].preroll == ()


def test_a_lives_chunks_go_round_the_partitions() -> None:
    """Keyed by the live's footage id, every chunk of a live went to one partition, so one worker encoded them all
    however many ran, and a live one worker could not keep up with stayed behind."""
    partitions = list(range(LIVE_CHUNKS.partitions))

    def partition(index: int) -> int:
        chunk = LiveChunk(
            footage_id="f" * 32,
            archive_id="a",
            index=index,
            start_s=12.0 * index,
            segments=(LiveSegment(key="live/a/seg00001.ts", duration_s=12.0),),
            channels=("local",),
        )
        key = record_key(LIVE_CHUNKS, chunk)
        assert key is not None
        return int(DefaultPartitioner()(key, partitions, partitions))

    sent = [partition(i) for i in range(2 * len(partitions))]
    assert sorted(sent[: len(partitions)]) == partitions and sent[len(partitions) :] == sent[: len(partitions)]
    # Two workers (whatever the assignor gave each) share a live's first chunks.
    assert {p % 2 for p in sent[:2]} == {0, 1}


def _job(*names: str, **edits: object) -> Job:
    outputs = tuple(
        Output(resolve(PROFILES[n], source_width=1280, source_height=720, duration_s=12.0), Path(f"/w/{n}.mp4"))
        for n in names
    )
    return Job(Path("/w/chunk.mkv"), HD, outputs, **edits)  # type: ignore[arg-type]


def test_what_a_live_join_cannot_make() -> None:
    assert live_problem(_job("youtube", "tiktok"), _job("youtube", "tiktok").outputs, subject=False) is None
    bumper = Bumper(Path("/w/intro.mp4"), HD)
    for job, words in (
        (_job("youtube", trim=Trim(2.0)), "a trim"),
        (_job("youtube", subtitles=Path("/w/s.srt")), "subtitles"),
        (_job("youtube", intro=bumper), "bumpers"),
        (_job("youtube", "zalo"), "zalo: its bitrate comes from the whole archive's length"),
    ):
        assert live_problem(job, job.outputs, subject=False) == words
    assert live_problem(_job("tiktok"), _job("tiktok").outputs, subject=True) is not None


def _chunk_probe(width: int, height: int) -> ProbeResult:
    """A 12 s live chunk (video only, Matroska) that already is a cut of that frame: H.264 High, BT.709, 30 fps."""
    video = StreamInfo(
        "video", "h264", width, height, profile="High", level=40, pix_fmt="yuv420p", sample_aspect_ratio="1:1",
        r_frame_rate=30.0, avg_frame_rate=30.0, field_order="progressive", color_range="tv", color_space="bt709",
        color_transfer="bt709", color_primaries="bt709",
    )  # fmt: skip
    return ProbeResult("matroska,webm", 12.0, 6_000_000, (video,))


def test_a_chunk_leaves_to_the_archive_only_the_cuts_the_archive_surely_passes_through() -> None:
    for (width, height), name, left in (
        ((1920, 1080), "youtube", True),
        ((1280, 720), "youtube", False),  # upscaled: encoded
        # A vertical live that already is the TikTok cut: a live longer than 10 minutes has its TikTok cut cut to
        # that length, encoded from the chunks, which no chunk can tell before the live ends.
        ((1080, 1920), "tiktok", False),
        ((1080, 1920), "shorts", False),
    ):
        probed = _chunk_probe(width, height)
        info = source_info(probed)
        target = resolve(PROFILES[name], source_width=width, source_height=height, duration_s=info.duration_s)
        out = Output(target, Path(f"/w/{name}.mp4"))
        assert left_to_the_archive(Job(Path("/w/chunk.mkv"), info, (out,)), out, probed) is left, name


def test_tiktok_and_shorts_share_one_encode_in_a_chunk() -> None:
    targets = [
        resolve(PROFILES[n], source_width=1280, source_height=720, duration_s=12.0)
        for n in ("tiktok", "shorts", "youtube")
    ]
    chosen = shared_outputs(targets, Path("/w"))
    assert chosen["tiktok"] is chosen["shorts"] and chosen["tiktok"].path == Path("/w/tiktok.mp4")
    assert chosen["youtube"].path == Path("/w/youtube.mp4")


def test_a_cut_that_ends_inside_a_chunk_has_a_file_of_its_own() -> None:
    targets = [
        resolve(PROFILES[n], source_width=1280, source_height=720, duration_s=12.0)
        for n in ("tiktok", "shorts", "youtube")
    ]
    chosen = shared_outputs(targets, Path("/w"), apart={"shorts"})
    assert chosen["shorts"] is not chosen["tiktok"]
    assert chosen["shorts"].path == Path("/w/shorts.mp4") and chosen["tiktok"].path == Path("/w/tiktok.mp4")


@pytest.mark.parametrize(
    ("frames_before", "kept"),
    [
        (5040, None),  # 180 s at 30 fps is frame 5400: a chunk of 360 frames from 5040 ends exactly there
        (5100, 300),  # the cut's last 300 frames
        (5399, 1),
        (5400, 1),  # announced before the cut's end, starting at it: one frame, which the join finds too many
        (4000, None),  # ends before the cut's end
    ],
)
def test_a_chunk_keeps_a_cuts_frames_up_to_its_end(frames_before: int, kept: int | None) -> None:
    assert frames_to_end(180.0, 30.0, frames_before, 360) == kept


def test_a_cut_ending_between_two_frames_keeps_the_frame_that_starts_before_its_end() -> None:
    # 600 s at 29.97 fps is 17982.018 frame periods: frame 17982 starts at 599.9994 s, so 17983 frames.
    assert frames_to_end(600.0, 30000 / 1001, 17900, 360) == 83
    assert frames_to_end(10.01, 30.0, 0, 360) == 301


def test_one_gain_to_the_target_and_a_limiter_only_when_the_peaks_need_it() -> None:
    assert gain_filter(-24.0, -20.0) == ["volume=10.00dB"]
    steps = gain_filter(-20.0, -3.0)
    assert steps[0] == "volume=6.00dB" and steps[1].startswith("alimiter=limit=")
    assert float(steps[1].split("limit=")[1].split(":")[0]) == pytest.approx(10 ** (LIMIT_DBFS / 20), abs=1e-4)
    assert "level=false" in steps[1]


SUMMARY = """[Parsed_ebur128_0 @ 0x55d0c8a3f2c0] Summary:

  Integrated loudness:
    I:         -23.4 LUFS
    Threshold: -33.9 LUFS

  Loudness range:
    LRA:         2.1 LU
    Threshold: -43.6 LUFS
    LRA low:   -24.5 LUFS
    LRA high:  -22.4 LUFS

  True peak:
    Peak:       -9.8 dBFS
"""


def test_ebur128s_summary_is_read_as_a_measurement() -> None:
    m = parse_ebur128("frame=  600\n" + SUMMARY)
    assert (m is not None) and (m.input_i, m.input_thresh, m.input_lra, m.input_tp) == (-23.4, -33.9, 2.1, -9.8)
    silent = SUMMARY.replace("-23.4 LUFS", "-inf LUFS").replace("-9.8 dBFS", "-inf dBFS")
    assert parse_ebur128(silent) is None
    with pytest.raises(ValueError, match="no summary"):
        parse_ebur128("frame=  600")


def test_a_chunks_sound_is_its_blocks_and_its_true_peak() -> None:
    line = "[Parsed_ebur128_0 @ 0x55d0c8a3f2c0] t: {t:.6f}   TARGET:-23 LUFS    M:{m:6.1f} S:-120.7     I: -70.0 LUFS\n"
    blocks = (-120.7, -120.7, -22.6, -24.3)  # gated: -23.37 LUFS, the summary's -23.4

    def log(blocks: tuple[float, ...]) -> str:
        return "".join(line.format(t=0.1 * (k + 2), m=m) for k, m in enumerate(blocks))

    assert live_sound(log(blocks) + SUMMARY) == LiveSound(momentary_lufs=blocks, true_peak_dbtp=-9.8)
    with pytest.raises(ValueError, match="no summary"):
        live_sound(log(blocks))  # no sound (nothing measured): not taken for silence
    # Blocks that do not give the summary's own loudness were not read as ebur128 wrote them: no measure.
    with pytest.raises(ValueError, match=r"the 2 blocks read give -20\.00 LUFS, the summary says -23\.4 LUFS"):
        live_sound(log((-20.0, -20.0)) + SUMMARY)
    with pytest.raises(ValueError, match=r"the 0 blocks read give silence, the summary says -23\.4 LUFS"):
        live_sound(SUMMARY)


def test_the_archives_level_is_every_chunks_blocks_gated_at_once_and_the_highest_peak() -> None:
    loud = LiveSound(momentary_lufs=(-120.7, -20.0, -20.0, -20.0), true_peak_dbtp=-6.0)
    quiet = LiveSound(momentary_lufs=(-120.7, -35.0, -35.0, -35.0), true_peak_dbtp=-19.0)
    silent = LiveSound(momentary_lufs=(-120.7, -120.7, -90.0), true_peak_dbtp=None)
    # The quiet chunk is more than 10 LU under the programme's mean: gated out over the whole, not averaged per chunk.
    assert measured_level([loud, quiet, silent, LiveSound()]) == (pytest.approx(-20.0), -6.0)
    # Alone, a quiet chunk's blocks are its own loudness.
    assert measured_level([quiet, silent]) == (pytest.approx(-35.0), -19.0)
    assert measured_level([silent, LiveSound()]) is None


def test_the_candidates_are_timed_chunk_after_chunk() -> None:
    results = [
        LiveChunkResult(start_s=0.0, duration_s=12.02, candidates=4),
        LiveChunkResult(start_s=12.02, duration_s=6.0, candidates=2),
    ]
    e = STILL_EVERY_S
    assert candidate_times(results) == [0.0, e, 2 * e, 3 * e, 12.02, round(12.02 + e, 3)]


def test_a_chunks_command_writes_video_only_cuts_and_its_sound_nowhere() -> None:
    job = _job("youtube", "tiktok")
    job = Job(job.source, job.info, job.outputs, candidates=Candidates(Path("/w/c.gray"), every_s=STILL_EVERY_S))
    args = build_args(job, audio=False)
    assert "-c:a" not in args and args.count("-an") == 0
    assert args[-7:] == ["-map", "[a0]", "-map", "[a1]", "-f", "null", "-"]
    for out in job.outputs:
        before = args[: args.index(f"file:{out.path}")]
        assert before[len(before) - before[::-1].index("-map") :][0].startswith("[v")


def _printed(frames: int, hashes: list[int]) -> LiveChunkResult:
    every = np.array(hashes, dtype=np.uint64)
    text = FramePrints(full=every, center=every, rate=Fraction(30)).to_text()
    return LiveChunkResult(
        start_s=0.0,
        duration_s=frames / 30,
        files={"youtube": "youtube.mp4"},
        frames={"youtube.mp4": frames},
        frame_prints={"youtube.mp4": text},
    )


def test_a_cuts_fingerprint_is_the_samples_of_its_chunks_frames_where_each_chunk_starts() -> None:
    # 30 fps sampled at 2: sample n shows frame 15 n + 7 (the last whose time rounds to n or before).
    results = [_printed(10, list(range(1, 11))), _printed(20, list(range(11, 31))), _printed(5, [31, 32, 33, 34, 35])]
    joined = joined_fingerprint(results, "youtube")
    assert joined is not None
    # Frames 7, 22 (the second chunk's 13th) and 37 (none: the cut has 35); the second chunk counted from frame 10.
    assert Fingerprint.from_text(joined).full.tolist() == [8, 23]
    # A chunk from before its frames were hashed: the whole cut is fingerprinted instead.
    assert joined_fingerprint([results[0], results[1].model_copy(update={"frame_prints": {}})], "youtube") is None


def _source_printed(frames: int, hashes: list[int]) -> LiveChunkResult:
    """A chunk whose every cut passes the source through: no file, the source's own frames hashed."""
    every = np.array(hashes, dtype=np.uint64)
    text = FramePrints(full=every, center=every, rate=Fraction(30)).to_text()
    return LiveChunkResult(
        start_s=0.0, duration_s=frames / 30, frames={LIVE_SOURCE: frames}, frame_prints={LIVE_SOURCE: text}
    )


def test_a_passed_through_cuts_fingerprint_is_the_samples_of_its_chunks_source_frames() -> None:
    results = [_source_printed(10, list(range(1, 11))), _source_printed(20, list(range(11, 31)))]
    results.append(_source_printed(5, [31, 32, 33, 34, 35]))
    joined = joined_fingerprint(results, "youtube", passed_through=True)
    assert joined is not None and Fingerprint.from_text(joined).full.tolist() == [8, 23]
    # Not from an encoded file's hashes: a chunk with only those (the cut encoded there) gives none.
    assert joined_fingerprint([_printed(10, list(range(1, 11)))], "youtube", passed_through=True) is None
    # A chunk from a release that hashed no source frames: the whole cut is fingerprinted instead.
    older = results[1].model_copy(update={"frame_prints": {}, "frames": {}})
    assert joined_fingerprint([results[0], older, results[2]], "youtube", passed_through=True) is None


def test_a_cut_whose_picture_starts_after_its_sound_is_sampled_from_its_first_frames_time() -> None:
    # A passed-through live's picture may start a little after its sound (19 ms): the fps filter's first sample is
    # that time rounded, and sample n shows frame 15 n + 6, not 15 n + 7.
    every = np.arange(1, 36, dtype=np.uint64)
    part = FramePrints(full=every, center=every, rate=Fraction(30))
    assert part.sampled(0).full.tolist() == [8, 23]
    assert part.sampled(0, start_s=0.019).full.tolist() == [7, 22]
    results = [_source_printed(10, list(range(1, 11))), _source_printed(25, list(range(11, 36)))]
    joined = joined_fingerprint(results, "youtube", passed_through=True, start_s=0.019)
    assert joined is not None and Fingerprint.from_text(joined).full.tolist() == [7, 22]


def test_a_chunks_source_frames_are_hashed_from_the_same_decode_as_its_cuts() -> None:
    job = _job("tiktok")
    args = chunk_args(job, [360], Path("/w/source.prints"))
    assert args.count("-i") == 1, "one input, decoded once"
    graph = args[args.index("-filter_complex") + 1]
    # The source's frames as decoded, before any filter of the cuts', every one of them, to the file.
    assert graph.count("[0:v:0]format=gray,split=2[printsa][printsb]") == 1
    assert args[-7:] == ["-map", "[prints]", "-fps_mode", "passthrough", "-f", "rawvideo", "file:/w/source.prints"]
    # Without it, the same command less the branch and its output.
    plain = chunk_args(job, [360])
    assert "prints" not in " ".join(plain) and plain[-1] == "file:/w/tiktok.mp4"
    assert [a for a in args[:-7] if a != graph] == [a for a in plain if "[s0]" not in a]


def test_a_chunk_whose_every_cut_passes_through_is_decoded_once_for_its_candidates_and_frames() -> None:
    job = Job(Path("/w/chunk.mkv"), HD, (), candidates=Candidates(Path("/w/c.gray"), every_s=STILL_EVERY_S))
    args = chunk_args(job, [], Path("/w/source.prints"))
    assert args.count("-i") == 1 and args.count("-map") == 2 and "[cand]" in args and "[prints]" in args
    # A chunk too short for a candidate: its frames only.
    only = chunk_args(Job(Path("/w/chunk.mkv"), HD, ()), [], Path("/w/source.prints"))
    assert only[only.index("-filter_complex") + 1].startswith("[0:v:0]format=gray") and only.count("-map") == 1


def test_a_frame_is_sampled_once_per_sample_it_covers() -> None:
    # At 1 fps every frame covers two samples of 2 fps: each is shown twice (the fps filter duplicates).
    part = FramePrints(
        full=np.array([5, 6], dtype=np.uint64), center=np.array([5, 6], dtype=np.uint64), rate=Fraction(1)
    )
    assert part.sampled(0).full.tolist() == [5, 5, 6, 6]


def test_a_chunk_result_written_by_a_newer_worker_is_read(tmp_path: Path) -> None:
    # A rolling upgrade: the result has a field this release does not know (frame_prints was one once).
    storage = LocalStorage(tmp_path)
    key = layout.live_chunk_key("f" * 32, 0, LIVE_RESULT)
    storage.put_stream(key, [b'{"start_s": 0, "duration_s": 12, "files": {"youtube": "youtube.mp4"}, "later": 1}'])
    result = asyncio.run(_read(storage, key, LiveChunkResult))
    assert result is not None and result.files == {"youtube": "youtube.mp4"}
    # Written before chunks measured their sound: none (the archive's is then measured whole).
    assert result.sound is None
    sound = LiveSound(momentary_lufs=(-120.7, -21.5), true_peak_dbtp=-3.2)
    stored = LiveChunkResult(start_s=0.0, duration_s=12.0, sound=sound)
    storage.put_stream(key, [stored.model_dump_json().encode()])
    assert asyncio.run(_read(storage, key, LiveChunkResult)) == stored
