"""Which replica does what: leases in the shared store, and the pure rule by which a replica takes over an archive.

Several archiver replicas share one database (PostgreSQL) and one object storage. A live lands on one of them: an
RTMP push on whichever replica the TCP balancer picked, a due HLS pull on the first replica to claim it. Each holds
leases in the store for what it does, renewed every third of `lease_s`:

- "stream:<key id>": a publish on this stream key is live here (a second publish, on any replica, is refused);
- "archive:<id>": this replica records into the archive, or finalizes it (the two exclude each other);
- "pull:<id>": this replica runs the pull.

A replica that dies (SIGKILL, a lost node) stops renewing; its leases lapse after `lease_s` and the others take
over: a publisher reconnecting through the balancer continues the same archive on another replica, a running pull
is resumed by another replica after its last stored segment, and an archive nobody records into any more is
finalized by one replica (`should_finalize`). A replica stopped gracefully lets its leases lapse at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from loa_archiver.store import Archive, ArchiveStore, Lease, Pull
from loa_core.db import DatabaseUnavailable

log = logging.getLogger(__name__)


def stream_lease(key_id: str) -> str:
    return f"stream:{key_id}"


def archive_lease(archive_id: str) -> str:
    return f"archive:{archive_id}"


def pull_lease(pull_id: str) -> str:
    return f"pull:{pull_id}"


def held(lease: Lease | None, now: datetime) -> bool:
    return lease is not None and lease.expires_at > now


def should_finalize(
    archive: Archive, lease: Lease | None, pull: Pull | None, now: datetime, silence_timeout_s: float
) -> bool:
    """Whether an archive no replica holds is to be finalized now (pure).

    Finalizing: its finalizer is gone; finalize it again (what was announced is not announced again). Recording
    from an HLS pull: once the pull no longer runs. Recording from RTMP: when a stop was asked, or once nobody has
    recorded into it for the silence timeout (the time a dropped publisher has to come back, on any replica).
    """
    if held(lease, now):
        return False
    if archive.state == "finalizing":
        return True
    if archive.state != "recording":
        return False
    if archive.source == "hls":
        return pull is None or pull.state != "running"
    if archive.stop_requested_at is not None:
        return True
    idle_since = lease.expires_at if lease is not None else datetime.fromisoformat(archive.started_at)
    return now - idle_since >= timedelta(seconds=silence_timeout_s)


class Leases:
    """This replica's leases: taken, renewed in the background, let lapse. `on_lost` runs when a lease was found
    taken by another replica (this one stalled longer than `lease_s`): whatever it guarded must stop here."""

    def __init__(self, store: ArchiveStore, lease_s: float, holder: str | None = None) -> None:
        self.store = store
        self.lease_s = lease_s
        self.holder = holder or uuid.uuid4().hex
        self._held: dict[str, Callable[[], None] | None] = {}

    def holds(self, name: str) -> bool:
        return name in self._held

    def take(self, name: str, on_lost: Callable[[], None] | None = None) -> bool:
        """Take `name` if no one holds it, this replica included (what it guards is going on here already)."""
        if name in self._held or not self.store.take_lease(name, self.holder, self.lease_s):
            return False
        self._held[name] = on_lost
        return True

    def guard(self, name: str, on_lost: Callable[[], None]) -> None:
        """What to stop should the held lease `name` be lost."""
        if name in self._held:
            self._held[name] = on_lost

    async def take_waiting(self, name: str, on_lost: Callable[[], None] | None = None) -> bool:
        """Take `name`, waiting up to one lease length for a holder that may have died to let it lapse."""
        deadline = asyncio.get_running_loop().time() + self.lease_s + 1.0
        while not self.take(name, on_lost):
            if name in self._held or asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(min(0.5, self.lease_s / 4))
        return True

    def release(self, name: str, *, forget: bool = False) -> None:
        if self._held.pop(name, False) is not False:
            self.store.release_lease(name, self.holder, forget=forget)

    def release_all(self) -> None:
        """On a graceful stop: everything this replica held lapses now, so the others take over at once."""
        for name in list(self._held):
            self.release(name)

    def renew(self) -> None:
        for name, on_lost in list(self._held.items()):
            if self.store.renew_lease(name, self.holder, self.lease_s):
                continue
            log.error("lease %s was taken by another replica; stopping what it guarded here", name)
            self._held.pop(name, None)
            if on_lost is not None:
                on_lost()

    async def run(self) -> None:
        """Renew every held lease every third of `lease_s` (until cancelled)."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                # On the loop, like every other store call here: a release never races its renewal.
                self.renew()
            except DatabaseUnavailable:
                log.warning("could not renew leases: the database is unavailable", exc_info=True)
            except Exception:
                log.exception("could not renew leases; trying again")
