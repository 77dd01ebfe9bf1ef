"""Starting and stopping child processes the one way Loa's tooling and tests do it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import httpx


class ProcessStartError(RuntimeError):
    """A service process exited, or did not answer its health URL in time, while it was starting."""


def wait_healthy(
    process: subprocess.Popen[bytes],
    url: str,
    *,
    name: str,
    log_tail: Callable[[], str],
    timeout_s: float = 120.0,
    interval_s: float = 0.3,
) -> None:
    """Poll `url` (a /healthz or /readyz) until it answers 200. Fails fast, with the end of the process's log, when
    the process exits; otherwise when the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessStartError(f"{name} exited with {process.returncode}:\n{log_tail()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(interval_s)
    raise ProcessStartError(f"{name} did not answer {url} within {timeout_s:.0f} s:\n{log_tail()}")


def stop_process(process: subprocess.Popen[bytes] | None, timeout_s: float = 30.0) -> None:
    """SIGTERM (our services, Kafka and MinIO all shut down cleanly on it), then SIGKILL if it hangs."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
