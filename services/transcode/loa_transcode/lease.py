"""A job's lease: which worker is doing one upload's transcode job now, so that no other one redoes it meanwhile.

At a rebalance (a worker joins, as KEDA scales up on lag) a partition moves while its old owner is still encoding
one of its jobs: Faust does not wait for it (`stream_wait_empty=False`, decision 0006) and the job's offset is not
committed yet, so the new owner receives the same job. Without a lease it encoded it again.

The lease is an object in the shared storage beside the job's staged outputs
(`layout.lease_key(footage, upload event, generation)`), created with `Storage.create` (only where none is: of two
workers, one takes it) and rewritten by its holder every heartbeat. A worker that finds the newest generation fresh
and someone else's waits: it looks again each heartbeat, for the manifest (the job is done: it announces it again,
as a redelivered job does) or for the lease gone stale, released or deleted (then it creates the next generation and
does the job). Stale: not rewritten for `stale_s`, by the holder's clock in the lease or, if clocks disagree, by how
long the waiter has watched it unchanged; `stale_s` is a few heartbeats and at most the session timeout, so a
SIGKILLed worker's job, whose partition moves after the session timeout, is taken over at once.

The lease spares work; it does not guard correctness: outputs are staged per attempt and the manifest goes last, so
two workers doing one job (a holder cut off from storage longer than `stale_s`, clocks set far apart) still publish
one complete set, as before the lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType

from loa_core.contracts import layout
from loa_core.storage import ObjectNotFound, Storage
from loa_core.streaming import RetryableError

log = logging.getLogger(__name__)

# A lease not rewritten for this many heartbeats is stale (unless the session timeout is shorter).
STALE_HEARTBEATS = 5


def stale_after(session_timeout_s: float, heartbeat_s: float) -> float:
    """How long a lease may go without a beat before another worker takes the job over (pure): a few heartbeats,
    and no longer than the consumer group's session timeout (by the time a dead worker's partitions move, its
    leases are stale)."""
    return min(session_timeout_s, STALE_HEARTBEATS * heartbeat_s)


@dataclass(frozen=True)
class Beat:
    """What a lease object holds: its holder and when (the holder's Unix time) it last wrote it."""

    holder: str
    count: int
    at: float

    def to_bytes(self) -> bytes:
        return json.dumps({"holder": self.holder, "count": self.count, "at": self.at}).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Beat | None:
        try:
            data = json.loads(raw)
            return cls(str(data["holder"]), int(data["count"]), float(data["at"]))
        except (ValueError, KeyError, TypeError):
            return None


def is_free(beat: Beat | None, *, me: str, now: float, unchanged_s: float, stale_s: float) -> bool:
    """Whether a job whose newest lease holds `beat` may be taken by worker `me` (pure). `now`: this worker's Unix
    time; `unchanged_s`: how long this worker has seen that lease unchanged.

    Free: no lease readable; one of this worker's own (left by an earlier try whose release failed: a worker runs
    one job per upload at a time); one whose last beat is older than `stale_s`, by the holder's clock or, should
    the clocks disagree, by how long it stayed unchanged under this worker's eyes.
    """
    if beat is None or beat.holder == me:
        return True
    return now - beat.at > stale_s or unchanged_s > stale_s


def worker_name() -> str:
    """This process's name as a lease holder: readable in the logs, unique per process."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class HeldLease:
    """A lease this worker holds: rewritten every heartbeat while the job runs (`async with`), deleted after."""

    def __init__(self, storage: Storage, key: str, beat: Beat, heartbeat_s: float) -> None:
        self.storage = storage
        self.key = key
        self._beat = beat
        self._heartbeat_s = heartbeat_s
        self._task: asyncio.Task[None] | None = None

    async def _beat_on(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            self._beat = Beat(self._beat.holder, self._beat.count + 1, time.time())
            try:
                await asyncio.to_thread(self.storage.put_stream, self.key, [self._beat.to_bytes()])
            except OSError as exc:
                # The job goes on: at worst another worker takes it over and it is done twice (outputs are staged).
                log.warning("could not renew the lease %s: %s", self.key, exc)

    async def __aenter__(self) -> HeldLease:
        self._task = asyncio.create_task(self._beat_on(), name=f"lease {self.key}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            # Done, failed or abandoned at a stop: whoever gets the job next need not wait for it to go stale.
            await asyncio.to_thread(self.storage.delete, self.key)
        except OSError as error:
            log.warning("could not release the lease %s (it goes stale instead): %s", self.key, error)


@dataclass
class LeaseWatch:
    """One worker's look at one job's leases over time: remembers the newest one and since when it has not changed.
    `take` returns the lease once the job is free, or None while another worker holds it."""

    storage: Storage
    footage_id: str
    upload_event_id: str
    me: str
    heartbeat_s: float
    stale_s: float
    _seen: tuple[str, bytes] | None = field(default=None, init=False)
    _since: float = field(default=0.0, init=False)

    @property
    def holder(self) -> str | None:
        """Who held the job at the last look (for the logs)."""
        beat = Beat.from_bytes(self._seen[1]) if self._seen else None
        return beat.holder if beat else None

    async def take(self) -> HeldLease | None:
        try:
            return await self._take()
        except OSError as exc:
            raise RetryableError(f"storage unavailable while taking the job's lease: {exc}") from exc

    async def _take(self) -> HeldLease | None:
        storage = self.storage
        keys = await asyncio.to_thread(storage.list, layout.lease_prefix(self.footage_id, self.upload_event_id))
        newest = keys[-1] if keys else None
        # Generations only grow: the next one is above every one listed, even one released since the listing.
        generation = layout.lease_generation(newest) + 1 if newest is not None else 0
        raw: bytes | None = None
        if newest is not None:
            try:
                with await asyncio.to_thread(storage.open_read, newest) as stream:
                    raw = stream.read()
            except ObjectNotFound:
                newest = None  # released since the listing
        now = time.monotonic()
        if newest is None or raw is None:
            self._seen = None
        elif self._seen != (newest, raw):
            self._seen, self._since = (newest, raw), now
        if self._seen is not None:
            beat = Beat.from_bytes(self._seen[1])
            free = is_free(beat, me=self.me, now=time.time(), unchanged_s=now - self._since, stale_s=self.stale_s)
            if not free:
                return None
            log.warning(
                "footage %s: taking the job over from %s (its lease %s went stale or was left)",
                self.footage_id,
                beat.holder if beat else "an unreadable lease",
                self._seen[0],
            )
        key = layout.lease_key(self.footage_id, self.upload_event_id, generation)
        first = Beat(self.me, 0, time.time())
        if not await asyncio.to_thread(storage.create, key, first.to_bytes()):
            return None  # another worker took this generation first: seen at the next look
        return HeldLease(storage, key, first, self.heartbeat_s)


@dataclass(frozen=True)
class JobLeases:
    """The leases of this worker's jobs (one per process): its holder name and timing."""

    storage: Storage
    heartbeat_s: float
    stale_s: float
    me: str = field(default_factory=worker_name)

    @classmethod
    def for_group(
        cls, storage: Storage, *, session_timeout_s: float, heartbeat_s: float, instance_id: str | None = None
    ) -> JobLeases:
        """Beats as often as the consumer group's heartbeat; stale as `stale_after` says. A static member (its
        `instance_id`, stable across restarts) holds leases under that name: restarted after a kill, it gets its
        partitions back at once and takes its own former leases without waiting for them to go stale."""
        me = instance_id or worker_name()
        return cls(storage, heartbeat_s, stale_after(session_timeout_s, heartbeat_s), me)

    def watch(self, footage_id: str, upload_event_id: str) -> LeaseWatch:
        return LeaseWatch(self.storage, footage_id, upload_event_id, self.me, self.heartbeat_s, self.stale_s)
