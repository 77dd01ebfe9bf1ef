"""A livestream transcoded while it is still live (contracts/live.py): each live chunk's video and sound are
encoded as it comes, and the archive's job joins them.

Any worker's side (`encode_live_chunk`): the chunk's segments, joined by stream copy, have their sound measured in
the same run (EBU R128 blocks that add up: `LiveSound`), and the chunk's measure (its frames and that sound) is
written before anything is encoded; then its video is encoded into every cut of the archive's channels, with the
thumbnail candidates, and its sound with the live's gain so far, from a pre-roll of the segments before it
(live_splice); the files, then the result (last), go to `layout.live_chunk_key(...)`. A chunk whose result is in
storage is not encoded again.

The archive's job (`join_live`, called by the pipeline in place of the single run): wait for every chunk's result,
join each cut's video by stream copy (x264 with the same settings writes the same headers, and each chunk starts
with a keyframe), splice the chunks' sound by stream copy on AAC frames, and put it beside each cut's video. What is
left after the live's end is the last chunk, copying and the checks: bounded by the chunk length, not the live's,
but for copying the cuts and the check's measure of their sound. The chunks' sound gives way to the archive's sound
encoded once with one gain (the whole archive's loudness from the chunks' blocks gated together, `measured_level`;
measured whole only when a chunk from an older release has no measure) when a chunk has none or the splice is off
the target. Anything short of every chunk's video returns None and the pipeline encodes the archive in a single
run; a join that does not conform fails the checks like any cut.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

from loa_core.contracts import (
    LIVE_CANDIDATES,
    LIVE_MEASURE,
    LIVE_RESULT,
    LIVE_SOURCE,
    FootageUploaded,
    LiveChunk,
    LiveChunkMeasure,
    LiveChunkResult,
    LiveEncodedSound,
    LiveSound,
    layout,
)
from loa_core.contracts.base import Contract
from loa_core.fingerprint import frame_prints, hashed_frames, joined_prints
from loa_core.media import MediaError, ProbeResult, run_ffmpeg
from loa_core.segments import SegmentVideo, concat_script, probe_segments, spans
from loa_core.storage import ObjectNotFound, Storage
from loa_core.streaming import PermanentError, RetryableError
from loa_transcode import live_splice
from loa_transcode.chunks import chunk_args, concat_input, concat_list, join_args
from loa_transcode.conform import LOUDNESS_TOLERANCE_LU, MAX_TRUE_PEAK_DBTP
from loa_transcode.graph import (
    TARGET_LUFS,
    Candidates,
    Job,
    Output,
    Trim,
    frames_before_end,
    passthrough_problems,
)
from loa_transcode.loudness import Loudness, gated_loudness, momentary_blocks, summary_true_peak
from loa_transcode.pipeline import JobContext, _fetch, _probe, channel_look, wanted_profiles
from loa_transcode.profiles import Profile, Target, profiles_for, resolve
from loa_transcode.source import source_info

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Contract)

# One thumbnail candidate every this many seconds of the live, from each chunk as it is encoded.
STILL_EVERY_S = 4.0
# The archive's job waits for the chunks still being encoded, but encodes in a single run when none has finished for
# this long (a chunk lost, or no worker taking live chunks).
CHUNK_STALL_S = 180.0
POLL_S = 0.5
# Over this sample peak (dBFS) after the gain, a limiter holds the peaks (true peak stays under -1 dBTP).
LIMIT_DBFS = -2.5
# EBU R128's absolute gate: at or under it, the sound is taken as silence.
SILENCE_LUFS = -70.0
# A chunk's sound measured in the run that joins its segments (decoded, nothing written): ebur128's frame log gives
# each 400 ms block's loudness every 100 ms (`framelog=info`: printed at ffmpeg's default log level), its summary the
# true peak. The picture is copied there too (no decode), so that the output has a stream when the live has no sound.
MEASURE_SOUND = [
    *("-map", "0:v:0?", "-map", "0:a:0?", "-c:v", "copy"),
    *("-af", "ebur128=framelog=info:peak=true", "-f", "null", "-"),
]
# The blocks read from the frame log give the chunk's own integrated loudness, as ebur128's summary prints it, within
# this: both are printed to 0.1 LU, and ebur128 gates a histogram of 0.01 LU bins. Further apart, the log was misread.
BLOCKS_SLACK_LU = 0.3


# --- the pure decisions -------------------------------------------------------------------------------------------


def live_problem(job: Job, outputs: Sequence[Output], subject: bool) -> str | None:
    """Why a job cannot be made from live chunks (pure); None when it can."""
    if job.trim != Trim():
        return "a trim"
    if job.subtitles is not None:
        return "subtitles"
    if job.bumpers:
        return "bumpers"
    if subject:
        return "the subject crop (planned over the whole archive)"
    sized = [o.target.name for o in outputs if o.target.video_kbps is not None]
    if sized:
        return f"{', '.join(sized)}: its bitrate comes from the whole archive's length"
    return None


def left_to_the_archive(job: Job, out: Output, probed: ProbeResult) -> bool:
    """Whether a chunk leaves this cut's video to the archive's, encoding nothing for it (pure): only when the
    archive's job will pass it through too, or the join would lack the cut's chunks and take the single run. A cut
    with a length of its own (TikTok's 10 minutes) is encoded: the live may outlast it, and the archive is then cut
    to that length (`passthrough_problems` on the whole archive), which no chunk can tell yet."""
    return not passthrough_problems(job, out, probed) and out.target.profile.max_duration_s is None


def chunk_file_name(target: Target) -> str:
    return f"{target.name}.mp4"


def shared_outputs(targets: Sequence[Target], workdir: Path, apart: Collection[str] = ()) -> dict[str, Output]:
    """Each cut's file in a chunk: cuts of the same frame and settings (TikTok and Shorts) share one encode, but for
    the cuts `apart` (one that ends inside the chunk has fewer frames)."""
    by_shape: dict[tuple[object, ...], Output] = {}
    chosen: dict[str, Output] = {}
    for t in targets:
        p = t.profile
        shape = (t.name,) if t.name in apart else (t.width, t.height, t.video_kbps, p.preset, p.crf)
        chosen[t.name] = by_shape.setdefault(shape, Output(t, workdir / chunk_file_name(t)))
    return chosen


def frames_to_end(max_duration_s: float, fps: float, frames_before: int, frames: int) -> int | None:
    """How many of a chunk's `frames` a cut at most `max_duration_s` long keeps, the chunk starting `frames_before`
    frames into the cut (pure): the frames that start before the cut's end, as the join counts them; None when the
    cut keeps all of them. At least one: the join takes a chunk whose announced start is before the cut's end."""
    kept = frames_before_end(max_duration_s, fps) - frames_before
    return max(kept, 1) if kept < frames else None


def gain_filter(integrated_lufs: float, true_peak_dbtp: float) -> list[str]:
    """One gain to the target loudness, and a limiter only when the peaks would pass LIMIT_DBFS (pure)."""
    gain = TARGET_LUFS - integrated_lufs
    steps = [f"volume={gain:.2f}dB"]
    if true_peak_dbtp + gain > LIMIT_DBFS:
        steps.append(_limiter())
    return steps


def _limiter(*, latency: bool = False) -> str:
    """A limiter that holds the peaks under LIMIT_DBFS. level=false: no make-up gain (which would move the loudness).
    `latency`: its look-ahead's delay taken back, for a chunk's sound that must stay where its seams are."""
    limiter = f"alimiter=limit={10 ** (LIMIT_DBFS / 20):.4f}:attack=1:release=50:level=false"
    return limiter + (":latency=1" if latency else "")


_SUMMARY = re.compile(
    r"Integrated loudness:\s*I:\s*(?P<i>-?[0-9.]+|-inf) LUFS\s*Threshold:\s*(?P<thresh>-?[0-9.]+|-inf) LUFS"
    r".*?Loudness range:\s*LRA:\s*(?P<lra>-?[0-9.]+) LU"
    r".*?True peak:\s*Peak:\s*(?P<tp>-?[0-9.]+|-inf) dBFS",
    re.DOTALL,
)


def parse_ebur128(stderr: str) -> Loudness | None:
    """ebur128's summary (integrated loudness, threshold, range, true peak) as a Loudness; None for silence."""
    found = list(_SUMMARY.finditer(stderr))
    if not found:
        raise ValueError("ebur128 printed no summary")
    m = found[-1]
    if "inf" in m["i"] or "inf" in m["tp"] or float(m["i"]) <= SILENCE_LUFS:
        # Silence (ebur128's gate is -70 LUFS): nothing to bring to the target, as loudness.parse_loudnorm says.
        return None
    return Loudness(
        input_i=float(m["i"]),
        input_tp=float(m["tp"]),
        input_lra=float(m["lra"]),
        input_thresh=float(m["thresh"]) if m["thresh"] != "-inf" else -70.0,
        target_offset=0.0,
    )


def live_sound(stderr: str) -> LiveSound:
    """A chunk's sound as MEASURE_SOUND printed it (pure). ValueError: no measure (no sound), or blocks that do not
    give the chunk's own integrated loudness printed in ebur128's summary (a frame log not read as it was written)."""
    blocks = tuple(momentary_blocks(stderr))
    own, ours = parse_ebur128(stderr), gated_loudness(blocks)
    if (own is None) != (ours is None) or (
        own is not None and ours is not None and abs(own.input_i - ours) > BLOCKS_SLACK_LU
    ):
        read = "silence" if ours is None else f"{ours:.2f} LUFS"
        summary = "silence" if own is None else f"{own.input_i:g} LUFS"
        raise ValueError(f"the {len(blocks)} blocks read give {read}, the summary says {summary}")
    return LiveSound(momentary_lufs=blocks, true_peak_dbtp=summary_true_peak(stderr))


def measured_level(sounds: Sequence[LiveSound]) -> tuple[float, float] | None:
    """The whole archive's integrated loudness (LUFS) and true peak (dBTP) from its chunks' sounds (pure): EBU R128's
    gates over every chunk's blocks at once, and the highest chunk's peak. None: silence. What the whole's measure
    has and this lacks: the 3 blocks that straddle each seam (their sound is in the blocks on either side)."""
    integrated = gated_loudness(b for s in sounds for b in s.momentary_lufs)
    peaks = [s.true_peak_dbtp for s in sounds if s.true_peak_dbtp is not None]
    if integrated is None or not peaks:
        return None
    return integrated, max(peaks)


def joined_fingerprint(
    results: Sequence[LiveChunkResult], cut: str, *, passed_through: bool = False, start_s: float = 0.0
) -> str | None:
    """The cut's fingerprint from its chunks' frame hashes (pure): each chunk's samples once the frames before it
    are counted, end to end, which is exactly the whole cut's (frame-exact chunks at a constant rate); None when a
    chunk has none (from before they were made) or not one per frame, and the cut is then fingerprinted whole.
    `passed_through`: the cut is the archive's own video, whose frames are each chunk's source's (LIVE_SOURCE),
    its first frame at `start_s` in the cut (the archive's picture may start a little after its sound)."""
    files = [LIVE_SOURCE if passed_through else r.files[cut] for r in results]
    return joined_prints(
        [(r.frame_prints.get(f), r.frames.get(f)) for r, f in zip(results, files, strict=True)], start_s=start_s
    )


def candidate_times(results: Sequence[LiveChunkResult]) -> list[float]:
    """The time in the archive of each thumbnail candidate, chunk after chunk (pure)."""
    return [round(r.start_s + k * STILL_EVERY_S, 3) for r in results for k in range(r.candidates)]


# --- any worker: one chunk ----------------------------------------------------------------------------------------


async def _read(storage: Storage, key: str, kind: type[C]) -> C | None:
    """A chunk's result or measure as stored; None when it is not written yet."""
    try:
        if not await asyncio.to_thread(storage.exists, key):
            return None
        with await asyncio.to_thread(storage.open_read, key) as f:
            # A worker of a newer release may have written fields this one does not know: ignored.
            return kind.read_json(f.read())
    except ObjectNotFound:
        return None
    except OSError as exc:
        raise RetryableError(f"storage unavailable while reading {key}: {exc}") from exc


async def _write(storage: Storage, key: str, contract: Contract, workdir: Path) -> None:
    """A chunk's result or measure, stored under `key` (by way of a file in `workdir`)."""
    path = workdir / key.rsplit("/", 1)[-1]
    path.write_text(contract.model_dump_json(), "utf-8")
    await _put(storage, key, path)


async def _readable(storage: Storage, key: str, dest: Path) -> Path:
    try:
        return await asyncio.to_thread(storage.readable, key, dest)
    except ObjectNotFound as exc:
        raise PermanentError(f"{key} is not in storage") from exc
    except OSError as exc:
        raise RetryableError(f"storage unavailable while reading {key}: {exc}") from exc


async def _put(storage: Storage, key: str, path: Path) -> None:
    try:
        await asyncio.to_thread(storage.put_file, key, path)
    except OSError as exc:
        raise RetryableError(f"storage unavailable while writing {key}: {exc}") from exc


async def encode_live_chunk(chunk: LiveChunk, ctx: JobContext) -> LiveChunkResult:
    """Encode one live chunk's video into each cut of the archive's channels (see the module's docstring)."""
    storage = ctx.storage
    result_key = layout.live_chunk_key(chunk.footage_id, chunk.index, LIVE_RESULT)
    existing = await _read(storage, result_key, LiveChunkResult)
    if existing is not None:
        log.info("live chunk %s/%d: already encoded", chunk.footage_id, chunk.index)
        return existing
    workdir = ctx.workdir_root / f"live-{chunk.footage_id}-{chunk.index:05d}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    try:
        result = await _encode_chunk(chunk, ctx, workdir)
        if result.error is not None:
            log.info("live chunk %s/%d: not encoded (%s)", chunk.footage_id, chunk.index, result.error)
        await _write(storage, result_key, result, workdir)  # last: "this chunk is done"
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def _encode_chunk(chunk: LiveChunk, ctx: JobContext, workdir: Path) -> LiveChunkResult:
    storage = ctx.storage

    def failed(reason: str) -> LiveChunkResult:
        return LiveChunkResult(start_s=chunk.start_s, duration_s=chunk.duration_s, error=reason)

    try:
        profiles = profiles_for(wanted_profiles(chunk.channels, ctx.channels))
    except (KeyError, PermanentError) as exc:
        return failed(str(exc))
    paths = [await _readable(storage, s.key, workdir / s.key.rsplit("/", 1)[-1]) for s in chunk.segments]
    # The segments on the archive's own timeline (loa_core.segments: the archiver joins them the same way), so the
    # chunk's frames are exactly the archive's frames of its stretch.
    try:
        videos = await probe_segments(paths)
    except MediaError as exc:
        return failed(f"the segments do not probe: {exc}")
    lasting = spans(videos)
    if lasting is None:
        return failed("the segments have no video")
    listing = workdir / "segments.txt"
    listing.write_text(concat_script(paths, videos), "utf-8")
    source = workdir / "chunk.mkv"
    try:
        joining = await run_ffmpeg(
            [*concat_input(listing), "-map", "0:v:0", "-c", "copy", "-f", "matroska", f"file:{source}", *MEASURE_SOUND]
        )
    except MediaError as exc:
        return failed(f"the segments do not join: {exc}")
    try:
        sound: LiveSound | None = live_sound(joining)
    except ValueError as exc:
        # No sound, or no measure of it: the archive's sound, when it has one, is then measured whole at the end.
        log.info("live chunk %s/%d: its sound not measured (%s)", chunk.footage_id, chunk.index, exc)
        sound = None
    probed = await _probe(source, f"live chunk {chunk.index}")
    info = source_info(probed)
    # Its frames at the cut's rate: one per frame of the live, a dropped frame's place repeated (as the fps filter
    # does in a single run of the archive).
    expected = round(sum(lasting) * info.fps_value)
    # Written before any encode: the chunks after this one take from it where they start and the live's loudness.
    measure = LiveChunkMeasure(frames=expected, sound=sound)
    await _write(storage, layout.live_chunk_key(chunk.footage_id, chunk.index, LIVE_MEASURE), measure, workdir)
    look = channel_look(chunk.channels, ctx.channels)
    job = Job(
        source=source,
        info=replace(info, has_audio=False),  # video only: the sound is encoded apart (_encode_sound)
        outputs=(),
        options=ctx.options,
        logo=await _fetch(storage, look.logo_key, workdir / "logo.png"),
    )
    if look.intro_key or look.outro_key:
        return failed("not made from live chunks: bumpers")
    # Cuts that end before this chunk (a 10-minute TikTok cut of a longer live) have nothing in it.
    wanted = [p for p in profiles if p.max_duration_s is None or p.max_duration_s > chunk.start_s]
    targets = [
        resolve(p, source_width=info.width, source_height=info.height, duration_s=info.duration_s) for p in wanted
    ]
    # A cut with a length of its own that ends inside this chunk keeps only its frames up to its end: stream copy
    # cannot end a cut between two frames (it cuts in decoding order, B-frames after their references).
    end_s = chunk.start_s + chunk.duration_s
    cut_ends = {
        p.name: p.max_duration_s for p in wanted if p.max_duration_s is not None and end_s > p.max_duration_s - 1
    }
    before = await _measures_before(storage, chunk) if cut_ends else None
    ending = {}
    for name, cut_end_s in cut_ends.items():
        if before is None:
            # Where the chunk starts in the cut is not known: the join will find the cut too long.
            log.info("live chunk %s/%d: the %s cut may end in it, and a chunk before it is not measured yet",
                     chunk.footage_id, chunk.index, name)  # fmt: skip
            continue
        kept = frames_to_end(cut_end_s, info.fps_value, sum(m.frames for m in before), expected)
        if kept is not None:
            ending[name] = kept
    outputs = shared_outputs(targets, workdir, apart=set(ending))
    counts = {o: ending.get(name, expected) for name, o in outputs.items()}
    problem = live_problem(job, list(outputs.values()), subject=False)
    if problem is not None:
        return failed(f"not made from live chunks: {problem}")
    # A cut the source passes through is copied from the archive at the end: nothing to encode for it here.
    encoded = {n: o for n, o in outputs.items() if not left_to_the_archive(job, o, probed)}
    # Such a cut's fingerprint over this chunk is the source's frames': hashed whenever the archive may pass a cut
    # through (its bitrate and length are the whole archive's to judge), used by the join only for a cut it does.
    passable = any(not passthrough_problems(job, o, probed, stretch=True) for o in outputs.values())
    source_prints = workdir / "source.prints" if passable else None
    # ffmpeg's fps filter gives a candidate only for a stretch that reaches half its spacing: none from a chunk
    # shorter than the spacing, rather than an empty output that fails the run.
    candidates = Candidates(workdir / LIVE_CANDIDATES, every_s=STILL_EVERY_S) if sum(lasting) >= STILL_EVERY_S else None
    job = replace(job, outputs=tuple(dict.fromkeys(encoded.values())), candidates=candidates)
    if job.outputs or candidates is not None or source_prints is not None:
        try:
            # One decode of the chunk for its cuts, its candidates and its source's frames (even with no cut to
            # encode: every cut passes through).
            await run_ffmpeg(chunk_args(job, [counts[o] for o in job.outputs], source_prints))
        except MediaError as exc:
            return failed(f"ffmpeg could not encode the chunk: {exc}")
    frames: dict[str, int] = {}
    prints: dict[str, str] = {}
    if source_prints is not None:
        # At the archive's own rate (passthrough_problems: constant, within 0.1 %).
        hashed = await hashed_frames(source_prints.read_bytes(), Fraction(info.fps))
        if len(hashed.full) == expected:
            prints[LIVE_SOURCE], frames[LIVE_SOURCE] = hashed.to_text(), expected
        else:
            # Not one frame per period (a frame dropped): not the constant rate the join's samples assume.
            hashes = len(hashed.full)
            log.info("live chunk %s/%d: %d source frames, not %d", chunk.footage_id, chunk.index, hashes, expected)
    for out in job.outputs:
        video = (await _probe(out.path, out.path.name)).video
        found = video.nb_frames if video is not None else None
        if video is None or found != counts[out]:
            # Never joined: a chunk a frame short or long would move every frame after its seam.
            return failed(f"{out.path.name}: {found} frames, expected {counts[out]}")
        frames[out.path.name] = counts[out]
        # The cut's fingerprint over this chunk, made now rather than from the whole cut once the live has ended.
        rate = Fraction(video.r_frame_rate).limit_denominator(1001)
        try:
            prints[out.path.name] = (await frame_prints(out.path, rate)).to_text()
        except MediaError as exc:
            return failed(f"could not fingerprint {out.path.name}: {exc}")
        await _put(storage, layout.live_chunk_key(chunk.footage_id, chunk.index, out.path.name), out.path)
    count = 0
    if candidates is not None and candidates.path.exists():
        count = candidates.path.stat().st_size // (candidates.width * candidates.height)
        if count:
            await _put(storage, layout.live_chunk_key(chunk.footage_id, chunk.index, LIVE_CANDIDATES), candidates.path)
    files = {name: o.path.name for name, o in encoded.items()}
    log.info("live chunk %s/%d: encoded %s (%.1f s)", chunk.footage_id, chunk.index, sorted(files), chunk.duration_s)
    made_sound = None
    if sound is not None:
        segments = (paths, videos)
        made_sound = await _encode_sound(chunk, ctx, workdir, segments, (expected, info.fps_value), sound, profiles)
    return LiveChunkResult(
        start_s=chunk.start_s,
        duration_s=chunk.duration_s,
        files=files,
        frames=frames,
        candidates=count,
        frame_prints=prints,
        sound=sound,
        encoded_sound=made_sound,
    )


# The measures of chunks already read by this worker (a measure never changes once written): a chunk reads every
# measure before it, and each is fetched once.
_measures: dict[tuple[str, int], LiveChunkMeasure] = {}
MEASURES_KEPT = 20000


async def _measures_before(storage: Storage, chunk: LiveChunk) -> list[LiveChunkMeasure] | None:
    """Every measure of the chunks before this one; None when one is not written yet."""
    found = []
    for index in range(chunk.index):
        known = _measures.get((chunk.footage_id, index))
        if known is None:
            key = layout.live_chunk_key(chunk.footage_id, index, LIVE_MEASURE)
            known = await _read(storage, key, LiveChunkMeasure)
            if known is None:
                return None
            if len(_measures) >= MEASURES_KEPT:
                _measures.clear()
            _measures[(chunk.footage_id, index)] = known
        found.append(known)
    return found


async def _encode_sound(
    chunk: LiveChunk,
    ctx: JobContext,
    workdir: Path,
    segments: tuple[list[Path], list[SegmentVideo | None]],
    frames: tuple[int, float],
    own: LiveSound,
    profiles: Sequence[Profile],
) -> LiveEncodedSound | None:
    """The chunk's sound, encoded for each audio bitrate of its cuts with the live's gain so far (live_splice); None
    when it is left to the archive's job: the reason is logged."""
    name = f"live chunk {chunk.footage_id}/{chunk.index}"
    if chunk.index and not chunk.preroll:
        log.info("%s: no segments before it announced; its sound is left to the archive", name)
        return None
    before = await _measures_before(ctx.storage, chunk)
    if before is None or any(m.sound is None for m in before):
        log.info("%s: a chunk before it is not measured yet; its sound is left to the archive", name)
        return None
    count, fps = frames
    start_s = live_splice.cut_start_s((m.frames for m in before), fps)
    gains = live_splice.chunk_gains([m.sound for m in before if m.sound is not None], own)
    plan = live_splice.sound_plan(chunk.index, start_s, start_s + count / fps, gains)
    paths, videos = segments
    try:
        earlier = [
            await _readable(ctx.storage, s.key, workdir / f"preroll-{s.key.rsplit('/', 1)[-1]}") for s in chunk.preroll
        ]
        earlier_videos = await probe_segments(earlier)
    except (MediaError, PermanentError) as exc:
        log.info("%s: its pre-roll is not readable (%s); its sound is left to the archive", name, exc)
        return None
    every = [*earlier_videos, *videos]
    lasting = spans(every)
    if lasting is None or any(v is None for v in every):
        log.info("%s: a segment without video; its sound is left to the archive", name)
        return None
    # Where the chunk's first frame is in the joined segments: each segment's first frame follows the last frame of
    # the one before (loa_core.segments), so after the pre-roll's frames.
    first = every[0]
    assert first is not None
    first_frame_s = first.first_s + sum(lasting[: len(earlier)])
    trim_from_s = first_frame_s + plan.encoded_from / live_splice.SAMPLE_RATE - start_s
    if trim_from_s < 0:
        log.info("%s: its pre-roll is too short; its sound is left to the archive", name)
        return None
    listing = workdir / "sound.txt"
    listing.write_text(concat_script([*earlier, *paths], every), "utf-8")
    limit = _limiter(latency=True) if (own.true_peak_dbtp or -120.0) + max(gains) > LIMIT_DBFS else None
    sound_filter = plan.filter(trim_from_s, limit)
    args = concat_input(listing)
    files: dict[int, str] = {}
    for kbps in sorted({p.audio_kbps for p in profiles}):
        files[kbps] = f"sound-{kbps}.aac"
        args += ["-map", "0:a:0", "-af", sound_filter, "-c:a", "aac", "-b:a", f"{kbps}k", "-ar", "48000", "-ac", "2"]
        args += ["-f", "adts", f"file:{workdir / files[kbps]}"]
    try:
        await run_ffmpeg(args)
    except MediaError as exc:
        log.info("%s: its sound could not be encoded (%s); it is left to the archive", name, exc)
        return None
    for file in files.values():
        await _put(ctx.storage, layout.live_chunk_key(chunk.footage_id, chunk.index, file), workdir / file)
    aac_frames = len(live_splice.adts_frames((workdir / next(iter(files.values()))).read_bytes()))
    return live_splice.encoded(plan, files, aac_frames)


# --- the archive's job: the join --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Joined:
    """What the join made besides the cuts: the sound's loudness as the cuts carry it (None: silent) and the time in
    the archive of each thumbnail candidate (in job.candidates)."""

    loudness: Loudness | None
    loud: bool
    times: list[float]
    fingerprints: dict[Path, str] = field(default_factory=dict)  # by output file, where the chunks' make the cut's


async def _wait_results(event: FootageUploaded, storage: Storage, count: int) -> list[LiveChunkResult] | None:
    results: list[LiveChunkResult] = []
    for index in range(count):
        key = layout.live_chunk_key(event.footage_id, index, LIVE_RESULT)
        deadline = time.monotonic() + CHUNK_STALL_S
        while (result := await _read(storage, key, LiveChunkResult)) is None:
            if time.monotonic() > deadline:
                log.warning("footage %s: live chunk %d never came; encoding in a single run", event.footage_id, index)
                return None
            await asyncio.sleep(POLL_S)
        # Each chunk that comes gives the next one its own time: a slow worker still making progress is waited for.
        if result.error is not None:
            log.info("footage %s: live chunk %d: %s; encoding in a single run", event.footage_id, index, result.error)
            return None
        results.append(result)
    return results


async def join_live(job: Job, event: FootageUploaded, ctx: JobContext, workdir: Path, subject: bool) -> Joined | None:
    """Make `job`'s outputs from the archive's live chunks; None when it keeps the single run (see the docstring)."""
    count = event.live_chunks
    if not count:
        return None
    problem = live_problem(job, job.outputs, subject)
    if problem is not None:
        log.info("footage %s: not made from live chunks (%s)", event.footage_id, problem)
        return None
    storage = ctx.storage
    results = await _wait_results(event, storage, count)
    if results is None:
        return None
    chunks = workdir / "live"
    chunks.mkdir()
    fetched: dict[str, Path] = {}

    async def fetch(index: int, name: str) -> Path:
        key = layout.live_chunk_key(event.footage_id, index, name)
        if key not in fetched:
            fetched[key] = await _readable(storage, key, chunks / f"{index:05d}-{name}")
        return fetched[key]

    videos: dict[Path, list[str]] = {}
    prints: dict[Path, str] = {}
    fps = job.info.fps_value
    lead = await _picture_lead(job)
    for out in job.outputs:
        if out.copy_video:
            # The cut's sound starts at the archive's first frame (the chunks' spliced, or _archive_sound's): the
            # archive's video, copied, is moved back by as much, or the cut's picture would come that much after its
            # sound.
            videos[out.path] = ["-itsoffset", f"{-lead:.6f}", "-i", f"file:{job.source}"]
            continue
        needed = [(i, r) for i, r in enumerate(results) if r.start_s < out.target.duration_s]
        if any(out.target.name not in r.files for _, r in needed):
            log.info("footage %s: a live chunk lacks the %s cut; single run", event.footage_id, out.target.name)
            return None
        # A cut shorter than the archive has its chunks' frames up to its end (the chunk it ends in encoded no more).
        if joined := joined_fingerprint([r for _, r in needed], out.target.name):
            prints[out.path] = joined
        files = [await fetch(i, r.files[out.target.name]) for i, r in needed]
        # Each chunk starts exactly where the frames before it end: its frames over the rate.
        durations = [r.frames[r.files[out.target.name]] / fps for _, r in needed]
        listing = chunks / f"{out.target.name}.txt"
        listing.write_text(concat_list(files, durations), "utf-8")
        videos[out.path] = concat_input(listing)

    async def join_cuts(sound: dict[int, Path]) -> None:
        for out in job.outputs:
            args = join_args(videos[out.path], sound[out.target.profile.audio_kbps], out.path, out.target.duration_s)
            await _run(args, f"joining the {out.target.name} cut")
            if out.copy_video and out.target.duration_s >= job.total_s:
                # The archive's frames are the chunks' sources': its fingerprint is theirs, made during the live,
                # from where its first frame is in the cut (a demuxing probe, not a decode).
                video = (await _probe(out.path, f"the {out.target.name} cut")).video
                start = video.start_s if video is not None and video.start_s else 0.0
                if joined := joined_fingerprint(results, out.target.name, passed_through=True, start_s=start):
                    prints[out.path] = joined

    measured = None
    spliced = await _spliced_sound(job, chunks, results, fetch) if job.info.has_audio else None
    if spliced is not None:
        # The check's measure of the spliced sound (a decode, on one core) runs while the cuts are copied.
        measuring = asyncio.create_task(_loudness(next(iter(spliced.values()))))
        try:
            await join_cuts(spliced)
        except BaseException:
            measuring.cancel()
            raise
        measured = await measuring
        if measured is None or not _conforms(measured):
            log.info("the live chunks' spliced sound measures %s; the archive's gets one gain", measured)
            spliced = None
    if spliced is None:
        sound = await _archive_sound(job, chunks, results, lead)
        measured = await _loudness(next(iter(sound.values()))) if job.info.has_audio else None
        await join_cuts(sound)
    if job.candidates is not None:
        with job.candidates.path.open("wb") as raw:
            for i, r in enumerate(results):
                if r.candidates:
                    raw.write((await fetch(i, LIVE_CANDIDATES)).read_bytes())
    return Joined(loudness=measured, loud=measured is not None, times=candidate_times(results), fingerprints=prints)


def _conforms(loudness: Loudness) -> bool:
    return abs(loudness.input_i - TARGET_LUFS) <= LOUDNESS_TOLERANCE_LU and loudness.input_tp <= MAX_TRUE_PEAK_DBTP


async def _spliced_sound(
    job: Job, work: Path, results: Sequence[LiveChunkResult], fetch: Callable[[int, str], Awaitable[Path]]
) -> dict[int, Path] | None:
    """The chunks' encoded sound, spliced by stream copy into one per audio bitrate (AAC in MP4, its priming frame
    at the cut's start as any encode's); None when the chunks' sound cannot make it, with the reason logged."""
    sounds = [r.encoded_sound for r in results]
    problem = live_splice.splice_problem(sounds)
    made: list[LiveEncodedSound] = [s for s in sounds if s is not None]
    measures = [r.sound for r in results if r.sound is not None]
    if problem is None and len(measures) < len(results):
        problem = "a chunk's sound is not measured"
    predicted = live_splice.spliced_loudness(measures, made) if problem is None else None
    if problem is None and not live_splice.near_target(predicted):
        problem = f"their gains would give {predicted} LUFS"
    if problem is not None:
        log.info("the live chunks' sound is not spliced (%s): the archive's is encoded with one gain", problem)
        return None
    spliced: dict[int, Path] = {}
    for kbps in sorted({o.target.profile.audio_kbps for o in job.outputs}):
        if any(kbps not in s.files for s in made):
            log.info("a live chunk has no sound at %d kbps: the archive's is encoded with one gain", kbps)
            return None
        frames: list[bytes] = []
        for index, sound in enumerate(made):
            encoded = (await fetch(index, sound.files[kbps])).read_bytes()
            try:
                every = live_splice.adts_frames(encoded)
            except ValueError as exc:
                log.warning("live chunk %d's sound is not ADTS (%s): the archive's gets one gain", index, exc)
                return None
            frames += live_splice.kept_frames(every, sound, first=index == 0, last=index == len(made) - 1)
        raw = work / f"spliced-{kbps}.aac"
        raw.write_bytes(b"".join(frames))
        # ADTS has no field for the priming: its first frame is moved back by as much, which MP4 keeps as an edit.
        path = work / f"sound-{kbps}.m4a"
        priming = f"{-live_splice.PRIMING / live_splice.SAMPLE_RATE:.9f}"
        await _run(["-itsoffset", priming, "-i", f"file:{raw}", "-c", "copy", "-f", "mp4", f"file:{path}"], "splicing")
        spliced[kbps] = path
    return spliced


async def _picture_lead(job: Job) -> float:
    """How long after the archive's start its first frame shows (its sound may start a little before)."""
    video = (await _probe(job.source, "the archive")).video
    return video.start_s if video is not None and video.start_s else 0.0


async def _run(args: list[str], what: str) -> str:
    try:
        return await run_ffmpeg(args)
    except MediaError as exc:
        raise PermanentError(f"{what} failed: {exc}") from exc


async def _loudness(path: Path) -> Loudness | None:
    stderr = await _run(
        ["-i", f"file:{path}", "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-"], "measuring the loudness"
    )
    try:
        return parse_ebur128(stderr)
    except ValueError as exc:
        raise PermanentError(f"could not measure the loudness of {path.name}: {exc}") from exc


async def _archive_sound(job: Job, work: Path, results: Sequence[LiveChunkResult], lead: float) -> dict[int, Path]:
    """The whole archive's sound at the target loudness, once per audio bitrate the cuts want (AAC in MP4), from the
    archive's first frame (`lead` after its start)."""
    if job.info.has_audio:
        sounds = [r.sound for r in results if r.sound is not None]
        if len(sounds) == len(results):
            level = measured_level(sounds)  # measured chunk by chunk during the live
        else:
            # A chunk from a release before chunks measured their sound (or one without sound): measured whole.
            log.info("a live chunk's sound was not measured: the archive's measured whole")
            whole = await _loudness(job.source)
            level = (whole.input_i, whole.input_tp) if whole is not None else None
        steps = gain_filter(*level) if level is not None else []
        # From the archive's first frame: its sound may start a little before its picture, and the joined chunks'
        # first frame is at 0 (an exact seek: ffmpeg decodes and drops the samples before it).
        start = ["-ss", f"{lead:.6f}"] if lead else []
        source = [*start, "-i", f"file:{job.source}", "-map", "0:a:0"]
    else:
        steps = []
        source = [
            "-f",
            "lavfi",
            "-t",
            f"{job.duration_s:.3f}",
            "-i",
            "anullsrc=channel_layout=stereo:sample_rate=48000",
        ]
    steps += ["aresample=48000", "aformat=sample_fmts=fltp:channel_layouts=stereo"]
    made: dict[int, Path] = {}
    for kbps in sorted({o.target.profile.audio_kbps for o in job.outputs}):
        path = work / f"sound-{kbps}.m4a"
        args = [*source, "-af", ",".join(steps), "-c:a", "aac", "-b:a", f"{kbps}k", "-ar", "48000", "-ac", "2"]
        await _run([*args, "-f", "mp4", f"file:{path}"], "making the archive's sound")
        made[kbps] = path
    return made
