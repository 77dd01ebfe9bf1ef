"""Steps a stop must not cut in half: the effect and its record happen together, or not at all."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


async def see_through(step: Coroutine[Any, Any, None]) -> None:
    """Run `step` so that a cancellation (a SIGTERM stopping the archiver) lets it finish first, then goes on.

    For a step whose effect outside (an event on the broker, an object in storage) is recorded in the store at
    its end: cut off between the two, the next start would repeat the effect or lose track of it.
    """
    task = asyncio.ensure_future(step)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise
