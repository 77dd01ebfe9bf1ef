"""Turn one uploaded footage into every cut its channels need. The Faust agent only calls `transcode`.

Steps: probe the source → measure its loudness (audio only) → one ffmpeg run writes every cut and the
thumbnail candidates → check every cut → make the stills → stage every file → move them into place →
write the manifest. A job killed anywhere before the manifest leaves nothing a reader is told about;
redoing it overwrites its own staging keys. A job whose manifest exists is not redone: the same
announcement (same event id) is returned again.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from loa_core import subtitles as srt
from loa_core.channels import Channel
from loa_core.contracts import FootageUploaded, Image, Rendition, RenditionsReady, layout
from loa_core.contracts.events import Edit
from loa_core.fingerprint import fingerprint_file
from loa_core.media import MediaError, ProbeResult, probe, run_ffmpeg
from loa_core.storage import ObjectNotFound, Storage
from loa_core.streaming import PermanentError, RetryableError
from loa_transcode import subject
from loa_transcode.conform import Expected, conformance_problems, damage_report, moov_before_mdat
from loa_transcode.graph import (
    Bumper,
    Candidates,
    EncodeOptions,
    Job,
    Output,
    Trim,
    build_args,
    crop_script,
    edits_of,
    frames_before_end,
    measure_job_loudness_args,
    measure_loudness_args,
    passthrough_problems,
    stills_args,
)
from loa_transcode.lease import HeldLease, JobLeases
from loa_transcode.loudness import Loudness, parse_loudnorm
from loa_transcode.profiles import CANDIDATE_STILLS, IMAGES, Target, profiles_for, resolve
from loa_transcode.progress import Progress, parse_progress
from loa_transcode.source import SourceInfo, source_info
from loa_transcode.thumbnails import pick_frame, pick_frames

log = logging.getLogger(__name__)

# At most this many candidate frames are looked at for the stills, spread evenly over the cut.
MAX_CANDIDATES = 60
# Progress events at most this often: they are for people watching, not for control.
PROGRESS_EVERY_S = 2.0

ProgressReport = Callable[[Progress], Awaitable[None]]


@dataclass(frozen=True)
class Chunked:
    """What the chunked encode made besides the cuts, by output file: each encoded cut's sound's loudness, measured
    once per sound file (cuts that carry the same whole-programme sound share its measure; None: silent)."""

    loudness: dict[Path, Loudness | None] = field(default_factory=dict)
    fingerprints: dict[Path, str] = field(default_factory=dict)  # where the chunks' frame hashes make the cut's


# Encodes a job's outputs from chunks made by the whole group (chunked.Chunking.encode): None when the footage keeps
# the single run. Arguments: the job, its upload, the context, the logo's storage key, the progress report.
ChunkedEncode = Callable[
    ["Job", FootageUploaded, "JobContext", str | None, ProgressReport | None], Awaitable[Chunked | None]
]


class OneJobPerUpload:
    """At most one job per upload event at a time in this worker; a second delivery waits for the first.

    Faust's agents (concurrency > 1) share one queue, so after a rebalance or a broker restart the same record can
    reach two of them at once. Both would use, and clear, the same work folder; the one that waits instead finds
    the first one's manifest and announces it again without encoding.
    """

    def __init__(self) -> None:
        self._held: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def turn(self, upload_event_id: str) -> AsyncIterator[None]:
        lock, users = self._held.get(upload_event_id, (asyncio.Lock(), 0))
        self._held[upload_event_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._held[upload_event_id]
            if users == 1:
                del self._held[upload_event_id]
            else:
                self._held[upload_event_id] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._held)


@dataclass(frozen=True)
class JobContext:
    storage: Storage
    channels: Mapping[str, Channel]  # the channel registry: as it is when a job starts
    options: EncodeOptions
    workdir_root: Path
    jobs: OneJobPerUpload = field(default_factory=OneJobPerUpload)
    chunked: ChunkedEncode | None = None  # None: every footage in a single run
    # Which worker does each job now, shared by the group (lease.py); None: no lease (one worker on its own).
    leases: JobLeases | None = None
    # At most this many jobs run at once in this worker (LOA_CONCURRENCY); a job waiting for another worker's lease
    # holds none of these places. None: no limit but the agent's.
    places: asyncio.Semaphore | None = None


def announcement_id(event: FootageUploaded) -> str:
    """The renditions.ready event id, derived from the upload: a redone job announces the same event."""
    return announcement_of(event.event_id)


def announcement_of(upload_event_id: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"loa:renditions.ready:{upload_event_id}").hex


def wanted_profiles(channel_names: tuple[str, ...], channels: Mapping[str, Channel]) -> set[str]:
    unknown = [c for c in channel_names if c not in channels]
    if unknown:
        raise PermanentError(f"channels not configured in transcode: {', '.join(unknown)}")
    return {p for name in channel_names for p in channels[name].profiles}


def distinct_outputs(targets: list[Target], workdir: Path) -> dict[str, Output]:
    """Which file each cut is written to: cuts that would be encoded identically share one encode.

    TikTok and Shorts of a clip under 3 minutes are the same 1080x1920 file; encoding it twice would
    double the most expensive part of the job for nothing.
    """
    by_shape: dict[tuple[object, ...], Output] = {}
    chosen: dict[str, Output] = {}
    for t in targets:
        p = t.profile
        shape = (t.width, t.height, t.duration_s, t.video_kbps, p.max_fps, p.audio_kbps, p.audio_rate)
        chosen[t.name] = by_shape.setdefault(shape, Output(t, workdir / f"{t.name}.mp4"))
    return chosen


@dataclass(frozen=True)
class Look:
    logo_key: str | None = None
    intro_key: str | None = None
    outro_key: str | None = None


def channel_look(channel_names: tuple[str, ...], channels: Mapping[str, Channel]) -> Look:
    """Logo and bumpers for a footage: from the first of its channels that has each (pure).

    The cuts are shared by all of a footage's channels (one encode per profile), so one look applies;
    a ward's channels carry the same official mark.
    """

    def first(attr: str) -> str | None:
        return next((v for c in channel_names if c in channels and (v := getattr(channels[c], attr))), None)

    return Look(first("logo_key"), first("intro_key"), first("outro_key"))


def plan_trim(event: FootageUploaded, info: SourceInfo) -> Trim:
    start = event.metadata.trim_start_s or 0.0
    end = event.metadata.trim_end_s
    if start >= info.duration_s:
        raise PermanentError(f"trim start {start:.3f} s is past the end of the footage ({info.duration_s:.3f} s)")
    if end is not None and end <= start:
        raise PermanentError(f"trim end {end:.3f} s is not after trim start {start:.3f} s")
    return Trim(start, None if end is None or end >= info.duration_s else end)


async def transcode(
    event: FootageUploaded, *, ctx: JobContext, report: ProgressReport | None = None
) -> RenditionsReady:
    async with ctx.jobs.turn(event.event_id):
        if ctx.leases is None:
            async with _place(ctx):
                return await _transcode(event, ctx, report)
        held = await _lease(event, ctx, ctx.leases)
        if isinstance(held, RenditionsReady):
            return held
        async with held, _place(ctx):
            return await _transcode(event, ctx, report)


@asynccontextmanager
async def _place(ctx: JobContext) -> AsyncIterator[None]:
    if ctx.places is None:
        yield
        return
    async with ctx.places:
        yield


async def _lease(event: FootageUploaded, ctx: JobContext, leases: JobLeases) -> HeldLease | RenditionsReady:
    """The job's lease once no other worker is doing the job, or its announcement once the one that was doing it
    (the partition's old owner, at a rebalance) has finished: this worker does not encode it again."""
    watch = leases.watch(event.footage_id, event.event_id)
    waited = False
    while True:
        existing = await _existing_announcement(ctx.storage, event)
        if existing is not None:
            if waited:
                log.info("footage %s: done by %s meanwhile, announcing it again", event.footage_id, watch.holder)
            return existing
        held = await watch.take()
        if held is not None:
            return held
        if not waited:
            log.info(
                "footage %s: %s is doing this job; waiting for its manifest, or for its lease to go stale",
                event.footage_id,
                watch.holder,
            )
            waited = True
        await asyncio.sleep(leases.heartbeat_s)


async def _transcode(event: FootageUploaded, ctx: JobContext, report: ProgressReport | None) -> RenditionsReady:
    storage = ctx.storage
    existing = await _existing_announcement(storage, event)
    if existing is not None:
        log.info("footage %s: renditions already in place, announcing them again", event.footage_id)
        return existing
    try:
        profiles = profiles_for(wanted_profiles(event.metadata.channels, ctx.channels))
    except KeyError as exc:
        raise PermanentError(str(exc)) from exc

    # One folder per upload event: a worker killed mid-job leaves it behind, and the redo starts by clearing it.
    workdir = ctx.workdir_root / f"{event.footage_id}-{event.event_id}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    try:
        source = await _local_source(storage, event.media.key, workdir)
        probed = await _probe(source, "the source")
        info = source_info(probed)
        trim = plan_trim(event, info)
        look = channel_look(event.metadata.channels, ctx.channels)
        base = Job(
            source=source,
            info=info,
            outputs=(),
            options=ctx.options,
            trim=trim,
            subtitles=await _subtitles(storage, event, trim, workdir),
            logo=await _fetch(storage, look.logo_key, workdir / "logo.png"),
            intro=await _bumper(storage, look.intro_key, workdir / "intro.mp4", "intro"),
            outro=await _bumper(storage, look.outro_key, workdir / "outro.mp4", "outro"),
        )
        length = base.duration_s
        targets = [
            resolve(p, source_width=info.width, source_height=info.height, duration_s=base.total_s) for p in profiles
        ]
        any_sound = info.has_audio or any(b.info.has_audio for b in base.bumpers)
        every_s = max(length / MAX_CANDIDATES, min(1.0, length / 4))
        encoded = distinct_outputs(targets, workdir)
        subject = event.metadata.vertical_framing == "subject"
        candidates = Candidates(workdir / "candidates.gray", every_s=every_s)
        joined = None
        chunked: Chunked | None = None
        joined_probes: dict[Path, ProbeResult] = {}  # what the join's check found, not probed again
        if event.live_chunks:
            from loa_transcode.live import join_live  # here: live.py builds on this module

            encoded = passed_through(base, encoded, probed)
            job = replace(base, outputs=tuple(dict.fromkeys(encoded.values())), candidates=candidates)
            joined = await join_live(job, event, ctx, workdir, subject)
            if joined is not None:
                seams, joined_probes = await _misjoined(job, info)
                if seams is not None:
                    # A chunk that decoded to the wrong length (or a seam that lost or doubled a frame) would shift
                    # every frame after it: the archive takes the single run.
                    log.warning("footage %s: the live chunks joined wrong (%s); single run", event.footage_id, seams)
                    joined, joined_probes = None, {}
        if joined is None:
            loudness = await _measure_loudness(base) if any_sound else None
            encoded = distinct_outputs(targets, workdir)
            if subject:
                encoded = await _follow_subjects(base, encoded, workdir)
            encoded = passed_through(base, encoded, probed)
            job = replace(
                base,
                outputs=tuple(dict.fromkeys(encoded.values())),
                loudness=loudness,
                candidates=candidates,
                crop_commands=workdir / "crop.cmd",
            )
            (workdir / "crop.cmd").write_text(crop_script(job), "utf-8")
            chunked = await ctx.chunked(job, event, ctx, look.logo_key, report) if ctx.chunked else None
            if chunked is None:
                await _encode(job, max(t.duration_s for t in targets), report)
        cuts = [Output(t, encoded[t.name].path) for t in targets]
        # Once per file: cuts encoded identically share one (distinct_outputs).
        # A live's cuts joined from chunks have their fingerprints from the chunks' (live.joined_fingerprint).
        # The chunked path's, from its chunks' frame hashes (a chunk of an older release has none: fingerprinted whole).
        made = joined.fingerprints if joined else chunked.fingerprints if chunked else {}
        prints = {o.path: made.get(o.path) or await _fingerprint(o.path) for o in job.outputs}
        # A live's join made one sound for every cut, measured once; the chunked path measured each sound file once.
        loud = joined.loud if joined else loudness is not None
        measured = {o.path: joined.loudness for o in job.outputs} if joined else chunked.loudness if chunked else {}
        renditions = [
            await _checked(
                out,
                info,
                loud,
                event,
                prints[out.path],
                edits_of(job, out.target),
                measured.get(out.path, _MEASURE),
                joined_probes.get(out.path),
            )
            for out in cuts
        ]
        images = await _stills(job, event, workdir, every_s, times=joined.times if joined else None)
        ready = RenditionsReady(
            event_id=announcement_id(event),
            footage_id=event.footage_id,
            ward=event.ward,
            metadata=event.metadata,
            renditions=tuple(renditions),
            images=tuple(image for image, _ in images),
            source_sha256=event.media.sha256,
        )
        # Each file goes to the key its announcement names.
        files = [(r.key, o.path) for r, o in zip(renditions, cuts, strict=True)] + [
            (image.key, path) for image, path in images
        ]
        return await _publish(storage, event, files, ready)
    except (OSError, PermanentError) as exc:
        # Storage errors are RetryableError by now: an out-of-space here is the scratch disk (the work folder).
        if out_of_space(exc):
            raise PermanentError(scratch_full(ctx.workdir_root, exc)) from exc
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def out_of_space(exc: BaseException) -> bool:
    """Whether a failure, or what caused it, is a full disk: ENOSPC from Python, or ffmpeg saying so (pure)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        if isinstance(current, MediaError) and "No space left on device" in (current.stderr or str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


def scratch_full(scratch: Path, exc: BaseException) -> str:
    """The failure a footage gets when the scratch disk filled up under its job: the fault is the worker's disk,
    not the footage, so it says what to do about the disk and how to redo the job."""
    try:
        free = f"{shutil.disk_usage(scratch).free / 1e6:.1f} MB free now"
    except OSError:
        free = "free space unknown"
    return (
        f"the transcode scratch disk is full ({scratch}, {free}): free space there or give the worker a larger "
        f"scratch volume, then send this upload again (docs/operations/runbook.md, dead letters) / Đĩa tạm của "
        f"transcode đã đầy ({scratch}): giải phóng chỗ hoặc cấp đĩa tạm lớn hơn cho worker, rồi gửi lại bản ghi "
        f"tải lên này. ({type(exc).__name__}: {str(exc)[-300:]})"
    )


def passed_through(base: Job, encoded: dict[str, Output], probed: ProbeResult) -> dict[str, Output]:
    """The cuts whose picture the source already is copy its video instead of encoding it (graph's decision)."""
    chosen: dict[str, Output] = {}
    for name, out in encoded.items():
        problems = passthrough_problems(base, out, probed)
        if problems:
            log.info("%s is encoded: %s", name, "; ".join(problems))
            chosen[name] = out
        else:
            log.info("%s passes the source's video through (no re-encode)", name)
            chosen[name] = replace(out, copy_video=True)
    return chosen


async def _follow_subjects(base: Job, encoded: dict[str, Output], workdir: Path) -> dict[str, Output]:
    """Vertical cuts of horizontal footage follow its subjects, when the analysis finds a path for them."""
    info = base.info
    vertical = {name: o for name, o in encoded.items() if o.target.profile.vertical}
    if not vertical or info.width <= info.height:
        return encoded  # nothing to crop: vertical footage already fills a vertical cut
    crop_w = max(2, round(info.height * 9 / 16 / 2) * 2)
    try:
        path = await subject.analyse(base.source, info, base.trim, workdir, crop_w)
    except MediaError as exc:
        raise PermanentError(f"could not analyse the footage for the subject crop: {exc}") from exc
    if path is None:
        log.info("subjects do not fit a vertical crop (or none found): fitting on a blurred background")
        return encoded
    cropped = {id(o): replace(o, crop=path) for o in vertical.values()}
    return {name: cropped.get(id(o), o) for name, o in encoded.items()}


async def _misjoined(job: Job, info: SourceInfo) -> tuple[str | None, dict[Path, ProbeResult]]:
    """Why the cuts joined from a live's chunks are not exactly the archive's frames, or None; and what ffprobe
    found in each (its check reads it too). No tolerance: the chunks are cut on the archive's own timeline, so a
    frame more or less is a seam that lost or doubled one."""
    problems = []
    found_in: dict[Path, ProbeResult] = {}
    for out in job.outputs:
        found_in[out.path] = await _probe(out.path, f"the joined {out.target.name} cut")
        video = found_in[out.path].video
        found = video.nb_frames if video is not None else None
        # The archive's frames; a cut that ends sooner (TikTok's 10 minutes) keeps those that start before its end.
        expected = round(info.duration_s * info.fps_value)
        if out.target.duration_s < info.duration_s:
            expected = min(expected, frames_before_end(out.target.duration_s, info.fps_value))
        if found != expected:
            problems.append(f"{out.target.name}: {found} frames, the archive's {expected}")
    return "; ".join(problems) or None, found_in


async def _probe(path: Path, what: str) -> ProbeResult:
    try:
        return await probe(path)
    except MediaError as exc:
        raise PermanentError(f"ffprobe cannot read {what}: {exc}") from exc


async def _measure_loudness(job: Job) -> Loudness | None:
    try:
        stderr = await run_ffmpeg(measure_job_loudness_args(job))
        return parse_loudnorm(stderr)
    except (MediaError, ValueError) as exc:
        raise PermanentError(f"could not measure the loudness of the source: {exc}") from exc


async def _subtitles(storage: Storage, event: FootageUploaded, trim: Trim, workdir: Path) -> Path | None:
    key = event.metadata.subtitles_key
    if key is None:
        return None
    raw = workdir / "subtitles.source.srt"
    await _download(storage, key, raw)
    try:
        text = raw.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise PermanentError(f"subtitles {key} are not UTF-8 text: {exc}") from exc
    cues = srt.shift(srt.parse_srt(text), trim.start_s, trim.end_s)
    if not cues:
        return None
    path = workdir / "subtitles.srt"
    path.write_text(srt.to_srt(cues), "utf-8")
    return path


async def _encode(job: Job, total_s: float, report: ProgressReport | None) -> None:
    last_sent = 0.0

    async def on_progress(block: dict[str, str]) -> None:
        nonlocal last_sent
        progress = parse_progress(block, total_s)
        now = time.monotonic()
        if report is not None and (now - last_sent >= PROGRESS_EVERY_S or progress.done):
            last_sent = now
            await report(progress)

    try:
        stderr = await run_ffmpeg(build_args(job), on_progress)
    except MediaError as exc:
        raise PermanentError(f"ffmpeg could not transcode this footage: {exc}") from exc
    damage = damage_report(stderr)
    if damage is not None:
        # Concealed macroblocks or skipped seconds on an official channel are worse than no post: a person
        # decides (re-upload a good copy, or trim around the damage).
        raise PermanentError(f"the source is damaged: {damage}")


async def _measure_output(path: Path) -> Loudness | None:
    try:
        return parse_loudnorm(await run_ffmpeg(measure_loudness_args(path, Trim())))
    except (MediaError, ValueError) as exc:
        raise PermanentError(f"could not measure the loudness of {path.name}: {exc}") from exc


async def _fingerprint(path: Path) -> str:
    """The cut's perceptual fingerprint (loa_core.fingerprint), so a copy a platform re-encoded can be recognised."""
    try:
        return (await fingerprint_file(path)).to_text()
    except MediaError as exc:
        raise PermanentError(f"could not fingerprint {path.name}: {exc}") from exc


_MEASURE = Loudness(0.0, 0.0, 0.0, 0.0, 0.0)  # the default of `measured`: measure the cut's sound


async def _checked(
    out: Output,
    info: SourceInfo,
    loud: bool,
    event: FootageUploaded,
    fingerprint: str | None = None,
    edits: tuple[Edit, ...] = (),
    measured: Loudness | None = _MEASURE,
    found: ProbeResult | None = None,
) -> Rendition:
    """The cut's rendition once it conforms; `measured`: its sound's loudness when already known, `found`: what
    ffprobe found in it, when already probed."""
    target: Target = out.target
    found = found or await _probe(out.path, f"the {target.name} cut")
    problems = conformance_problems(
        target,
        found,
        Expected(duration_s=target.duration_s, fps=info.fps_value, loud=loud),
        faststart=moov_before_mdat(out.path),
        loudness=await _measure_output(out.path) if measured is _MEASURE else measured,
    )
    if problems:
        raise PermanentError("; ".join(problems))
    video = found.video
    assert video is not None
    audio = next((s for s in found.streams if s.codec_type == "audio"), None)
    return Rendition(
        profile=target.name,
        key=layout.rendition_key(event.footage_id, target.name),
        width=target.width,
        height=target.height,
        duration_s=video.duration_s or found.duration_s,
        size_bytes=out.path.stat().st_size,
        video_codec=video.codec_name,
        audio_codec=audio.codec_name if audio else None,
        fingerprint=fingerprint,
        edits=edits,  # what the cut's signed manifest says was done (the publisher signs it)
    )


async def _stills(
    job: Job, event: FootageUploaded, workdir: Path, every_s: float, times: Sequence[float] | None = None
) -> list[tuple[Image, Path]]:
    """The default stills (`thumbnail`, `cover`) at the best frame, and the candidates a person may pick instead
    (`thumbnail-N`, `cover-N`) at the best frame of each of CANDIDATE_STILLS stretches of the footage. Candidate i
    is at `times[i]`, or at i * every_s."""
    assert job.candidates is not None
    raw = job.candidates.path.read_bytes() if job.candidates.path.exists() else b""
    best = pick_frame(raw, job.candidates.width, job.candidates.height) or 0
    picks = [("", best)] + [
        (f"-{n}", i)
        for n, i in enumerate(pick_frames(raw, job.candidates.width, job.candidates.height, CANDIDATE_STILLS), 1)
    ]
    images = []
    for suffix, index in picks:
        at_s = times[index] if times is not None and index < len(times) else index * every_s
        images += await _stills_at(job, event, workdir, at_s, suffix)
    return images


async def _stills_at(
    job: Job, event: FootageUploaded, workdir: Path, offset_s: float, suffix: str
) -> list[tuple[Image, Path]]:
    at_s = job.trim.start_s + offset_s
    paths = [(spec.width, spec.height, workdir / f"{spec.kind}{suffix}.jpg") for spec in IMAGES]
    try:
        await run_ffmpeg(stills_args(job.source, at_s, job.info, paths))
    except MediaError as exc:
        raise PermanentError(f"could not make the stills at {at_s:.2f} s: {exc}") from exc
    images = []
    for spec, (_w, _h, path) in zip(IMAGES, paths, strict=True):
        kind = spec.kind + suffix
        found = await _probe(path, f"the {kind}")
        video = found.video
        if video is None or (video.width, video.height) != (spec.width, spec.height):
            raise PermanentError(f"{kind}: not a {spec.width}x{spec.height} picture")
        images.append(
            (
                Image(
                    kind=kind,
                    key=layout.image_key(event.footage_id, kind),
                    width=spec.width,
                    height=spec.height,
                    size_bytes=path.stat().st_size,
                    at_s=round(offset_s, 3),
                ),
                path,
            )
        )
    return images


async def _fetch(storage: Storage, key: str | None, target: Path) -> Path | None:
    if key is None:
        return None
    await _download(storage, key, target)
    return target


async def _bumper(storage: Storage, key: str | None, target: Path, what: str) -> Bumper | None:
    path = await _fetch(storage, key, target)
    if path is None:
        return None
    return Bumper(path, source_info(await _probe(path, f"the channel's {what} ({key})")))


async def _download(storage: Storage, key: str, target: Path) -> None:
    try:
        await asyncio.to_thread(storage.download, key, target)
    except ObjectNotFound as exc:
        raise PermanentError(f"{key} is not in storage") from exc
    except OSError as exc:
        raise RetryableError(f"storage unavailable while reading {key}: {exc}") from exc


async def _local_source(storage: Storage, key: str, workdir: Path) -> Path:
    local = storage.local_path(key)
    if local is not None:
        if not local.exists():
            raise PermanentError(f"source {key} is not in storage")
        return local
    target = workdir / "source"
    await _download(storage, key, target)
    return target


async def _existing_announcement(storage: Storage, event: FootageUploaded) -> RenditionsReady | None:
    try:
        if not await asyncio.to_thread(storage.exists, layout.manifest_key(event.footage_id)):
            return None
        with await asyncio.to_thread(storage.open_read, layout.manifest_key(event.footage_id)) as f:
            raw = f.read()
    except ObjectNotFound:
        return None
    except OSError as exc:
        raise RetryableError(f"storage unavailable while reading the manifest: {exc}") from exc
    ready = RenditionsReady.from_bytes(raw)
    # Another upload event for the same footage id (a re-upload) is a new job, not a redelivery.
    return ready if ready.event_id == announcement_id(event) else None


async def _publish(
    storage: Storage, event: FootageUploaded, files: list[tuple[str, Path]], ready: RenditionsReady
) -> RenditionsReady:
    """Write each (key, file) to a staging key first, then move them all into place, the manifest last; return
    `ready` with each rendition's sha256 (what an approval pins, contracts.decisions), hashed as it is staged."""
    attempt = uuid.uuid4().hex
    try:
        hashes = {}
        for key, path in files:
            staged = layout.staging_key(event.footage_id, attempt, key)
            hashes[key] = await asyncio.to_thread(storage.put_file_hashed, staged, path)
        ready = ready.model_copy(
            update={"renditions": tuple(r.model_copy(update={"sha256": hashes[r.key]}) for r in ready.renditions)}
        )
        manifest = Path(files[0][1]).parent / "manifest.json"
        manifest.write_bytes(ready.to_bytes())
        for key, _ in files:
            await asyncio.to_thread(storage.move, layout.staging_key(event.footage_id, attempt, key), key)
        # Last: the manifest says "this set is complete"; a redelivered job that finds it announces again.
        await asyncio.to_thread(storage.put_file, layout.manifest_key(event.footage_id), manifest)
        # The set is complete: what earlier attempts left in staging (cut short by a storage outage or a crash
        # before their moves) goes now, with any of this attempt's that a failed delete left.
        for leftover in await asyncio.to_thread(storage.list, layout.staging_prefix(event.footage_id)):
            await asyncio.to_thread(storage.delete, leftover)
    except OSError as exc:
        raise RetryableError(f"storage unavailable while writing renditions: {exc}") from exc
    return ready
