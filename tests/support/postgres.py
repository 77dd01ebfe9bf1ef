"""A throwaway PostgreSQL cluster (Debian's postgresql package) on a free loopback port: initdb + pg_ctl.

PostgreSQL refuses to run as root, so when the tests run as root the cluster runs as the `postgres` user the
package creates, in a private folder under /tmp (pytest's own tmp folders are not readable by other users).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from loa_dev.kafka import free_port


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql package (scripts/setup.sh --test does)")
    return found


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="loa-pg-"))
        self.port = free_port()
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            shutil.chown(self.root, self._user, self._user)
        self.data = self.root / "data"

    def _run(self, *argv: str) -> None:
        result = subprocess.run(list(argv), user=self._user, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "loa", "--auth=trust", "-E", "UTF8", "--no-sync")
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-o", self._options, "-l", str(self.root / "log"), "-w", "start"
        )

    @property
    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            # A throwaway cluster: no fsync for speed (what is tested is our code, not the disk). Commits still
            # reach the WAL before they return (synchronous_commit on), so a `restart` (a server crash) keeps them.
            "-c fsync=off -c full_page_writes=off"
        )

    def restart(self) -> None:
        """A fast restart: every client connection is cut."""
        # -l as at start: without it the server would write to (and hold open) our captured stdout.
        log = str(self.root / "log")
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-o", self._options, "-l", log, "-m", "immediate", "-w", "restart"
        )

    def outage(self, seconds: float) -> None:
        """The server crashes (every connection cut, no shutdown checkpoint), stays away `seconds`, and comes back
        on the same port and data, as after a host reboot."""
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        time.sleep(seconds)
        self._run(
            _bin("pg_ctl"), "-D", str(self.data), "-o", self._options, "-l", str(self.root / "log"), "-w", "start"
        )

    def stop(self) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://loa@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database for one test; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]  # a generated identifier
        return self.url(name)
