"""The archiver: RTMP publishes and HLS pulls become recorded archives, each announced when its stream ends.

Three rooms, built by the bootstrap (`__main__.build_archiver`) and held together here for the HTTP edge:
push sessions (RTMP), the HLS puller and the finalizer. State lives in the ArchiveStore (SQLite, or PostgreSQL
shared by replicas, with the media in shared object storage), so a restarted archiver, or another replica, picks up
where the stopped one left off: an RTMP archive waits `silence_timeout_s` for its publisher to reconnect, an HLS
pull resumes after its last stored segment, and an archive that was being finalized is finalized again (with the
same footage ids). Who does what is decided by leases (loa_archiver/leases.py); the takeover watch here finalizes,
on one replica, the archives nobody holds any more.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from loa_archiver.finalizer import Finalizer
from loa_archiver.leases import Leases, archive_lease, should_finalize
from loa_archiver.live import LiveChunker
from loa_archiver.puller import HlsPuller
from loa_archiver.push import PushSessions
from loa_archiver.settings import ArchiverSettings
from loa_archiver.store import Archive, ArchiveStore
from loa_core.channel_registry import ChannelRegistry
from loa_core.db import DatabaseUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Archiver:
    settings: ArchiverSettings
    store: ArchiveStore
    channels: ChannelRegistry  # stream keys and pulls name channels: checked against the registry as it is now
    finalizer: Finalizer
    pushes: PushSessions
    puller: HlsPuller
    live: LiveChunker | None = None  # announces closed live chunks while archives record
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def leases(self) -> Leases:
        return self.finalizer.leases

    async def start(self) -> None:
        log.info("replica %s: lease length %.0f s", self.leases.holder, self.leases.lease_s)
        self._tasks.append(asyncio.create_task(self.leases.run()))
        await self.pushes.start()
        await self.puller.start()
        self._tasks.append(asyncio.create_task(self._watch()))
        if self.live is not None and self.live.enabled:
            self._tasks.append(asyncio.create_task(self.live.run()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Sources first: an ended publish or pull hands its archive to the finalizer, which stops last.
        await self.puller.stop()
        await self.pushes.stop()
        await self.finalizer.stop()
        # Whatever this replica still held lapses now: the others (or the next start) take it over at once.
        self.leases.release_all()

    async def _watch(self) -> None:
        while True:
            try:
                self.take_over()
                self.pushes.check_requests()
                self.puller.check_requests()
            except DatabaseUnavailable:
                log.warning("takeover watch: the database is unavailable; trying again", exc_info=True)
            except Exception:
                # The watch must outlive any one round: without it, nothing orphaned would be finalized.
                log.exception("takeover watch: a round failed; trying again")
            await asyncio.sleep(self.settings.scheduler_interval_s)

    def take_over(self) -> None:
        """Finalize the archives no replica holds that are due (`should_finalize`); the finalize takes the lease,
        so when several replicas see one at once, one finalizes it."""
        now = datetime.now(UTC)
        leases = self.store.leases()
        for archive in [*self.store.archives("recording"), *self.store.archives("finalizing")]:
            pull = self.store.pull(archive.owner_id) if archive.source == "hls" else None
            lease = leases.get(archive_lease(archive.archive_id))
            if should_finalize(archive, lease, pull, now, self.settings.silence_timeout_s):
                self.finalizer.schedule(archive.archive_id)

    def ready_problem(self) -> str | None:
        return self.channels.not_ready() or self.pushes.ready_problem()

    def stop_archive(self, archive_id: str) -> bool:
        """End of stream requested through the API."""
        archive = self.store.archive(archive_id)
        if archive is None or archive.state != "recording":
            return False
        if not (self.pushes.end_archive(archive_id) or self.puller.end_archive(archive_id)):
            # Recorded on another replica, which ends it; or by no one (a publisher gone): the watch finalizes it.
            self.store.request_stop(archive_id)
        return True

    def position_s(self, archive: Archive) -> float:
        """Where the live is now, in seconds of the archive: what is stored, plus at most the segment being
        written (wall time since the start overestimates after a reconnect, stored time lags by a segment)."""
        recorded = sum(s.duration_s for s in self.store.segments(archive.archive_id))
        since_start = (datetime.now(UTC) - datetime.fromisoformat(archive.started_at)).total_seconds()
        return max(recorded, min(since_start, recorded + self.settings.segment_s))
