"""Chunked encoding across the transcode group, the I/O around chunks.py (whose docstring says what and why).

The owner's side (`Chunking.encode`, called by the pipeline in place of the single run): plan the chunks, ask the
group for them on `transcode.chunks`, make the whole programme's audio (one file per sound the cuts carry, each
measured once for the cuts' checks) and the thumbnail candidates while the group encodes, wait for every chunk's
result in storage (asking again for the missing ones when none has come for `stall_s`), join each cut by stream
copy and count its frames. Anything short of every chunk, exact, returns None: the pipeline then runs the single
run, so a cut never has a broken seam.

Any worker's side (`encode_chunk`): encode one chunk's cuts, check each has exactly its frames, store the files,
then the result (last). A chunk whose result is in storage is not encoded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from loa_core import subtitles as srt
from loa_core.contracts import (
    TRANSCODE_CHUNKS,
    ChunkCrop,
    ChunkCut,
    ChunkResult,
    FootageUploaded,
    RenditionsReady,
    TranscodeChunk,
    chunk_slot,
    layout,
)
from loa_core.contracts.chunks import RESULT_NAME
from loa_core.fingerprint import frame_prints, joined_prints
from loa_core.media import MediaError, run_ffmpeg, video_packets
from loa_core.storage import ObjectNotFound, Storage
from loa_core.streaming import PermanentError, RetryableError
from loa_transcode.chunks import (
    ChunkPlan,
    ChunkPolicy,
    SingleRun,
    audio_args,
    candidates_args,
    chunk_args,
    concat_input,
    concat_list,
    join_args,
    plan_chunks,
    slice_crop,
)
from loa_transcode.conform import damage_report
from loa_transcode.graph import CropPath, Job, Output, Trim, build_args, crop_script
from loa_transcode.loudness import Loudness
from loa_transcode.pipeline import (
    Chunked,
    JobContext,
    ProgressReport,
    _download,
    _fetch,
    _local_source,
    _measure_output,
    _probe,
    announcement_of,
)
from loa_transcode.profiles import PROFILES, Target
from loa_transcode.progress import Progress
from loa_transcode.source import source_info

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chunking:
    policy: ChunkPolicy
    # Sends one chunk request on transcode.chunks.
    request: Callable[[TranscodeChunk], Awaitable[None]]
    # No chunk finished for this long: the missing ones are asked for again...
    stall_s: float = 300.0
    # ...at most this many times in all; then the footage is encoded in a single run.
    requests: int = 3
    poll_s: float = 0.5

    async def encode(
        self, job: Job, event: FootageUploaded, ctx: JobContext, logo_key: str | None, report: ProgressReport | None
    ) -> Chunked | None:
        """Make `job`'s outputs from chunks encoded by the group; None when the footage keeps the single run."""
        encoded = tuple(o for o in job.outputs if not o.copy_video)
        if not encoded or job.duration_s < self.policy.from_s:
            return None
        try:
            packets = await video_packets(job.source)
        except MediaError as exc:
            log.warning("footage %s: single run, its packets could not be read: %s", event.footage_id, exc)
            return None
        plan = plan_chunks(
            packets, job.info, job.trim, self.policy, duration_s=job.duration_s, bumpers=bool(job.bumpers)
        )
        if isinstance(plan, SingleRun):
            log.info("footage %s: single run (%s)", event.footage_id, plan.reason)
            return None
        chunks = chunk_requests(job, event, plan, encoded, logo_key)
        log.info("footage %s: %d chunks of job %s", event.footage_id, len(chunks), chunks[0].job_id)
        for chunk in chunks:
            await self._send(chunk)
        assert job.crop_commands is not None  # the pipeline's job has one, in its work folder
        workdir = job.crop_commands.parent
        audio = sound_files(encoded)
        # While the group encodes: the whole programme's audio (each sound file made and measured once), the
        # candidates, and the cuts that copy the source.
        side = asyncio.gather(_sounds(job, encoded, audio), _candidates(job), _copied(job))
        results: dict[int, ChunkResult] = {}
        try:
            failure = await self._collect(ctx.storage, chunks, report, results)
        except BaseException:
            # Stopping, or storage or Kafka gone: the side runs' ffmpeg processes go too (run_ffmpeg kills them).
            side.cancel()
            with contextlib.suppress(BaseException):
                await side
            raise
        measured, _, _ = await side
        if failure is not None:
            log.warning("footage %s: single run after all, %s", event.footage_id, failure)
            return None
        prints = {}
        for out in encoded:
            problem = await _join(ctx.storage, out, chunks, audio[out.path], workdir)
            if problem is not None:
                log.warning("footage %s: single run after all, %s", event.footage_id, problem)
                return None
            if (joined := joined_cut_prints(out.target.name, chunks, results)) is not None:
                prints[out.path] = joined
        # Each cut carries its sound file as it is (stream copy): that file's measure is the cut's sound's.
        return Chunked(loudness={o.path: measured[audio[o.path]] for o in encoded}, fingerprints=prints)

    async def _send(self, chunk: TranscodeChunk) -> None:
        try:
            await self.request(chunk)
        except Exception as exc:
            raise RetryableError(f"could not request chunk {chunk.index} on {TRANSCODE_CHUNKS.name}: {exc}") from exc

    async def _collect(
        self,
        storage: Storage,
        chunks: list[TranscodeChunk],
        report: ProgressReport | None,
        results: dict[int, ChunkResult],
    ) -> str | None:
        """Wait for every chunk's result (into `results`, by index); why not, when a chunk failed or stayed missing
        after every request."""
        pending = {c.index: c for c in chunks}
        asked = dict.fromkeys(pending, 1)
        last = time.monotonic()
        first = chunks[0]
        while pending:
            try:
                present = set(await asyncio.to_thread(storage.list, _job_prefix(first)))
            except OSError as exc:
                raise RetryableError(f"storage unavailable while waiting for chunks: {exc}") from exc
            for index, chunk in list(pending.items()):
                key = layout.chunk_key(chunk.footage_id, chunk.job_id, index, RESULT_NAME)
                if key not in present:
                    continue
                result = await asyncio.to_thread(read_result, storage, key)
                if result.error is not None:
                    return f"chunk {index} failed: {result.error}"
                results[index] = result
                del pending[index]
                last = time.monotonic()
                if report is not None:
                    done = len(chunks) - len(pending)
                    await report(Progress(round(99.0 * done / len(chunks), 1), None, None, False))
            if not pending:
                return None
            if time.monotonic() - last >= self.stall_s:
                spent = sorted(i for i in pending if asked[i] >= self.requests)
                if spent:
                    return f"chunk(s) {spent} not encoded after {self.requests} requests ({self.stall_s:.0f} s apart)"
                log.warning("footage %s: asking again for chunk(s) %s", first.footage_id, sorted(pending))
                for index, chunk in pending.items():
                    asked[index] += 1
                    await self._send(chunk)
                last = time.monotonic()
            await asyncio.sleep(self.poll_s)
        return None


