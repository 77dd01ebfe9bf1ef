"""Starting and stopping child processes the one way Loa's tooling and tests do it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable

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
    stop_processes([process], timeout_s)


def stop_processes(processes: Iterable[subprocess.Popen[bytes] | None], timeout_s: float = 30.0) -> None:
    """SIGTERM to all at once, so they shut down side by side; SIGKILL those still running `timeout_s` later."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + timeout_s
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
