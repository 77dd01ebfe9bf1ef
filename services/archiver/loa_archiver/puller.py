"""The HLS puller: scheduled pulls start when due, each stores the live playlist's segments as they appear.

A pull that was running when the archiver stopped goes on after its archive's last stored media sequence number;
when a pull ends (end of list, silence, capture window closed, stop, refusal), what it recorded is finalized.
With several replicas, each pull runs on exactly one: the replica that takes its lease (loa_archiver/leases.py)
when it is due, or, when that replica dies, the one that takes the lapsed lease over and resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from loa_archiver.finalizer import Finalizer
from loa_archiver.hls import MasterPlaylist, MediaSegment, PlaylistError, parse_playlist
from loa_archiver.leases import Leases, archive_lease, pull_lease
from loa_archiver.metrics import HLS_REFUSED, LIVE_STREAMS, SEGMENTS_STORED
from loa_archiver.recorder import read_video
from loa_archiver.settings import ArchiverSettings
from loa_archiver.stopping import see_through
from loa_archiver.store import ArchiveStore, Pull, PullState
from loa_core.contracts import layout
from loa_core.db import DatabaseUnavailable
from loa_core.netsafe import FetchError, Policy, RefusedUrl, SafeFetcher
from loa_core.segments import RecordedVideo
from loa_core.storage import Storage

log = logging.getLogger(__name__)


class HlsPuller:
    def __init__(self, settings: ArchiverSettings, storage: Storage, store: ArchiveStore, finalizer: Finalizer) -> None:
        self.settings = settings
        self.storage = storage
        self.store = store
        self.finalizer = finalizer
        self.leases: Leases = finalizer.leases
        self.policy = Policy(settings.allowed_hosts(), settings.allowed_private())
        self._fetcher: SafeFetcher | None = None
        self._pulls: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}  # by pull id
        self._scheduler: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._fetcher = SafeFetcher(self.policy, self.settings.hls_timeout_s)
        # An archive whose pull had ended but was not finalized yet is the takeover watch's (Archiver).
        self._scheduler = asyncio.create_task(self._schedule_pulls())

    async def stop(self) -> None:
        # A pull stopped here stays "running" in the store and goes on after the next start.
        tasks = [t for t, _ in self._pulls.values()]
        if self._scheduler is not None:
            tasks.append(self._scheduler)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._fetcher is not None:
            await self._fetcher.aclose()

    async def _schedule_pulls(self) -> None:
        # Running pulls no replica holds (theirs stopped or died) continue; scheduled ones start when due.
        while True:
            try:
                self.claim_pulls()
            except DatabaseUnavailable:
                log.warning("pulls: the database is unavailable; trying again", exc_info=True)
            except Exception:
                log.exception("pulls: claiming failed; trying again")
            await asyncio.sleep(self.settings.scheduler_interval_s)

    def claim_pulls(self) -> None:
        now = datetime.now(UTC)
        due = [p for p in self.store.pulls("scheduled") if datetime.fromisoformat(p.start_at) <= now]
        for pull in [*self.store.pulls("running"), *due]:
            if pull.pull_id in self._pulls:
                continue
            stop = asyncio.Event()
            if not self.leases.take(pull_lease(pull.pull_id), stop.set):
                continue  # another replica runs it
            found = self.store.pull(pull.pull_id)  # as it is now that it is ours
            if found is None or found.state not in ("scheduled", "running"):
                self.leases.release(pull_lease(pull.pull_id), forget=True)
                continue
            log.info("pull %s: claimed (%s)", pull.pull_id, found.state)
            task = asyncio.create_task(self._run_pull(found, stop))
            self._pulls[pull.pull_id] = (task, stop)

    def cancel(self, pull_id: str) -> bool:
        """Cancel a pull not started yet, or stop a running one (here, or through the store on its replica)."""
        pull = self.store.pull(pull_id)
        if pull is None:
            return False
        running = self._pulls.get(pull_id)
        if running is not None:
            running[1].set()
            return True
        if pull.state == "scheduled" and self.store.cancel_scheduled_pull(pull_id):
            return True
        if pull.state == "running" and pull.archive_id is not None:
            return self.store.request_stop(pull.archive_id)
        return False

    def check_requests(self) -> None:
        """Stop the pulls running here whose archive was asked to stop through another replica."""
        for pull_id, (_, stop) in list(self._pulls.items()):
            pull = self.store.pull(pull_id)
            archive = self.store.archive(pull.archive_id) if pull is not None and pull.archive_id else None
            if archive is not None and archive.stop_requested_at is not None:
                stop.set()

    def end_archive(self, archive_id: str) -> bool:
        """Stop the pull recording into this archive, if one is; the archive is then finalized."""
        for pull_id, (_, stop) in self._pulls.items():
            pull = self.store.pull(pull_id)
            if pull is not None and pull.archive_id == archive_id:
                stop.set()
                return True
        return False

    async def _run_pull(self, pull: Pull, stop: asyncio.Event) -> None:
        lease = pull_lease(pull.pull_id)
        archive = self.store.archive(pull.archive_id) if pull.archive_id else None
        if archive is None or archive.state != "recording":
            archive = self.store.create_archive(
                "hls",
                pull.pull_id,
                pull.channel,
                pull.title,
                pull.archive_channels,
                pull.highlight_channels,
                ward=pull.ward,
            )
        elif pull.state == "running":
            log.info("pull %s: resuming archive %s", pull.pull_id, archive.archive_id)
        # The archive's lease too, as a publish holds it: its live chunks are announced from here.
        recording = archive_lease(archive.archive_id)
        if not await self.leases.take_waiting(recording, stop.set) or not self.store.start_pull(
            pull.pull_id, archive.archive_id
        ):
            # Cancelled meanwhile (on any replica): its empty archive is finalized as such by the takeover watch.
            self.leases.release(recording)
            self.leases.release(lease, forget=True)
            self._pulls.pop(pull.pull_id, None)
            return
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
        self._pulls.pop(pull.pull_id, None)
        self.leases.release(recording)
        if not self.leases.holds(lease):
            log.warning("pull %s: another replica took it over; leaving it to that one", pull.pull_id)
            return
        self.store.set_pull_state(pull.pull_id, state, error=error)
        self.leases.release(lease, forget=True)
        # Whatever was recorded is archived, also after a refusal mid-stream.
        self.finalizer.schedule(archive.archive_id)

    async def _store_segment(
        self, archive_id: str, n: int, key: str, chunks: list[bytes], segment: MediaSegment
    ) -> None:
        video = await self._read_video(key, chunks)
        await asyncio.to_thread(self.storage.put_stream, key, chunks)
        self.store.add_segment(archive_id, n, key, segment.duration_s, segment.seq, video)

    async def _read_video(self, key: str, chunks: list[bytes]) -> RecordedVideo:
        """The segment's video, read from a copy on disk (named as the end of the live names it) to be recorded
        with it, so the end of the live need not read it."""
        tmp_root = self.settings.work_root() / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tmp_root) as tmp:
            path = Path(tmp) / key.rsplit("/", 1)[-1]
            await asyncio.to_thread(path.write_bytes, b"".join(chunks))
            return await read_video(path)

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
                    key = layout.segment_key(archive_id, n, "mp4" if segment.init_uri else "ts")
                    # A segment received is stored and recorded even when a stop arrives meanwhile.
                    await see_through(self._store_segment(archive_id, n, key, [data, media], segment))
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
