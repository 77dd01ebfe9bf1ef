"""Live chunks: while a livestream is recorded, each closed run of its stored segments about `live_chunk_s` long is
announced on live.chunks, so transcode encodes it before the live ends (contracts/live.py).

The grouping is a pure function of the archive's stored segments (in order, their durations never change once
stored): a restarted archiver, or the replica that takes a live over, groups the same way and goes on after the
chunks the store counts as announced (a kill between a send and its count repeats one chunk, under the same event
id: transcode finds it done). Each replica announces the lives it records (whose archive lease it holds).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence

from loa_archiver.leases import Leases, archive_lease
from loa_archiver.store import Archive, ArchiveStore, Segment
from loa_core.contracts import DEFAULT_WARD, LIVE_CHUNKS, LIVE_PREROLL_S, LiveChunk, LiveSegment
from loa_core.kafka import EventProducer

log = logging.getLogger(__name__)


def live_groups(segments: Sequence[Segment], chunk_s: float, *, ended: bool) -> list[list[Segment]]:
    """The segments in chunks, in order (pure): a chunk closes once it holds at least `chunk_s`; the last one,
    still filling, counts only when the live has ended."""
    groups: list[list[Segment]] = []
    current: list[Segment] = []
    for segment in segments:
        current.append(segment)
        if sum(s.duration_s for s in current) >= chunk_s:
            groups.append(current)
            current = []
    if current and ended:
        groups.append(current)
    return groups


def preroll(before: Sequence[Segment]) -> list[Segment]:
    """The last segments of `before`, at least LIVE_PREROLL_S of them, in order (pure): what a chunk's sound is
    encoded from ahead of its seam."""
    taken: list[Segment] = []
    for segment in reversed(before):
        if sum(s.duration_s for s in taken) >= LIVE_PREROLL_S:
            break
        taken.insert(0, segment)
    return taken


def live_chunks(
    groups: Sequence[Sequence[Segment]],
    *,
    archive_id: str,
    footage_id: str,
    channels: tuple[str, ...],
    ward: str = DEFAULT_WARD,
) -> list[LiveChunk]:
    """Each group of an archive's segments as the chunk announced for it (pure): its index, where it starts in the
    archive (the sum of the segments before it) and the segments before it for its sound's pre-roll."""
    chunks: list[LiveChunk] = []
    start = 0.0
    done: list[Segment] = []
    for index, group in enumerate(groups):
        chunks.append(
            LiveChunk(
                event_id=chunk_event_id(archive_id, index),
                footage_id=footage_id,
                ward=ward,
                archive_id=archive_id,
                index=index,
                start_s=round(start, 6),
                segments=tuple(_live_segment(s) for s in group),
                preroll=tuple(_live_segment(s) for s in preroll(done)),
                channels=channels,
            )
        )
        start += sum(s.duration_s for s in group)
        done.extend(group)
    return chunks


def _live_segment(segment: Segment) -> LiveSegment:
    return LiveSegment(key=segment.key, duration_s=segment.duration_s)


def chunk_event_id(archive_id: str, index: int) -> str:
    """The same chunk announced again carries the same event id."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"loa:live.chunks:{archive_id}:{index}").hex


class LiveChunker:
    """Announces each archive's closed chunks while it records, and the rest when it ends."""

    def __init__(
        self,
        store: ArchiveStore,
        producer: EventProducer,
        chunk_s: float,
        every_s: float = 1.0,
        leases: Leases | None = None,
    ) -> None:
        self.store = store
        self.producer = producer
        self.chunk_s = chunk_s
        self.every_s = every_s
        self.leases = leases  # None: every recording archive is this process's
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def enabled(self) -> bool:
        return self.chunk_s > 0

    async def run(self) -> None:
        """Every `every_s`, the recording archives' newly closed chunks (until cancelled)."""
        while True:
            for archive in self.store.archives("recording"):
                if self.leases is not None and not self.leases.holds(archive_lease(archive.archive_id)):
                    continue  # recorded on another replica, or waiting for its publisher
                try:
                    await self.announce(archive, ended=False)
                except Exception:
                    # Kafka away: the chunk is announced on a later round, or at the end at the latest.
                    log.warning("archive %s: could not announce a live chunk yet", archive.archive_id, exc_info=True)
            await asyncio.sleep(self.every_s)

    async def announce(self, archive: Archive, *, ended: bool) -> int:
        """Announce the chunks not announced yet; return how many chunks the archive has so far."""
        # One announce per archive at a time: the finalize's last one waits for a round still sending.
        async with self._locks[archive.archive_id]:
            return await self._announce(archive, ended=ended)

    async def _announce(self, archive: Archive, *, ended: bool) -> int:
        groups = live_groups(self.store.segments(archive.archive_id), self.chunk_s, ended=ended)
        now = self.store.archive(archive.archive_id)
        sent = now.live_chunks_sent if now is not None else 0
        every = live_chunks(
            groups,
            archive_id=archive.archive_id,
            footage_id=archive.footage_id,
            channels=archive.archive_channels,
            ward=archive.ward,
        )
        for chunk in every[sent:]:
            await self.producer.send(LIVE_CHUNKS, chunk)
            self.store.set_live_chunks_sent(archive.archive_id, chunk.index + 1)
            log.info("archive %s: live chunk %d announced (%.1f s from %.1f s)", archive.archive_id, chunk.index,
                     chunk.duration_s, chunk.start_s)  # fmt: skip
        return len(groups)