def chunk_requests(
    job: Job, event: FootageUploaded, plan: ChunkPlan, encoded: tuple[Output, ...], logo_key: str | None
) -> list[TranscodeChunk]:
    """The chunk events of a plan (pure): each cut's frames in each chunk, the crop path and subtitles on the
    chunk's timeline. The job id is derived from the upload and everything that decides the chunks' bytes, so a
    redone job finds the chunks its earlier attempt finished, and another plan never takes them for its own."""
    frames = {o.path: plan.cut_frames(o.target.duration_s) for o in encoded}
    cues = srt.parse_srt(job.subtitles.read_text("utf-8")) if job.subtitles is not None else []
    events = []
    for chunk in plan.chunks:
        offset, length = plan.offset_s(chunk), chunk.frames / plan.fps
        cuts = tuple(
            _cut(o, plan.frames_in(chunk, frames[o.path]), offset, length)
            for o in encoded
            if plan.frames_in(chunk, frames[o.path]) > 0
        )
        if not cuts:
            continue  # every cut ended before this chunk
        shifted = srt.shift(cues, offset, offset + length)
        events.append(
            TranscodeChunk(
                footage_id=event.footage_id,
                ward=event.ward,
                upload_event_id=event.event_id,
                job_id="0" * 32,
                index=chunk.index,
                count=1,
                slot="0",
                source_key=event.media.key,
                start_s=chunk.start_s,
                end_s=chunk.end_s,
                fps=job.info.fps,
                preset=job.options.preset,
                crf=job.options.crf,
                cuts=cuts,
                logo_key=logo_key,
                subtitles=srt.to_srt(shifted) if shifted else None,
            )
        )
    what = "".join(e.model_dump_json(exclude={"event_id", "occurred_at"}) for e in events)
    job_id = uuid.uuid5(uuid.NAMESPACE_URL, f"loa:transcode.chunks:{event.event_id}:{_digest(what)}").hex
    return [
        e.model_copy(
            update={"job_id": job_id, "count": len(events), "slot": chunk_slot(i, TRANSCODE_CHUNKS.partitions)}
        )
        for i, e in enumerate(events)
    ]


