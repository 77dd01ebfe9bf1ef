"""The archiver: RTMP publishes and HLS pulls become recorded archives, each announced when its stream ends.

Three rooms, built by the bootstrap (`__main__.build_archiver`) and held together here for the HTTP edge:
push sessions (RTMP), the HLS puller and the finalizer. State lives in the ArchiveStore (SQLite), so a restarted
archiver picks up where the stopped one left off: an RTMP archive waits `silence_timeout_s` for its publisher
to reconnect, an HLS pull resumes after its last stored segment, and an archive that was being finalized is
finalized again (with the same footage ids).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from loa_archiver.finalizer import Finalizer
from loa_archiver.live import LiveChunker
from loa_archiver.puller import HlsPuller
from loa_archiver.push import PushSessions
from loa_archiver.settings import ArchiverSettings
from loa_archiver.store import Archive, ArchiveStore
from loa_core.channel_registry import ChannelRegistry


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

    async def start(self) -> None:
        self.finalizer.start()
        await self.pushes.start()
        await self.puller.start()
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

    def ready_problem(self) -> str | None:
        return self.channels.not_ready() or self.pushes.ready_problem()

    def stop_archive(self, archive_id: str) -> bool:
        """End of stream requested through the API."""
        archive = self.store.archive(archive_id)
        if archive is None or archive.state != "recording":
            return False
        if not (self.pushes.end_archive(archive_id) or self.puller.end_archive(archive_id)):
            self.finalizer.schedule(archive_id)
        return True

    def position_s(self, archive: Archive) -> float:
        """Where the live is now, in seconds of the archive: what is stored, plus at most the segment being
        written (wall time since the start overestimates after a reconnect, stored time lags by a segment)."""
        recorded = sum(s.duration_s for s in self.store.segments(archive.archive_id))
        since_start = (datetime.now(UTC) - datetime.fromisoformat(archive.started_at)).total_seconds()
        return max(recorded, min(since_start, recorded + self.settings.segment_s))
