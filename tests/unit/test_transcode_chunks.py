"""The chunk planner and its commands (transcode/chunks.py), without ffmpeg: when a footage is chunked, where the
chunks start and end, what each chunk's crop path and frame count are, and every reason to keep the single run."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
from aiokafka.partitioner import DefaultPartitioner

from loa_core.contracts import (
    TRANSCODE_CHUNKS,
    ChunkResult,
    FootageMetadata,
    FootageUploaded,
    SourceMedia,
    TranscodeChunk,
    chunk_slot,
    layout,
)
from loa_core.contracts.chunks import RESULT_NAME
from loa_core.fingerprint import Fingerprint, FramePrints
from loa_core.media import VideoPacket, parse_packets
from loa_core.storage import LocalStorage
from loa_transcode.chunked import chunk_requests, joined_cut_prints, read_result
from loa_transcode.chunks import (
    BOUNDARY_S,
    ChunkPlan,
    ChunkPolicy,
    SingleRun,
    audio_args,
    chunk_args,
    concat_input,
    concat_list,
    join_args,
    plan_chunks,
    slice_crop,
)
from loa_transcode.graph import CropPath, EncodeOptions, Job, Output, Trim, crop_script
from loa_transcode.profiles import PROFILES, resolve
from loa_transcode.source import SourceInfo

POLICY = ChunkPolicy(from_s=60.0, chunk_s=10.0, max_s=30.0)
FOOTAGE = "3b1f5c0e2d9a4e6f8a7b6c5d4e3f2a1b"


def upload_event() -> FootageUploaded:
    return FootageUploaded(
        footage_id=FOOTAGE,
        metadata=FootageMetadata(title="Đại hội", channels=("ward",)),
        media=SourceMedia(
            key=layout.source_key(FOOTAGE),
            size_bytes=1,
            sha256="0" * 64,
            duration_s=92.0,
            width=1920,
            height=1080,
            has_audio=True,
        ),
    )


def _info(duration_s: float, fps: float = 30.0, **kw: object) -> SourceInfo:
    return SourceInfo(1920, 1080, duration_s, True, "30" if fps == 30.0 else "25", fps, **kw)  # type: ignore[arg-type]


def _packets(duration_s: float, *, fps: float = 30.0, gop: int = 60, bframes: int = 2) -> list[VideoPacket]:
    """Closed GOPs in decode order: keyframe, then P before the B frames it anchors (as x264 writes them)."""
    n = round(duration_s * fps)
    order: list[int] = []
    for g in range(0, n, gop):
        end = min(n, g + gop)
        order.append(g)
        i = g + 1
        while i < end:
            anchor = min(i + bframes, end - 1)
            order += [anchor, *range(i, anchor)]
            i = anchor + 1
    return [VideoPacket(round(i / fps, 6), i % gop == 0) for i in order]


def test_ffprobes_packets_are_read_relative_to_the_files_start() -> None:
    raw = {
        "packets": [{"pts_time": "1.400000", "flags": "K__"}, {"pts_time": "N/A", "flags": "__"}],
        "format": {"start_time": "1.400000"},
    }
    assert parse_packets(raw) == (VideoPacket(0.0, True), VideoPacket(None, False))


def test_a_long_closed_gop_footage_is_cut_at_keyframes_into_chunks_covering_every_frame_once() -> None:
    plan = plan_chunks(_packets(92.0), _info(92.0), Trim(), POLICY, duration_s=92.0)
    assert isinstance(plan, ChunkPlan)
    assert plan.frames == 92 * 30
    # Keyframes every 2 s: a chunk ends at the first keyframe at least 10 s after its start.
    assert [c.first_frame for c in plan.chunks] == [0, 300, 600, 900, 1200, 1500, 1800, 2100, 2400]
    assert sum(c.frames for c in plan.chunks) == plan.frames
    for a, b in zip(plan.chunks, plan.chunks[1:], strict=False):
        assert a.first_frame + a.frames == b.first_frame
        assert a.end_s == b.start_s == round(b.first_frame / 30 - BOUNDARY_S, 6)
    assert plan.chunks[0].start_s == 0.0 and plan.chunks[-1].end_s is None
    # The last 2 s stay with the chunk before: a chunk under a quarter of the length is not worth a request.
    assert plan.chunks[-1].frames == 92 * 30 - 2400
    longer = plan_chunks(_packets(95.0), _info(95.0), Trim(), POLICY, duration_s=95.0)
    assert isinstance(longer, ChunkPlan) and longer.chunks[-1].frames == 5 * 30


def test_a_trimmed_footage_chunks_only_its_trim_and_the_first_chunk_starts_at_the_in_point() -> None:
    plan = plan_chunks(_packets(120.0), _info(120.0), Trim(12.5, 100.0), POLICY, duration_s=87.5)
    assert isinstance(plan, ChunkPlan)
    assert plan.chunks[0].start_s == 12.5 and plan.chunks[-1].end_s == 100.0
    assert plan.frames == (100 * 30) - 375
    assert plan.chunks[1].start_s == round(24.0 - BOUNDARY_S, 6)  # the first keyframe 10 s after 12.5 s


def test_a_cut_shorter_than_the_footage_takes_frames_of_the_first_chunks_only() -> None:
    plan = plan_chunks(_packets(95.0), _info(95.0), Trim(), POLICY, duration_s=95.0)
    assert isinstance(plan, ChunkPlan)
    frames = plan.cut_frames(25.0)
    assert frames == 750
    assert [plan.frames_in(c, frames) for c in plan.chunks[:4]] == [300, 300, 150, 0]
    assert plan.cut_frames(95.0) == plan.frames == plan.cut_frames(95.02)
    assert plan.offset_s(plan.chunks[2]) == 20.0


def test_what_keeps_the_single_run() -> None:
    def reason(packets: list[VideoPacket], info: SourceInfo | None = None, **kw: object) -> str:
        policy = kw.pop("policy", POLICY)
        plan = plan_chunks(packets, info or _info(95.0), Trim(), policy, duration_s=95.0, **kw)  # type: ignore[arg-type]
        assert isinstance(plan, SingleRun)
        return plan.reason

    assert "shorter" in str(plan_chunks(_packets(50.0), _info(50.0), Trim(), POLICY, duration_s=50.0))
    # One keyframe in 95 s: no chunk shorter than the limit.
    assert "no keyframe for 95 s" in reason(_packets(95.0, gop=95 * 30))
    # Every chunk within the limit, but only one.
    assert reason(_packets(95.0, gop=95 * 30), policy=ChunkPolicy(60.0, 10.0, 100.0)) == "no keyframe splits it"
    # A keyframe every 40 s: chunks would be 40 s, over the 30 s limit.
    assert "no keyframe for 40 s" in reason(_packets(95.0, gop=40 * 30))
    # Open GOP: a B frame after the keyframe (in decode order) is shown before it.
    packets = _packets(95.0)
    k = next(i for i, p in enumerate(packets) if p.key and p.pts_s == 2.0)
    packets.insert(k + 1, packets.pop(k - 1))
    assert "open GOP at 2.000 s" in reason(packets)
    # Variable frame rate: one frame 40 ms after the previous one.
    vfr = [VideoPacket(p.pts_s + 0.007 if p.pts_s and p.pts_s > 50 else p.pts_s, p.key) for p in _packets(95.0)]
    assert "not a constant 30" in reason(vfr)
    # A 25 fps source made 30 fps: the fps filter would repeat frames where each run starts.
    assert "not a constant" in reason(_packets(95.0, fps=25.0), _info(95.0))
    assert reason(_packets(95.0), _info(95.0, interlaced=True)) == "interlaced source"
    assert "intro or outro" in reason(_packets(95.0), bumpers=True)
    assert "without timestamps" in reason([*_packets(95.0), VideoPacket(None, False)])


def test_a_crop_path_sliced_at_a_chunk_moves_the_window_as_the_whole_does() -> None:
    path = CropPath(608, 1080, ((0.0, 0.0), (20.0, 400.0), (40.0, 400.0)), fallback=((5.0, 8.0), (25.0, 50.0)))
    sliced = slice_crop(path, 10.0, 10.0)
    # Halfway along the first stretch at the chunk's start; the next keyframe kept as the stretch's target.
    assert sliced.keyframes == ((0.0, 200.0), (10.0, 400.0))
    assert sliced.fallback == ()
    late = slice_crop(path, 22.0, 10.0)
    assert late.keyframes == ((0.0, 400.0), (18.0, 400.0)) and late.fallback == ((3.0, 28.0),)
    # The script of the slice gives the same x at a chunk time as the whole script at the cut's time.
    assert "crop@f0 x '200+(200)*(t-0)/10'" in crop_script(
        Job(Path("s"), _info(95.0), (Output(_target(), Path("o"), crop=sliced),))
    )


def _target():  # type: ignore[no-untyped-def]
    return resolve(PROFILES["zalo"], source_width=1920, source_height=1080, duration_s=95.0)


def test_a_chunk_command_is_video_only_exact_in_frames_and_reads_only_its_stretch() -> None:
    job = Job(Path("/src.mp4"), _info(95.0), (Output(_target(), Path("/w/zalo.mp4")),), trim=Trim(9.999, 19.999))
    args = chunk_args(job, [300])
    assert args[:4] == ["-ss", "9.999", "-to", "19.999"]
    assert "-frames:v" in args and args[args.index("-frames:v") + 1] == "300"
    graph = args[args.index("-filter_complex") + 1]
    assert "loudnorm" not in graph and "aout" not in graph and "-c:a" not in args


def test_the_audio_command_makes_each_cuts_whole_programme_audio_once() -> None:
    job = Job(Path("/src.mp4"), _info(95.0), (Output(_target(), Path("/w/zalo.m4a")),), trim=Trim(2.0))
    args = audio_args(job)
    assert "-c:v" not in args and args[args.index("-c:a") + 1] == "aac" and args[args.index("-b:a") + 1] == "96k"
    # From the in point, as long as the cut (the target's length, the video's too).
    assert args[:2] == ["-ss", "2"] and args[args.index("-t") + 1] == "95.000000" and args[-1] == "file:/w/zalo.m4a"


def test_the_join_copies_streams_and_lists_the_chunks_in_order() -> None:
    text = concat_list([Path("/w/a/0.mp4"), Path("/w/it's/1.mp4")])
    assert text.splitlines() == ["ffconcat version 1.0", "file 'file:/w/a/0.mp4'", "file 'file:/w/it'\\''s/1.mp4'"]
    args = join_args(concat_input(Path("/w/list")), Path("/w/a.m4a"), Path("/w/out.mp4"))
    assert args[args.index("-c") + 1] == "copy" and "-filter_complex" not in args and "-t" not in args
    assert args[:6] == ["-f", "concat", "-safe", "0", "-i", "file:/w/list"]
    # A live's chunks: each starts where the frames before it end; a cut shorter than its chunks ends at its length.
    timed = concat_list([Path("/w/0.mp4"), Path("/w/1.mp4")], [12.0, 4.0 / 3])
    assert timed.splitlines()[1:] == ["file 'file:/w/0.mp4'", "duration 12.000000", "file 'file:/w/1.mp4'",
                                      "duration 1.333333"]  # fmt: skip
    ended = join_args(["-i", "file:/w/archive.mp4"], Path("/w/a.m4a"), Path("/w/out.mp4"), duration_s=600.0)
    assert ended[ended.index("-t") + 1] == "600.000000"


def test_a_jobs_chunks_go_round_the_partitions() -> None:
    partitions = TRANSCODE_CHUNKS.partitions
    sent = [DefaultPartitioner()(chunk_slot(i, partitions).encode(), list(range(partitions)), []) for i in range(30)]
    assert sorted(sent[:12]) == list(range(12)) and sent[12:24] == sent[:12] and sent[:4] == [0, 6, 3, 9]
    # Whatever the assignor: a contiguous half of the partitions each, or every other one, two workers share the
    # first four chunks of a job (the bench once saw the first six go to one worker holding partitions 0-5).
    assert {p // 6 for p in sent[:2]} == {0, 1} and {p % 2 for p in sent[:4]} == {0, 1}


def test_chunk_requests_carry_each_cuts_frames_and_subtitles_on_the_chunks_timeline(tmp_path: Path) -> None:
    subtitles = tmp_path / "cut.srt"
    subtitles.write_text("1\n00:00:09,000 --> 00:00:11,000\nChào mừng\n\n", "utf-8")
    info = _info(92.0)
    youtube = resolve(PROFILES["youtube"], source_width=1920, source_height=1080, duration_s=92.0)
    shorts = resolve(PROFILES["shorts"], source_width=1920, source_height=1080, duration_s=15.0)
    outputs = (Output(youtube, tmp_path / "youtube.mp4"), Output(shorts, tmp_path / "shorts.mp4"))
    job = Job(tmp_path / "src.mp4", info, outputs, subtitles=subtitles)
    plan = plan_chunks(_packets(92.0), info, Trim(), POLICY, duration_s=92.0)
    assert isinstance(plan, ChunkPlan)
    event = upload_event()
    chunks = chunk_requests(job, event, plan, outputs, "branding/ward/ward/logo-0123456789abcdef.png")
    assert [c.index for c in chunks] == list(range(9)) and {c.count for c in chunks} == {9}
    assert [[(cut.profile, cut.frames) for cut in c.cuts] for c in chunks[:3]] == [
        [("youtube", 300), ("shorts", 300)],
        [("youtube", 300), ("shorts", 150)],
        [("youtube", 300)],
    ]
    assert chunks[0].subtitles is not None and "00:00:09,000 --> 00:00:10,000" in chunks[0].subtitles
    assert chunks[1].subtitles is not None and "00:00:00,000 --> 00:00:01,000" in chunks[1].subtitles
    assert chunks[2].subtitles is None
    # The same plan for the same upload is the same job (a redone job finds its chunks); another plan is another.
    again = chunk_requests(job, event, plan, outputs, "branding/ward/ward/logo-0123456789abcdef.png")
    assert [c.job_id for c in again] == [c.job_id for c in chunks] and len({c.job_id for c in chunks}) == 1
    other = chunk_requests(replace(job, options=EncodeOptions(crf=20)), event, plan, outputs, None)
    assert other[0].job_id != chunks[0].job_id


def test_a_chunk_result_written_by_a_newer_worker_is_read(tmp_path: Path) -> None:
    # A rolling upgrade: the result has a field this release does not know; the owner still reads the frames.
    storage = LocalStorage(tmp_path)
    key = layout.chunk_key("f" * 32, "e" * 32, 0, RESULT_NAME)
    storage.put_stream(key, [b'{"frames": {"youtube": 360}, "later": 1}'])
    assert read_result(storage, key).frames == {"youtube": 360}


def test_a_chunked_cuts_fingerprint_comes_from_its_chunks_frame_hashes_or_from_the_whole_cut(tmp_path: Path) -> None:
    info = _info(92.0)
    youtube = resolve(PROFILES["youtube"], source_width=1920, source_height=1080, duration_s=92.0)
    shorts = resolve(PROFILES["shorts"], source_width=1920, source_height=1080, duration_s=15.0)
    outputs = (Output(youtube, tmp_path / "youtube.mp4"), Output(shorts, tmp_path / "shorts.mp4"))
    plan = plan_chunks(_packets(92.0), info, Trim(), POLICY, duration_s=92.0)
    assert isinstance(plan, ChunkPlan)
    chunks = chunk_requests(Job(tmp_path / "src.mp4", info, outputs), upload_event(), plan, outputs, None)

    def hashed(chunk: TranscodeChunk) -> ChunkResult:
        # Each frame of each cut's file hashed as its number in the cut (1-based: 0 is NO_PICTURE).
        prints = {}
        for cut in chunk.cuts:
            first = sum(k.frames for c in chunks[: chunk.index] for k in c.cuts if k.profile == cut.profile)
            every = np.arange(first + 1, first + cut.frames + 1, dtype=np.uint64)
            prints[cut.profile] = FramePrints(full=every, center=every, rate=Fraction(30)).to_text()
        return ChunkResult(frames={c.profile: c.frames for c in chunk.cuts}, frame_prints=prints)

    results = {c.index: hashed(c) for c in chunks}
    # 30 fps sampled at 2: sample n shows frame 15 n + 7 (its number 15 n + 8), across every seam.
    for name, frames in (("youtube", 92 * 30), ("shorts", 15 * 30)):
        joined = joined_cut_prints(name, chunks, results)
        assert joined is not None
        assert Fingerprint.from_text(joined).full.tolist() == [15 * n + 8 for n in range(frames // 15)], name
    # A chunk from a release before chunks hashed their frames (its stored result has no prints): the cut is
    # fingerprinted whole, the other cut still from its chunks.
    storage = LocalStorage(tmp_path / "storage")
    key = layout.chunk_key(FOOTAGE, chunks[0].job_id, 2, RESULT_NAME)
    storage.put_stream(key, [b'{"frames": {"youtube": 300}}'])
    results[2] = read_result(storage, key)
    assert results[2].frame_prints == {}
    assert joined_cut_prints("youtube", chunks, results) is None
    assert joined_cut_prints("shorts", chunks, results) is not None
