"""The finalizer: an archive whose stream ended is assembled from its stored segments and announced.

An archive being finalized stays in the "finalizing" state until it is announced (or found empty), so a
restarted archiver finalizes it again. Once the archive is assembled and stored, the events announcing it and its
highlights are written to the store (an outbox) and sent one by one, each marked as sent when the broker has it:
a finalize redone after a failure (Kafka or storage down, retried with backoff), a stop or a crash sends only what
was not sent. A stop (SIGTERM) lets a send in flight finish and be recorded; only a kill between the broker's
answer and that record can repeat an event, under the same footage id. A finalize holds the archive's lease
(loa_archiver/leases.py), so it never runs while a publisher records into the archive, nor on two replicas at once;
an archive whose finalizing replica died is finalized again by another once the lease lapses.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from loa_archiver.finalize import assemble, clamp_range, highlight_title
from loa_archiver.leases import Leases, archive_lease
from loa_archiver.live import LiveChunker
from loa_archiver.metrics import ARCHIVES_FINISHED
from loa_archiver.recorder import sweep
from loa_archiver.settings import ArchiverSettings
from loa_archiver.stopping import see_through
from loa_archiver.store import Announcement, Archive, ArchiveStore
from loa_core.contracts import FOOTAGE_UPLOADED, FootageMetadata, FootageUploaded, SourceMedia, layout
from loa_core.kafka import EventProducer
from loa_core.media import MediaError, probe
from loa_core.storage import Storage

log = logging.getLogger(__name__)

# How many of a live's segments are fetched from storage at once for its assembly.
SEGMENT_FETCHES = 8


class Finalizer:
    def __init__(
        self,
        settings: ArchiverSettings,
        storage: Storage,
        producer: EventProducer,
        store: ArchiveStore,
        live: LiveChunker | None = None,
        leases: Leases | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.producer = producer
        self.store = store
        # Announces the archive's last live chunks before it is assembled (None: no live chunks).
        self.live = live
        self.leases = leases or Leases(store, settings.lease_s)
        # Archives whose lease this finalizer holds (being finalized, or waiting to be tried again).
        self._owned: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._attempts: dict[str, int] = {}
        self._stopping = False

    async def stop(self) -> None:
        # From now on nothing new starts: a retry timer going off, or a source handing over an archive late.
        self._stopping = True
        tasks = [t for t in self._tasks.values() if not t.done()]
        if tasks:
            log.info("stopping: %d archive(s) being finalized are left to the next start", len(tasks))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # What was left lapses now: another replica (or the next start) finalizes it at once.
        for archive_id in self._owned:
            self.leases.release(archive_lease(archive_id))
        self._owned.clear()

    def schedule(self, archive_id: str) -> None:
        if self._stopping:
            return  # the archive stays "finalizing" (or "recording") and the next start finalizes it
        task = self._tasks.get(archive_id)
        if task is None or task.done():
            self._tasks[archive_id] = asyncio.create_task(self.finalize(archive_id))

    async def wait(self, archive_id: str) -> None:
        task = self._tasks.get(archive_id)
        if task is not None:
            await task

    async def finalize(self, archive_id: str) -> None:
        async with self._locks[archive_id]:
            if archive_id not in self._owned:
                # Taken, or held by a publisher recording into it (here or on another replica), or by another
                # replica's finalize: then that one carries on.
                if not self.leases.take(archive_lease(archive_id)):
                    log.info("archive %s: recorded into or finalized elsewhere; not finishing it here", archive_id)
                    return
                self._owned.add(archive_id)
            archive = self.store.archive(archive_id)
            if archive is None or archive.state in ("announced", "empty"):
                self._done(archive_id)
                return
            self.store.set_archive_state(archive_id, "finalizing")
            try:
                outcome = await self._finalize(archive)
            except Exception as exc:
                # Left in "finalizing" with the reason and tried again later (and by a restart), which sends only
                # the announcements not yet sent.
                attempt = self._attempts[archive_id] = self._attempts.get(archive_id, 0) + 1
                delay = min(300.0, self.settings.finalize_retry_s * 2 ** (attempt - 1))
                log.exception(
                    "archive %s: finalizing failed (attempt %d); retrying in %.0f s", archive_id, attempt, delay
                )
                self.store.set_archive_state(archive_id, "finalizing", error=f"{type(exc).__name__}: {exc}"[:2000])
                ARCHIVES_FINISHED.labels(outcome="failed").inc()
                asyncio.get_running_loop().call_later(delay, self.schedule, archive_id)
                return
            self._attempts.pop(archive_id, None)
            self.store.set_archive_state(archive_id, outcome)
            self._done(archive_id)
            ARCHIVES_FINISHED.labels(outcome=outcome).inc()

    def _done(self, archive_id: str) -> None:
        self._owned.discard(archive_id)
        self.leases.release(archive_lease(archive_id), forget=True)

    async def _finalize(self, archive: Archive) -> Literal["announced", "empty"]:
        archive_id = archive.archive_id
        planned = self.store.announcements(archive_id)
        if not planned:
            events = await self._assemble_and_store(archive)
            if not events:
                return "empty"
            # The outbox: every event this archive announces, written before the first is sent.
            self.store.plan_announcements(archive_id, [(e.footage_id, e.to_bytes()) for e in events])
            planned = self.store.announcements(archive_id)
        for announcement in planned:
            if not announcement.sent:
                await self._announce(archive_id, announcement)
        return "announced"

    async def _announce(self, archive_id: str, announcement: Announcement) -> None:
        async def send_and_record() -> None:
            await self.producer.send(FOOTAGE_UPLOADED, FootageUploaded.from_bytes(announcement.event))
            self.store.mark_announced(archive_id, announcement.idx)
            log.info("archive %s: announced footage %s", archive_id, announcement.footage_id)

        # A stop arriving mid-send lets the send finish and be recorded: the event may already be on the broker.
        await see_through(send_and_record())

    async def _assemble_and_store(self, archive: Archive) -> list[FootageUploaded]:
        """Assemble the stored segments, store the archive, and return the events announcing it and its
        highlights (none when nothing was recorded)."""
        archive_id = archive.archive_id
        await asyncio.to_thread(sweep, self.settings.recording_dir(archive_id), archive_id, self.storage, self.store)
        segments = self.store.segments(archive_id)
        if not segments:
            log.info("archive %s: no segment was recorded; nothing to announce", archive_id)
            return []
        # The last chunks first: transcode encodes them while the archive is assembled and stored.
        live_chunks = await self.live.announce(archive, ended=True) if self.live and self.live.enabled else 0
        tmp_root = self.settings.work_root() / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"{archive_id}-", dir=tmp_root))
        try:
            paths = await self._segment_files([s.key for s in segments], work)
            out = await assemble(paths, [segment.video for segment in segments], work)
            for path in paths:
                if path.parent == work:
                    path.unlink()  # downloaded: its space back before the archive is stored
            media = await self._store_media(out, layout.archive_key(archive_id))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("archive %s: assembled and stored (%.1f s)", archive_id, media.duration_s)
        metadata = FootageMetadata(
            title=archive.title[:200], channels=archive.archive_channels, event_date=self._event_date(archive)
        )
        archive_event = FootageUploaded(
            footage_id=archive.footage_id,
            ward=archive.ward,
            source="livestream",
            metadata=metadata,
            media=media,
            live_chunks=live_chunks or None,
        )
        return [archive_event, *self._highlights(archive, media)]

    async def _segment_files(self, keys: list[str], work: Path) -> list[Path]:
        """Each segment as a file to read: in place where storage is a filesystem, or else downloaded into `work`,
        SEGMENT_FETCHES at a time (a 30-minute live has 450 segments of 4 s: one after another, their round trips
        add up)."""
        slots = asyncio.Semaphore(SEGMENT_FETCHES)

        async def fetch(key: str) -> Path:
            async with slots:
                return await asyncio.to_thread(self.storage.readable, key, work / key.rsplit("/", 1)[-1])

        return list(await asyncio.gather(*(fetch(key) for key in keys)))

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
        # Hashed as it is stored: one read of the archive, not two.
        sha256 = await asyncio.to_thread(self.storage.put_file_hashed, key, path)
        return SourceMedia(
            key=key,
            size_bytes=path.stat().st_size,
            sha256=sha256,
            duration_s=found.duration_s,
            width=video.width,
            height=video.height,
            has_audio=found.has_audio,
        )

    def _highlights(self, archive: Archive, archive_media: SourceMedia) -> list[FootageUploaded]:
        marks = self.store.marks(archive.archive_id)
        if not marks and self.settings.highlight_first_s > 0:
            self.store.add_mark(archive.archive_id, 0.0, self.settings.highlight_first_s, None)
            marks = self.store.marks(archive.archive_id)
        events = []
        for mark in marks:
            span = clamp_range(mark.start_s, mark.end_s, archive_media.duration_s)
            if span is None:
                log.warning("archive %s: highlight %d is outside the archive; skipped", archive.archive_id, mark.idx)
                continue
            # A highlight is the archive itself with a trim for transcode: no second copy of the media.
            metadata = FootageMetadata(
                title=highlight_title(archive.title, mark.title, mark.idx),
                channels=archive.highlight_channels,
                event_date=self._event_date(archive),
                trim_start_s=span.start_s,
                trim_end_s=span.end_s,
            )
            events.append(
                FootageUploaded(
                    footage_id=mark.footage_id,
                    ward=archive.ward,
                    source="livestream",
                    metadata=metadata,
                    media=archive_media,
                )
            )
            log.info(
                "archive %s: highlight %d is %.1f-%.1f s, footage %s",
                archive.archive_id,
                mark.idx,
                span.start_s,
                span.end_s,
                mark.footage_id,
            )
        return events
