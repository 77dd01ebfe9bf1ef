"""The archiver: RTMP publishes and HLS pulls become recorded archives, each announced when its stream ends.

State lives in the ArchiveStore (SQLite), so a restarted archiver picks up where the killed one stopped:
an RTMP archive waits `silence_timeout_s` for its publisher to reconnect (OBS does by itself) and continues
the same archive, an HLS pull resumes after its last stored media sequence number, and an archive that was
being finalized is finalized again (with the same footage ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import ssl
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from loa_archiver.finalize import (
    assemble,
    clamp_range,
    cut,
    highlight_title,
    trims_supported,
)
from loa_archiver.hls import MasterPlaylist, PlaylistError, parse_playlist
from loa_archiver.metrics import ARCHIVES_FINISHED, HLS_REFUSED, LIVE_STREAMS, RTMP_REFUSED, SEGMENTS_STORED
from loa_archiver.netsafe import FetchError, Policy, RefusedUrl, SafeFetcher
from loa_archiver.recorder import SegmentRecorder, segment_key, sweep
from loa_archiver.rtmp import FLV_HEADER, RtmpConnection, RtmpServer
from loa_archiver.settings import ArchiverSettings
from loa_archiver.store import Archive, ArchiveStore, Pull, PullState, StreamKey
from loa_core.auth import hash_token
from loa_core.contracts import FOOTAGE_UPLOADED, FootageMetadata, FootageUploaded, SourceMedia
from loa_core.hashing import sha256_file
from loa_core.kafka import EventProducer
from loa_core.media import MediaError, probe
from loa_core.storage import Storage

log = logging.getLogger(__name__)


class PushSession:
    """One authorized RTMP publish: FLV tags go to the archive's recorder; silence ends the stream."""

    def __init__(
        self, archiver: Archiver, key: StreamKey, archive: Archive, recorder: SegmentRecorder, conn: RtmpConnection
    ) -> None:
        self.archiver = archiver
        self.key = key
        self.archive = archive
        self.recorder = recorder
        self.conn = conn
        self.last_media = time.monotonic()
        # Set when the stream ends on our side (silence, a revoked key): then the archive is finished at once.
        self.ended_by_us = False
        self._header_sent = False
        self._closed = False
        self._watchdog = asyncio.create_task(self._watch_silence())

    async def media(self, flv: bytes) -> None:
        if not self._header_sent:
            await self.recorder.write(FLV_HEADER)
            self._header_sent = True
        await self.recorder.write(flv)
        self.last_media = time.monotonic()

    async def _watch_silence(self) -> None:
        timeout = self.archiver.settings.silence_timeout_s
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            if time.monotonic() - self.last_media > timeout:
                log.info("archive %s: no media for %.0f s, ending the stream", self.archive.archive_id, timeout)
                self.end_by_us()
                return

    def end_by_us(self) -> None:
        self.ended_by_us = True
        self.conn.close()

    async def close(self, clean: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self._watchdog.cancel()
        await self.archiver.push_ended(self, clean or self.ended_by_us)


class Archiver:
    def __init__(
        self,
        settings: ArchiverSettings,
        storage: Storage,
        producer: EventProducer,
        store: ArchiveStore,
        channels: set[str],
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.producer = producer
        self.store = store
        self.channels = channels
        self.policy = Policy(settings.allowed_hosts(), settings.allowed_private())
        self.work_root = settings.data_dir / "archiver"
        self.rtmp = RtmpServer(settings.rtmp_host, settings.rtmp_port, self.authorize_publish)
        self.rtmps: RtmpServer | None = None
        if settings.rtmps_port:
            if settings.rtmps_cert_file is None or settings.rtmps_key_file is None:
                raise ValueError("LOA_RTMPS_PORT needs LOA_RTMPS_CERT_FILE and LOA_RTMPS_KEY_FILE")
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(settings.rtmps_cert_file, settings.rtmps_key_file)
            self.rtmps = RtmpServer(settings.rtmp_host, settings.rtmps_port, self.authorize_publish, tls)
        self._fetcher: SafeFetcher | None = None
        self._live: dict[str, PushSession] = {}  # by stream key id
        # Archives a publisher is recording into (or about to): finalize leaves them alone. Checked and set
        # without an await in between, so a reconnect and a grace period running out cannot both win.
        self._pushing: set[str] = set()
        self._grace: dict[str, asyncio.Task[None]] = {}  # by archive id: waiting for a publisher to come back
        self._pulls: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}  # by pull id
        self._finalizing: dict[str, asyncio.Task[None]] = {}
        self._finalize_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._finalize_attempts: dict[str, int] = {}
        self._scheduler: asyncio.Task[None] | None = None

    def work_dir(self, archive_id: str) -> Path:
        return self.work_root / "work" / archive_id

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.work_root.mkdir(parents=True, exist_ok=True)
        self._fetcher = SafeFetcher(self.policy, self.settings.hls_timeout_s)
        for archive in self.store.archives("finalizing"):
            self.schedule_finalize(archive.archive_id)
        for archive in self.store.archives("recording"):
            if archive.source == "rtmp":
                # The publisher was cut off when we died; give it the usual time to reconnect.
                self._start_grace(archive.archive_id)
            else:
                pull = self.store.pull(archive.owner_id)
                if pull is None or pull.state != "running":
                    # The pull had ended but the archive was not finalized yet when we died.
                    self.schedule_finalize(archive.archive_id)
        await self.rtmp.start()
        if self.rtmps is not None:
            await self.rtmps.start()
        self._scheduler = asyncio.create_task(self._schedule_pulls())

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.cancel()
        await self.rtmp.stop()
        if self.rtmps is not None:
            await self.rtmps.stop()
        tasks = [t for t, _ in self._pulls.values()] + list(self._grace.values()) + list(self._finalizing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._fetcher is not None:
            await self._fetcher.aclose()

    def ready_problem(self) -> str | None:
        if not self.rtmp.listening:
            return "the RTMP listener is not running"
        if self.rtmps is not None and not self.rtmps.listening:
            return "the RTMPS listener is not running"
        return None

    # ------------------------------------------------------------------ RTMP push

    async def authorize_publish(self, app: str, stream_key: str, conn: RtmpConnection) -> PushSession | None:
        if app != self.settings.rtmp_app or not stream_key:
            log.warning("rtmp %s: refused a publish to app %r", conn.peer, app)
            RTMP_REFUSED.inc()
            return None
        key = self.store.active_key_by_hash(hash_token(stream_key))
        if key is None:
            # Never log the key itself: a mistyped key is one character away from a real one.
            log.warning("rtmp %s: refused a publish with an unknown or revoked stream key", conn.peer)
            RTMP_REFUSED.inc()
            return None
        if key.key_id in self._live:
            log.warning("rtmp %s: refused a second publish for stream key %s", conn.peer, key.key_id)
            RTMP_REFUSED.inc()
            return None
        archive = self.store.recording_archive_for(key.key_id)
        if archive is None:
            archive = self.store.create_archive(
                "rtmp", key.key_id, key.channel, key.title, key.archive_channels, key.highlight_channels
            )
            log.info("archive %s: new RTMP archive for stream key %s", archive.archive_id, key.key_id)
        else:
            log.info("archive %s: publisher is back, continuing the archive", archive.archive_id)
        self._pushing.add(archive.archive_id)
        grace = self._grace.pop(archive.archive_id, None)
        if grace is not None:
            grace.cancel()
        recorder = SegmentRecorder(
            archive.archive_id,
            self.work_dir(archive.archive_id),
            self.storage,
            self.store,
            self.settings.segment_s,
            key.restream_urls,
        )
        try:
            await recorder.start()
        except Exception:
            # No recorder, no publish: the publisher is refused (and retries) rather than streaming into nothing.
            log.exception("archive %s: the recorder did not start", archive.archive_id)
            self._pushing.discard(archive.archive_id)
            self._start_grace(archive.archive_id)
            return None
        session = PushSession(self, key, archive, recorder, conn)
        self._live[key.key_id] = session
        LIVE_STREAMS.labels(source="rtmp").inc()
        return session

    async def push_ended(self, session: PushSession, finished: bool) -> None:
        self._live.pop(session.key.key_id, None)
        LIVE_STREAMS.labels(source="rtmp").dec()
        await session.recorder.finish()
        archive_id = session.archive.archive_id
        self._pushing.discard(archive_id)
        if finished:
            log.info("archive %s: stream ended", archive_id)
            self.schedule_finalize(archive_id)
        else:
            log.info(
                "archive %s: publisher dropped; waiting %.0f s for it", archive_id, self.settings.silence_timeout_s
            )
            self._start_grace(archive_id)

    def _start_grace(self, archive_id: str) -> None:
        async def wait_then_finalize() -> None:
            await asyncio.sleep(self.settings.silence_timeout_s)
            self._grace.pop(archive_id, None)
            self.schedule_finalize(archive_id)

        self._grace[archive_id] = asyncio.create_task(wait_then_finalize())

    def position_s(self, archive: Archive) -> float:
        """Where the live is now, in seconds of the archive: what is stored, plus at most the segment being
        written (wall time since the start overestimates after a reconnect, stored time lags by a segment)."""
        recorded = sum(s.duration_s for s in self.store.segments(archive.archive_id))
        since_start = (datetime.now(UTC) - datetime.fromisoformat(archive.started_at)).total_seconds()
        return max(recorded, min(since_start, recorded + self.settings.segment_s))

    def revoke_key(self, key_id: str) -> bool:
        revoked = self.store.revoke_stream_key(key_id)
        session = self._live.get(key_id)
        if session is not None:
            # A revoked key stops publishing now; what was recorded is archived as usual.
            session.end_by_us()
        return revoked

    def stop_archive(self, archive_id: str) -> bool:
        """End of stream requested through the API."""
        archive = self.store.archive(archive_id)
        if archive is None or archive.state != "recording":
            return False
        for session in self._live.values():
            if session.archive.archive_id == archive_id:
                session.end_by_us()
                return True
        for pull_id, (_, stop) in self._pulls.items():
            pull = self.store.pull(pull_id)
            if pull is not None and pull.archive_id == archive_id:
                stop.set()
                return True
        self.schedule_finalize(archive_id)
        return True

    # ------------------------------------------------------------------ HLS pull

    async def _schedule_pulls(self) -> None:
        # Pulls that were running when the archiver stopped continue; scheduled ones start when due.
        for pull in self.store.pulls("running"):
            self._start_pull(pull)
        while True:
            now = datetime.now(UTC)
            for pull in self.store.pulls("scheduled"):
                if datetime.fromisoformat(pull.start_at) <= now and pull.pull_id not in self._pulls:
                    self._start_pull(pull)
            await asyncio.sleep(self.settings.scheduler_interval_s)

    def _start_pull(self, pull: Pull) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(self._run_pull(pull, stop))
        self._pulls[pull.pull_id] = (task, stop)

    def cancel_pull(self, pull_id: str) -> bool:
        pull = self.store.pull(pull_id)
        if pull is None:
            return False
        if pull.state == "scheduled" and pull_id not in self._pulls:
            self.store.set_pull_state(pull_id, "cancelled")
            return True
        running = self._pulls.get(pull_id)
        if running is not None:
            running[1].set()
            return True
        return False

    async def _run_pull(self, pull: Pull, stop: asyncio.Event) -> None:
        archive = self.store.archive(pull.archive_id) if pull.archive_id else None
        if archive is None or archive.state != "recording":
            archive = self.store.create_archive(
                "hls", pull.pull_id, pull.channel, pull.title, pull.archive_channels, pull.highlight_channels
            )
        self.store.set_pull_state(pull.pull_id, "running", archive.archive_id)
        LIVE_STREAMS.labels(source="hls").inc()
        state: PullState = "done"
        error: str | None = None
        try:
            outcome = await self._pull_loop(pull, archive.archive_id, stop)
            log.info("pull %s: %s", pull.pull_id, outcome)
            if outcome == "stopped":
                state = "cancelled"
        except (RefusedUrl, PlaylistError) as exc:
            if isinstance(exc, RefusedUrl):
                HLS_REFUSED.inc()
            log.warning("pull %s: %s", pull.pull_id, exc)
            state, error = "failed", str(exc)
        finally:
            LIVE_STREAMS.labels(source="hls").dec()
        self.store.set_pull_state(pull.pull_id, state, error=error)
        self._pulls.pop(pull.pull_id, None)
        # Whatever was recorded is archived, also after a refusal mid-stream.
        self.schedule_finalize(archive.archive_id)

    async def _pull_loop(self, pull: Pull, archive_id: str, stop: asyncio.Event) -> str:
        assert self._fetcher is not None
        fetcher = self._fetcher
        settings = self.settings
        end_at = datetime.fromisoformat(pull.end_at) if pull.end_at else None
        last_seq = self.store.last_source_seq(archive_id)
        n = self.store.next_segment_number(archive_id)
        playlist_url = pull.url
        init_cache: dict[str, bytes] = {}
        last_new = time.monotonic()
        while True:
            if end_at is not None and datetime.now(UTC) >= end_at:
                return "capture window closed"
            interval = 1.0
            try:
                final_url, body = await fetcher.get(playlist_url, settings.hls_max_playlist_bytes)
                playlist = parse_playlist(body.decode("utf-8", errors="replace"), final_url)
                if isinstance(playlist, MasterPlaylist):
                    if playlist_url != pull.url:
                        raise PlaylistError("a variant playlist pointed to another master playlist")
                    playlist_url = playlist.variant_uri
                    continue
                interval = max(0.5, min(playlist.target_duration_s / 2, 5.0))
                fresh = [s for s in playlist.segments if last_seq is None or s.seq > last_seq]
                if last_seq is not None and fresh and fresh[0].seq > last_seq + 1:
                    log.warning(
                        "pull %s: segments %d..%d left the playlist before they could be fetched",
                        pull.pull_id,
                        last_seq + 1,
                        fresh[0].seq - 1,
                    )
                for segment in fresh:
                    if stop.is_set():
                        return "stopped"
                    data = b""
                    if segment.init_uri is not None:
                        if segment.init_uri not in init_cache:
                            _, init_cache[segment.init_uri] = await fetcher.get(
                                segment.init_uri, settings.hls_max_segment_bytes
                            )
                        data = init_cache[segment.init_uri]
                    _, media = await fetcher.get(segment.uri, settings.hls_max_segment_bytes)
                    key = segment_key(archive_id, n, "mp4" if segment.init_uri else "ts")
                    await asyncio.to_thread(self.storage.put_stream, key, [data, media])
                    self.store.add_segment(archive_id, n, key, segment.duration_s, segment.seq)
                    SEGMENTS_STORED.labels(source="hls").inc()
                    last_seq, n, last_new = segment.seq, n + 1, time.monotonic()
                if playlist.ended:
                    return "the stream ended (EXT-X-ENDLIST)"
            except FetchError as exc:
                log.warning("pull %s: %s (will retry)", pull.pull_id, exc)
            except PlaylistError as exc:
                if last_seq is None:
                    raise  # never a playlist we can record: refuse at once
                # Mid-stream, a bad answer (a CDN error page served with 200) is retried until the silence timeout.
                log.warning("pull %s: %s (will retry)", pull.pull_id, exc)
            if time.monotonic() - last_new > settings.silence_timeout_s:
                return f"no new segment for {settings.silence_timeout_s:.0f} s"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                return "stopped"

    # ------------------------------------------------------------------ end of stream

    def schedule_finalize(self, archive_id: str) -> None:
        task = self._finalizing.get(archive_id)
        if task is None or task.done():
            self._finalizing[archive_id] = asyncio.create_task(self.finalize(archive_id))

    async def wait_finalized(self, archive_id: str) -> None:
        task = self._finalizing.get(archive_id)
        if task is not None:
            await task

    async def finalize(self, archive_id: str) -> None:
        async with self._finalize_locks[archive_id]:
            archive = self.store.archive(archive_id)
            if archive is None or archive.state in ("announced", "empty"):
                return
            if archive_id in self._pushing:
                log.info("archive %s: a publisher is back; not finishing it", archive_id)
                return
            self.store.set_archive_state(archive_id, "finalizing")
            try:
                outcome = await self._finalize(archive)
            except Exception as exc:
                # Left in "finalizing" with the reason and tried again later (and by a restart); the footage ids
                # are fixed, so an event that did get out before the failure is only repeated, never doubled.
                attempt = self._finalize_attempts[archive_id] = self._finalize_attempts.get(archive_id, 0) + 1
                delay = min(300.0, self.settings.finalize_retry_s * 2 ** (attempt - 1))
                log.exception(
                    "archive %s: finalizing failed (attempt %d); retrying in %.0f s", archive_id, attempt, delay
                )
                self.store.set_archive_state(archive_id, "finalizing", error=f"{type(exc).__name__}: {exc}"[:2000])
                ARCHIVES_FINISHED.labels(outcome="failed").inc()
                asyncio.get_running_loop().call_later(delay, self.schedule_finalize, archive_id)
                return
            self._finalize_attempts.pop(archive_id, None)
            self.store.set_archive_state(archive_id, outcome)
            ARCHIVES_FINISHED.labels(outcome=outcome).inc()

    async def _finalize(self, archive: Archive) -> Literal["announced", "empty"]:
        archive_id = archive.archive_id
        await asyncio.to_thread(sweep, self.work_dir(archive_id), archive_id, self.storage, self.store)
        segments = self.store.segments(archive_id)
        if not segments:
            log.info("archive %s: no segment was recorded; nothing to announce", archive_id)
            return "empty"
        tmp_root = self.work_root / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{archive_id}-", dir=tmp_root))
        try:
            paths = []
            for segment in segments:
                path = work / segment.key.rsplit("/", 1)[-1]
                await asyncio.to_thread(self.storage.download, segment.key, path)
                paths.append(path)
            durations = [s.duration_s if s.key.endswith(".mp4") else None for s in segments]
            out = await assemble(paths, work, durations)
            for path in paths:
                path.unlink()
            media = await self._store_media(out, f"live/{archive_id}/archive.mp4")
            metadata = FootageMetadata(
                title=archive.title[:200], channels=archive.archive_channels, event_date=self._event_date(archive)
            )
            await self.producer.send(
                FOOTAGE_UPLOADED,
                FootageUploaded(footage_id=archive.footage_id, source="livestream", metadata=metadata, media=media),
            )
            log.info("archive %s: announced as footage %s (%.1f s)", archive_id, archive.footage_id, media.duration_s)
            await self._announce_highlights(archive, out, media)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return "announced"

    def _event_date(self, archive: Archive) -> date:
        return datetime.fromisoformat(archive.started_at).astimezone(ZoneInfo(self.settings.timezone)).date()

    async def _store_media(self, path: Path, key: str) -> SourceMedia:
        try:
            found = await probe(path)
        except MediaError as exc:
            raise RuntimeError(f"the assembled file does not probe: {exc}") from exc
        video = found.video
        if video is None or not video.width or not video.height or found.duration_s <= 0:
            raise RuntimeError("the assembled file has no video or no duration")
        sha256 = await asyncio.to_thread(sha256_file, path)
        await asyncio.to_thread(self.storage.put_file, key, path)
        return SourceMedia(
            key=key,
            size_bytes=path.stat().st_size,
            sha256=sha256,
            duration_s=found.duration_s,
            width=video.width,
            height=video.height,
            has_audio=found.has_audio,
        )

    async def _announce_highlights(self, archive: Archive, archive_file: Path, archive_media: SourceMedia) -> None:
        marks = self.store.marks(archive.archive_id)
        if not marks and self.settings.highlight_first_s > 0:
            # Recorded before announcing, so a finalize redone after a crash reuses the same footage id.
            self.store.add_mark(archive.archive_id, 0.0, self.settings.highlight_first_s, None)
            marks = self.store.marks(archive.archive_id)
        for mark in marks:
            span = clamp_range(mark.start_s, mark.end_s, archive_media.duration_s)
            if span is None:
                log.warning("archive %s: highlight %d is outside the archive; skipped", archive.archive_id, mark.idx)
                continue
            fields: dict[str, object] = {
                "title": highlight_title(archive.title, mark.title, mark.idx),
                "channels": archive.highlight_channels,
                "event_date": self._event_date(archive),
            }
            if trims_supported():
                # The cut is the archive itself with a trim for transcode: no second copy of the media.
                fields |= {"trim_start_s": span.start_s, "trim_end_s": span.end_s}
                media = archive_media
            else:
                cut_file = await cut(
                    archive_file, span.start_s, span.end_s, archive_file.with_name(f"hl{mark.idx}.mp4")
                )
                media = await self._store_media(cut_file, f"live/{archive.archive_id}/highlight-{mark.idx}.mp4")
            event = FootageUploaded(
                footage_id=mark.footage_id,
                source="livestream",
                metadata=FootageMetadata.model_validate(fields),
                media=media,
            )
            await self.producer.send(FOOTAGE_UPLOADED, event)
            log.info(
                "archive %s: highlight %d (%.1f-%.1f s) announced as footage %s",
                archive.archive_id,
                mark.idx,
                span.start_s,
                span.end_s,
                mark.footage_id,
            )
