"""The work left when a live ends, step by step, in CPU-seconds and wall: what grows with the live's length?

Run: .cache/venv/bin/python bench/live_end.py prepare DIR [--minutes 2] [--size 1280x720] [--chunk-s 12]
                                                        [--segments-only]
     .cache/venv/bin/python bench/live_end.py end DIR [--steps]
     .cache/venv/bin/python bench/live_end.py assembly DIR

`prepare` (untimed) makes what the archiver and the transcode workers have when a live ends: a live as the push in
bench/live_to_published.py sends it (testsrc2 with a tone, 30 fps, H.264 High 3 Mb/s tagged BT.709 as encoders
send HD, with a keyframe every 2 s, AAC),
cut into 4 s MPEG-TS segments by the recorder's own ffmpeg arguments, stored (LocalStorage) as the recorder stores
them (each one's video read first, `read_video`, and recorded with it; what that costs is printed), grouped into
live chunks by the archiver's own rule, and every chunk but the last encoded by `encode_live_chunk` for one channel
with the YouTube profile (the cuts' own settings), as the workers do while the live goes on. With `--size 1920x1080`
the live already is the YouTube cut: the cut passes the archive's video through (no encode), and the chunks only
hash their frames for its fingerprint.

`end` copies DIR (hard links) and times, with the code it imports, what runs once the stream has ended:
- the archiver: its segments fetched, assembled by stream copy, probed, hashed and stored (finalize.assemble and
  the steps of Finalizer._store_media);
- a worker: the last chunk (`encode_live_chunk`), in parallel with the above in the real system;
- transcode: the archive's job (`pipeline.transcode`), which joins the chunks, makes the sound, fingerprints, checks,
  makes the stills and stores the cuts.
CPU-seconds are this process's and its ffmpeg children's (getrusage), which a loaded machine distorts least.
`--steps` also times, on the files made, the whole-length steps one by one (each is a separate pass here): the
archive's loudness is measured whole, and its sound encoded with one gain over the whole live, only when a chunk has
no measure or no encode of its sound (the chunks' sound is otherwise spliced: live._spliced_sound); the check's
measure of the cut's sound runs at every end.

`assembly` times only the archive's assembly (segments fetched and joined) by the videos recorded as the segments
were stored, against the same with every segment's video read at the end (as before the recorder recorded them);
it needs only the segments (`prepare --segments-only` encodes no chunk).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loa_archiver.finalize import assemble  # noqa: E402
from loa_archiver.live import live_chunks, live_groups  # noqa: E402
from loa_archiver.recorder import read_video, recorder_args  # noqa: E402
from loa_archiver.store import Segment  # noqa: E402
from loa_core.channels import Channel  # noqa: E402
from loa_core.contracts import FootageMetadata, FootageUploaded, LiveChunk, SourceMedia, layout  # noqa: E402
from loa_core.fingerprint import fingerprint_file  # noqa: E402
from loa_core.hashing import sha256_file  # noqa: E402
from loa_core.media import FFMPEG, probe, run_ffmpeg  # noqa: E402
from loa_core.segments import UNREAD, SegmentVideo, Unread  # noqa: E402
from loa_core.storage import LocalStorage  # noqa: E402
from loa_transcode.graph import EncodeOptions  # noqa: E402
from loa_transcode.live import encode_live_chunk  # noqa: E402
from loa_transcode.pipeline import JobContext, transcode  # noqa: E402

ARCHIVE = "b" * 32
FOOTAGE = "f" * 32
CHANNEL = Channel(name="ward-youtube", platform="local", profiles=("youtube",))
T = TypeVar("T")


def cpu_s() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(what: str, step: Callable[[], Awaitable[T]], figures: dict[str, tuple[float, float]]) -> T:
    cpu, wall = cpu_s(), time.monotonic()
    result = asyncio.run(step())  # type: ignore[arg-type]
    figures[what] = (cpu_s() - cpu, time.monotonic() - wall)
    print(f"  {what:34s} {figures[what][0]:8.1f} CPU-s {figures[what][1]:8.1f} s wall", flush=True)
    return result


def context(root: Path) -> JobContext:
    return JobContext(
        storage=LocalStorage(root / "storage"),
        channels={CHANNEL.name: CHANNEL},
        options=EncodeOptions(threads=2),
        workdir_root=root / "work",
    )


def stored_segments(root: Path) -> list[Segment]:
    """The segments as the archive store has them (a DIR prepared before videos were recorded: none recorded)."""
    found = []
    for raw in json.loads((root / "segments.json").read_text()):
        video = raw.pop("video", "unread")
        raw["video"] = UNREAD if video == "unread" else None if video is None else SegmentVideo(**video)
        found.append(Segment(**raw))
    return found


def chunks(root: Path) -> list[LiveChunk]:
    segments = stored_segments(root)
    groups = live_groups(segments, float((root / "chunk_s").read_text()), ended=True)
    return live_chunks(groups, archive_id=ARCHIVE, footage_id=FOOTAGE, channels=(CHANNEL.name,))


def prepare(root: Path, minutes: float, size: str, chunk_s: float, segments_only: bool) -> None:
    root.mkdir(parents=True)
    flv = root / "live.flv"
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", f"{minutes * 60:g}",
         "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", "3M", "-g", "60",
         "-profile:v", "high", "-pix_fmt", "yuv420p", "-color_range", "tv",
         "-x264-params", "colorprim=bt709:transfer=bt709:colormatrix=bt709",
         "-c:a", "aac", "-b:a", "128k", "-f", "flv", str(flv)],
        check=True,
    )  # fmt: skip
    rec = root / "rec"
    rec.mkdir()
    with flv.open("rb") as stdin:
        subprocess.run([FFMPEG, *recorder_args(rec, "bench", 4.0, 1)], stdin=stdin, check=True)
    flv.unlink()
    storage = LocalStorage(root / "storage")
    segments = []
    cpu, wall = cpu_s(), time.monotonic()
    for line in (rec / "list-bench.csv").read_text().splitlines():
        name, start, end = line.split(",")
        n = int(name[3:8])
        key = layout.segment_key(ARCHIVE, n)
        video = asyncio.run(read_video(rec / name))  # as the recorder reads it before storing it
        storage.put_file(key, rec / name)
        recorded = "unread" if isinstance(video, Unread) else None if video is None else dataclasses.asdict(video)
        segments.append(
            {"n": n, "key": key, "duration_s": float(end) - float(start), "source_seq": None, "video": recorded}
        )
    cpu, wall = cpu_s() - cpu, time.monotonic() - wall
    print(
        f"{len(segments)} segments read and stored as the recorder does, during the live: {cpu:.1f} CPU-s, "
        f"{wall:.1f} s wall ({1000 * wall / len(segments):.0f} ms a segment)",
        flush=True,
    )
    shutil.rmtree(rec)
    (root / "segments.json").write_text(json.dumps(segments))
    (root / "chunk_s").write_text(f"{chunk_s:g}")
    if segments_only:
        return
    ctx = context(root)
    every = chunks(root)
    print(f"{len(segments)} segments, {len(every)} chunks; encoding all but the last (as during the live)", flush=True)
    for chunk in every[:-1]:
        result = asyncio.run(encode_live_chunk(chunk, ctx))
        assert result.error is None, result.error


async def _assembled(root: Path, ctx: JobContext, work: Path, *, read_all: bool = False) -> Path:
    """The segments fetched and joined, by the videos recorded with them (`read_all`: every one read here)."""
    segments = stored_segments(root)
    work.mkdir()
    paths = []
    for segment in segments:
        path = work / segment.key.rsplit("/", 1)[-1]
        await asyncio.to_thread(ctx.storage.download, segment.key, path)
        paths.append(path)
    return await assemble(paths, [UNREAD if read_all else s.video for s in segments], work)


async def _assembly(root: Path, ctx: JobContext, *, read_all: bool) -> None:
    work = root / ("assembly-read-all" if read_all else "assembly-recorded")
    await _assembled(root, ctx, work, read_all=read_all)
    shutil.rmtree(work)


async def _archive(root: Path, ctx: JobContext) -> SourceMedia:
    """What Finalizer._assemble_and_store does with the segments once the live ended."""
    storage = ctx.storage
    work = root / "archiver"
    out = await _assembled(root, ctx, work)
    found = await probe(out)
    key = layout.archive_key(ARCHIVE)
    if hasattr(storage, "put_file_hashed"):  # hashed as it is stored (since 38eb502)
        sha256 = await asyncio.to_thread(storage.put_file_hashed, key, out)
    else:
        sha256 = await asyncio.to_thread(sha256_file, out)
        await asyncio.to_thread(storage.put_file, key, out)
    video = found.video
    assert video is not None and video.width and video.height
    media = SourceMedia(
        key=key,
        size_bytes=out.stat().st_size,
        sha256=sha256,
        duration_s=found.duration_s,
        width=video.width,
        height=video.height,
        has_audio=found.has_audio,
    )
    shutil.rmtree(work)
    return media


def end(prepared: Path, steps: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="loa-bench-live-end-", dir=prepared.parent) as tmp:
        root = Path(tmp) / "live"
        shutil.copytree(prepared, root, copy_function=lambda s, d: Path(d).hardlink_to(s))  # type: ignore[arg-type]
        ctx = context(root)
        every = chunks(root)
        figures: dict[str, tuple[float, float]] = {}
        length = sum(s.duration_s for c in every for s in c.segments)
        print(f"the end of a {length:.0f} s live ({len(every)} chunks):")
        media = timed("archiver: assemble, hash, store", lambda: _archive(root, ctx), figures)
        timed("worker: the last chunk", lambda: encode_live_chunk(every[-1], ctx), figures)
        event = FootageUploaded(
            footage_id=FOOTAGE,
            source="livestream",
            metadata=FootageMetadata(title="bench", channels=(CHANNEL.name,)),
            media=media,
            live_chunks=len(every),
        )
        ready: Any = timed("transcode: the archive's job", lambda: transcode(event, ctx=ctx), figures)
        cpu = sum(c for c, _ in figures.values())
        wall = figures["archiver: assemble, hash, store"][1] + figures["transcode: the archive's job"][1]
        print(f"  {'end of live, in all':34s} {cpu:8.1f} CPU-s {wall:8.1f} s wall (archiver + transcode in turn)")
        if steps:
            print("the whole-length steps, each alone:")
            storage = ctx.storage
            cut = storage.local_path(ready.renditions[0].key)
            archive = storage.local_path(media.key)
            assert cut is not None and archive is not None
            whole = timed("fingerprint of the whole cut", lambda: fingerprint_file(cut), figures)
            same = ready.renditions[0].fingerprint == whole.to_text()
            print(f"  (the announced fingerprint is the whole cut's: {same})")
            loud = ["-i", f"file:{archive}", "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-"]
            # Since the chunks measure their sound, only for a chunk of an older release (live._archive_sound).
            timed("loudness of the whole archive", lambda: run_ffmpeg(loud), figures)
            # Since the chunks encode their sound, only when one has not (live._archive_sound).
            sound = root / "sound.m4a"
            aac = ["-i", f"file:{archive}", "-map", "0:a:0", "-c:a", "aac", "-b:a", "128k", f"file:{sound}"]
            timed("AAC encode of the whole sound", lambda: run_ffmpeg(aac), figures)
            heard = ["-i", f"file:{sound}", "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-"]
            timed("loudness of the encoded sound", lambda: run_ffmpeg(heard), figures)
            timed("sha256 of the cut", lambda: asyncio.to_thread(sha256_file, cut), figures)
            timed("sha256 of the archive", lambda: asyncio.to_thread(sha256_file, archive), figures)


def assembly(prepared: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="loa-bench-live-end-", dir=prepared.parent) as tmp:
        root = Path(tmp) / "live"
        shutil.copytree(prepared, root, copy_function=lambda s, d: Path(d).hardlink_to(s))  # type: ignore[arg-type]
        ctx = context(root)
        segments = stored_segments(root)
        unread = sum(isinstance(s.video, Unread) for s in segments)
        print(f"the archive's assembly from {len(segments)} segments ({unread} recorded without their video):")
        figures: dict[str, tuple[float, float]] = {}
        recorded, read_all = "by the videos recorded", "every video read at the end"
        timed(read_all, lambda: _assembly(root, ctx, read_all=True), figures)
        timed(recorded, lambda: _assembly(root, ctx, read_all=False), figures)
        (before_cpu, before_wall), (after_cpu, after_wall) = figures[read_all], figures[recorded]
        print(f"  ratio: {after_cpu / before_cpu:.2f} of the CPU-s, {after_wall / before_wall:.2f} of the wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("prepare", "end", "assembly"))
    parser.add_argument("dir", type=Path)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--chunk-s", type=float, default=12.0)
    parser.add_argument("--steps", action="store_true")
    parser.add_argument("--segments-only", action="store_true", help="prepare: the segments only, no chunk encoded")
    parser.add_argument("--log", action="store_true", help="the services' log (each ffmpeg command) on stderr")
    opts = parser.parse_args()
    if opts.log:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if opts.what == "prepare":
        prepare(opts.dir.resolve(), opts.minutes, opts.size, opts.chunk_s, opts.segments_only)
    elif opts.what == "assembly":
        assembly(opts.dir.resolve())
    else:
        end(opts.dir.resolve(), opts.steps)


if __name__ == "__main__":
    main()
