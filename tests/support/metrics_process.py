"""The metrics service as a process (`python -m loa_metrics`) on its own SQLite projection, for tests and benches
that watch what it collects: its log, its Prometheus counters and the feedback rows in its database. Its poller runs
as its child (loa_metrics.poller): `poller_pid` finds it, `kill` kills both."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from loa_dev.kafka import free_port
from loa_dev.processes import wait_healthy


class MetricsProcess:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.port = free_port()
        self.log_path = root / "metrics.log"
        self.env = {**os.environ, **env, "LOA_HTTP_PORT": str(self.port), "LOA_DATA_DIR": str(root / "data")}
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def counter(self, name: str, **labels: str) -> float:
        for line in httpx.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.split()[-1])
        return 0.0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "loa_metrics"], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root
            )
        url = f"http://127.0.0.1:{self.port}/healthz"
        wait_healthy(self.process, url, name="metrics", log_tail=self.log_tail, timeout_s=120)

    def children(self) -> list[int]:
        """The pids of the service's child processes (its poller)."""
        assert self.process is not None
        found: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                found += [int(pid) for pid in (task / "children").read_text().split()]
        return found

    def poller_pid(self, timeout_s: float = 60) -> int:
        """The poller's pid, once the service has started it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if found := self.children():
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no poller process after {timeout_s} s\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the service and its poller at once, as a machine's crash would."""
        assert self.process is not None
        for pid in self.children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def database(self) -> Path:
        return self.root / "data" / "metrics-projection.sqlite3"

    def count(self, sql: str) -> int:
        """One number from the projection (0 before it is migrated)."""
        if not self.database().exists():
            return 0
        with sqlite3.connect(self.database()) as db:
            try:
                return int(db.execute(sql).fetchone()[0])
            except sqlite3.OperationalError:
                return 0

    def items(self) -> list[tuple[str, str, str | None, str]]:
        """(external_id, text, thread_id, channel) of every stored item."""
        path = self.database()
        if not path.exists():
            return []
        with sqlite3.connect(path) as db:
            try:
                return db.execute("SELECT external_id, text, thread_id, channel FROM feedback_items").fetchall()
            except sqlite3.OperationalError:  # not migrated yet
                return []