def joined_cut_prints(name: str, chunks: Sequence[TranscodeChunk], results: Mapping[int, ChunkResult]) -> str | None:
    """A cut's fingerprint from the frame hashes of its chunks, in order (pure; None: a chunk has none)."""
    holding = [
        (c, next(k for k in c.cuts if k.profile == name)) for c in chunks if any(k.profile == name for k in c.cuts)
    ]
    return joined_prints([(results[c.index].frame_prints.get(name), k.frames) for c, k in holding])


def sound_files(encoded: Sequence[Output]) -> dict[Path, Path]:
    """Each encoded cut's sound file, by the cut's file (pure): cuts whose sound is encoded alike (bitrate, rate,
    length) share one, made and measured once."""
    first: dict[tuple[int, int, float], Path] = {}
    files = {}
    for o in encoded:
        p = o.target.profile
        shape = (p.audio_kbps, p.audio_rate, round(o.target.duration_s, 6))
        files[o.path] = first.setdefault(shape, o.path.with_suffix(".m4a"))
    return files


async def _sounds(job: Job, encoded: Sequence[Output], audio: dict[Path, Path]) -> dict[Path, Loudness | None]:
    """The whole programme's sound files (one run), then each one's loudness, measured once (the cuts' check)."""
    made = {audio[o.path]: replace(o, path=audio[o.path]) for o in encoded}
    await _run(audio_args(replace(job, outputs=tuple(made.values()))), "audio")
    return {path: await _measure_output(path) for path in made}


def slot(i: int) -> str:
    return chunk_slot(i, TRANSCODE_CHUNKS.partitions)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _cut(out: Output, frames: int, offset_s: float, length_s: float) -> ChunkCut:
    t = out.target
    crop = None
    if out.crop is not None:
        c = slice_crop(out.crop, offset_s, length_s)
        crop = ChunkCrop(width=c.width, height=c.height, keyframes=c.keyframes, fallback=c.fallback)
    return ChunkCut(profile=t.name, width=t.width, height=t.height, video_kbps=t.video_kbps, frames=frames, crop=crop)


def _job_prefix(chunk: TranscodeChunk) -> str:
    return layout.chunk_key(chunk.footage_id, chunk.job_id, 0, RESULT_NAME).rsplit("/", 2)[0] + "/"


def _read(storage: Storage, key: str) -> bytes:
    with storage.open_read(key) as f:
        return f.read()


def read_result(storage: Storage, key: str) -> ChunkResult:
    """A chunk's stored result. A worker of a newer release may have written fields this one does not know (a
    rolling upgrade): they are ignored, as the contracts' rule says."""
    return ChunkResult.read_json(_read(storage, key))


