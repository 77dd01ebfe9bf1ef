"""The publisher as a real process (`python -m loa_publisher`), for crash and CLI tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from loa_core.auth import hash_token
from loa_core.channels import Channel, dump_channels
from loa_core.secrets import ensure_key_file
from loa_dev.kafka import free_port
from loa_dev.processes import stop_process, wait_healthy


class PublisherProcess:
    def __init__(
        self, root: Path, *, bootstrap: str, prefix: str, channels: list[Channel], token: str, env: dict[str, str]
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "channels.json").write_text(dump_channels(channels), "utf-8")
        self.port = free_port()
        self.token = token
        self.env = {
            **os.environ,
            "LOA_KAFKA_BOOTSTRAP": bootstrap,
            "LOA_TOPIC_PREFIX": prefix,
            "LOA_HTTP_PORT": str(self.port),
            "LOA_DATA_DIR": str(root / "data"),
            "LOA_STORAGE_ROOT": str(root / "storage"),
            "LOA_PUBLISH_DIR": str(root / "published"),
            "LOA_CHANNELS_FILE": str(root / "channels.json"),
            "LOA_API_TOKEN_HASHES": hash_token(token),
            "LOA_SECRET_KEY_FILE": str(ensure_key_file(root / "secret-key")),
            # Quick retries and ticks; a short consumer session so a killed worker's partitions move fast.
            "LOA_RETRY_INITIAL_S": "0.05",
            "LOA_RETRY_MAX_S": "0.5",
            "LOA_SCHEDULE_POLL_S": "0.5",
            "LOA_BROKER_SESSION_TIMEOUT_S": "10",
            # Most tests post synthetic bytes (no video, nothing to sign); the signing tests turn it on.
            "LOA_SIGN_CUTS": "false",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "publisher.log"

    def start(self, timeout_s: float = 120.0) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start {self.starts} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loa_publisher"], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root
        )
        wait_healthy(self.process, f"{self.url}/healthz", name="publisher", log_tail=self.log_tail, timeout_s=timeout_s)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no commit, no goodbye."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.process)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def cli_env(publisher: PublisherProcess, root: Path) -> dict[str, str]:
    config = root / "cli.json"
    config.write_text(json.dumps({"publisher_url": publisher.url, "token": publisher.token}))
    return {**os.environ, "LOA_CLI_CONFIG": str(config)}
