"""A claim on a database row held while its work runs: renewed every third of its lease, so it only lapses when its
replica died (or stalled that long), and then another request takes the work over; given up when the work ends.

The tus finish of an upload (loa_ingest/uploads.py) and the announcement of a footage (loa_ingest/catalog.py) are
each claimed this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

log = logging.getLogger(__name__)

# A claim lasts this long unless renewed.
LEASE_S = 60.0


@contextlib.asynccontextmanager
async def held(
    renew: Callable[[float], bool], release: Callable[[], None], clock: Callable[[], float], what: str
) -> AsyncIterator[None]:
    """Keep a claim while the body runs (`renew(until)`: False once it was taken over), then `release()` it."""

    async def keep() -> None:
        while True:
            await asyncio.sleep(LEASE_S / 3)
            try:
                if not renew(clock() + LEASE_S):
                    log.warning("%s: its claim lapsed and was taken over", what)
                    return
            except Exception:
                log.exception("%s: its claim could not be renewed", what)

    renewing = asyncio.create_task(keep())
    try:
        yield
    finally:
        renewing.cancel()
        release()