async def _run(args: list[str], what: str) -> None:
    try:
        await run_ffmpeg(args)
    except MediaError as exc:
        raise PermanentError(f"ffmpeg could not make the {what} of this footage: {exc}") from exc


async def _candidates(job: Job) -> None:
    c = job.candidates
    if c is not None:
        await _run(candidates_args(job.source, job.trim, c.every_s, c.path, c.width, c.height), "thumbnail candidates")


async def _copied(job: Job) -> None:
    """The cuts that pass the source's video through (graph.passthrough_problems): one copying run, no decoding."""
    copied = tuple(o for o in job.outputs if o.copy_video)
    if copied:
        await _run(build_args(replace(job, outputs=copied, candidates=None)), "passed-through cuts")


async def _join(storage: Storage, out: Output, chunks: list[TranscodeChunk], audio: Path, workdir: Path) -> str | None:
    """One cut from its chunks and its audio; why not, when the joined video is not exactly its frames."""
    name = out.target.name
    files: list[Path] = []
    expected = 0
    for chunk in chunks:
        cut = next((c for c in chunk.cuts if c.profile == name), None)
        if cut is None:
            continue
        expected += cut.frames
        key = layout.chunk_key(chunk.footage_id, chunk.job_id, chunk.index, f"{name}.mp4")
        local = storage.local_path(key)
        if local is None:
            local = workdir / "chunks" / f"{chunk.index:05d}-{name}.mp4"
            local.parent.mkdir(exist_ok=True)
            await _download(storage, key, local)
        files.append(local)
    listing = workdir / f"{name}.concat"
    listing.write_text(concat_list(files), "utf-8")
    await _run(join_args(concat_input(listing), audio, out.path), f"{name} cut from its chunks")
    video = (await _probe(out.path, f"the joined {name} cut")).video
    if video is None or video.nb_frames != expected:
        return f"the joined {name} cut has {video and video.nb_frames} frames, its chunks {expected}"
    return None


# --- any worker: one chunk ------------------------------------------------------------------------------------


async def encode_chunk(chunk: TranscodeChunk, ctx: JobContext) -> None:
    """Encode one chunk and store its files, then its result; a failure the chunk cannot get past is stored as its
    result (the owner then encodes the footage in a single run). Done already: nothing to do."""
    storage = ctx.storage
    result_key = layout.chunk_key(chunk.footage_id, chunk.job_id, chunk.index, RESULT_NAME)
    async with ctx.jobs.turn(f"chunk-{chunk.job_id}-{chunk.index}"):
        if await asyncio.to_thread(storage.exists, result_key):
            log.info("chunk %d of job %s is done already", chunk.index, chunk.job_id)
            return
        if await _announced(storage, chunk):
            # A request that outlived its job (asked again, then redelivered): nobody waits for it any more.
            log.info("chunk %d of job %s: its footage's cuts are announced already", chunk.index, chunk.job_id)
            return
        workdir = ctx.workdir_root / f"chunk-{chunk.job_id}-{chunk.index:05d}"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        what = f"chunk {chunk.index} of {chunk.count} of footage {chunk.footage_id} (job {chunk.job_id})"
        log.info("encoding %s", what)
        try:
            try:
                result = await _encode_chunk(chunk, ctx, workdir)
            except PermanentError as exc:
                log.warning("chunk %d of footage %s failed: %s", chunk.index, chunk.footage_id, exc)
                result = ChunkResult(error=str(exc)[:4000])
            path = workdir / RESULT_NAME
            path.write_text(result.model_dump_json(), "utf-8")
            await _put(storage, result_key, path)
            log.info("encoded %s", what)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


