"""Polling with a deadline: how tests wait for something another process does, instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(
    check: Callable[[], Any],
    timeout_s: float,
    what: str,
    interval_s: float = 0.2,
    diagnose: Callable[[], str] | None = None,
) -> Any:
    """Poll `check` until it returns something truthy and return that; fail naming `what` when the time is up,
    with what `diagnose` says (a log tail, say) appended."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            detail = f":\n{diagnose()}" if diagnose is not None else ""
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}{detail}")
        time.sleep(interval_s)