async def _announced(storage: Storage, chunk: TranscodeChunk) -> bool:
    """Whether the job that asked for the chunk announced its cuts (its manifest is in place)."""
    key = layout.manifest_key(chunk.footage_id)
    try:
        if not await asyncio.to_thread(storage.exists, key):
            return False
        ready = RenditionsReady.from_bytes(await asyncio.to_thread(_read, storage, key))
    except ObjectNotFound:
        return False
    except OSError as exc:
        raise RetryableError(f"storage unavailable while reading {key}: {exc}") from exc
    return ready.event_id == announcement_of(chunk.upload_event_id)


async def _put(storage: Storage, key: str, path: Path) -> None:
    try:
        await asyncio.to_thread(storage.put_file, key, path)
    except OSError as exc:
        raise RetryableError(f"storage unavailable while writing {key}: {exc}") from exc


async def _encode_chunk(chunk: TranscodeChunk, ctx: JobContext, workdir: Path) -> ChunkResult:
    source = await _local_source(ctx.storage, chunk.source_key, workdir)
    info = source_info(await _probe(source, "the source"))
    if info.fps != chunk.fps:
        raise PermanentError(f"the source's rate is {info.fps} here, {chunk.fps} for the job")
    subtitles = None
    if chunk.subtitles is not None:
        subtitles = workdir / "subtitles.srt"
        subtitles.write_text(chunk.subtitles, "utf-8")
    outputs = []
    for cut in chunk.cuts:
        if cut.profile not in PROFILES:
            raise PermanentError(f"unknown profile {cut.profile}")
        target = Target(PROFILES[cut.profile], cut.width, cut.height, cut.frames / info.fps_value, cut.video_kbps)
        crop = None
        if cut.crop is not None:
            c = cut.crop
            crop = CropPath(c.width, c.height, c.keyframes, c.fallback)
        outputs.append(Output(target, workdir / f"{cut.profile}.mp4", crop=crop))
    job = Job(
        source=source,
        info=info,
        outputs=tuple(outputs),
        options=replace(ctx.options, preset=chunk.preset, crf=chunk.crf),
        trim=Trim(chunk.start_s, chunk.end_s),
        subtitles=subtitles,
        logo=await _fetch(ctx.storage, chunk.logo_key, workdir / "logo.png"),
        crop_commands=workdir / "crop.cmd",
    )
    (workdir / "crop.cmd").write_text(crop_script(job), "utf-8")
    try:
        stderr = await run_ffmpeg(chunk_args(job, [c.frames for c in chunk.cuts]))
    except MediaError as exc:
        raise PermanentError(f"ffmpeg could not encode chunk {chunk.index}: {exc}") from exc
    damage = damage_report(stderr)
    if damage is not None:
        raise PermanentError(f"the source is damaged in chunk {chunk.index}: {damage}")
    frames = {}
    prints = {}
    for cut, out in zip(chunk.cuts, outputs, strict=True):
        video = (await _probe(out.path, f"chunk {chunk.index} of the {cut.profile} cut")).video
        found = video.nb_frames if video is not None else None
        if found != cut.frames:
            # Never joined: a chunk one frame short or long would shift every frame after its seam.
            raise PermanentError(
                f"chunk {chunk.index} of the {cut.profile} cut has {found} frames, expected {cut.frames}"
            )
        frames[cut.profile] = cut.frames
        # The cut's fingerprint over this chunk, made here (spread over the group) rather than from the whole cut.
        rate = Fraction(video.r_frame_rate).limit_denominator(1001) if video is not None else Fraction(info.fps)
        try:
            prints[cut.profile] = (await frame_prints(out.path, rate)).to_text()
        except MediaError as exc:
            raise PermanentError(f"could not fingerprint chunk {chunk.index} of the {cut.profile} cut: {exc}") from exc
    for cut, out in zip(chunk.cuts, outputs, strict=True):
        await _put(
            ctx.storage, layout.chunk_key(chunk.footage_id, chunk.job_id, chunk.index, f"{cut.profile}.mp4"), out.path
        )
    return ChunkResult(frames=frames, frame_prints=prints)
