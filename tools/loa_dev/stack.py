"""The whole pipeline as separate processes on one machine: Kafka plus the four services.

`make run` uses it with fixed ports; the e2e tests use it with free ports and a temporary folder (and may run only
the services they need).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from loa_core.auth import hash_token, new_token
from loa_core.contracts import FIRST_ADMIN_PASSWORD_FILE
from loa_core.secrets import ensure_key_file
from loa_dev.kafka import KafkaBroker, free_port
from loa_dev.processes import stop_processes, wait_healthy

SERVICES = ("ingest", "transcode", "publisher", "metrics")
KAFKA = "kafka"  # the broker's unit name beside the services' (`process`, `restart`, `log_tail`)


@dataclass
class Stack:
    root: Path
    token: str
    kafka_bootstrap: str | None = None  # None: start our own broker under root/kafka
    topic_prefix: str = ""
    ports: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in SERVICES})
    kafka_port: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = SERVICES  # the ones `start` starts
    # Open descriptors every process of the stack keeps (`make run`'s run lock: held until the last one exits).
    inherit_fds: tuple[int, ...] = ()
    broker: KafkaBroker | None = None
    # The publisher's token for reading connected channels' credentials from ingest (no person holds it).
    service_token: str = field(default_factory=new_token)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def publish_dir(self) -> Path:
        return self.root / "published"

    @property
    def admin_password_file(self) -> Path:
        """Where ingest, started with no account, put the first district admin's password (mode 0600)."""
        return self.root / "data" / FIRST_ADMIN_PASSWORD_FILE

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def service_env(self, service: str) -> dict[str, str]:
        assert self.kafka_bootstrap is not None
        env = {
            **os.environ,
            "LOA_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "LOA_TOPIC_PREFIX": self.topic_prefix,
            "LOA_HTTP_PORT": str(self.ports[service]),
            "LOA_DATA_DIR": str(self.root / "data"),
            "LOA_STORAGE_ROOT": str(self.root / "storage"),
            "LOA_PUBLISH_DIR": str(self.publish_dir),
            "LOA_API_TOKEN_HASHES": hash_token(self.token),
            # The key that encrypts channel tokens at rest: made once under the stack's folder (`make run`'s run dir).
            "LOA_SECRET_KEY_FILE": str(ensure_key_file(self.root / "secret-key")),
            # One process per service, restarted under the same name when it dies: a static consumer-group member,
            # so a restarted worker takes its partitions back at once (CommonSettings.instance_id).
            "LOA_INSTANCE_ID": service,
        }
        if service == "ingest":
            # Ingest's page relays pipeline status from metrics, with the caller's own token.
            env["LOA_METRICS_URL"] = self.url("metrics")
            if "publisher" in self.ports:  # a stack of ingest and metrics only (the crash trials) has none
                env["LOA_PUBLISHER_URL"] = self.url("publisher")  # the page's retry, relayed with the caller's token
            env["LOA_PUBLIC_URL"] = self.url("ingest")  # where the platforms' sign-in sends browsers back
            env["LOA_SERVICE_TOKEN_HASHES"] = hash_token(self.service_token)
        if service in ("publisher", "metrics"):  # both read connected channels' credentials from ingest
            env["LOA_SERVICE_TOKEN"] = self.service_token
        if service == "publisher":  # metrics takes connected TikTok and Zalo channels' access tokens from it
            env["LOA_SERVICE_TOKEN_HASHES"] = hash_token(self.service_token)
        if service == "metrics" and "publisher" in self.ports:
            env["LOA_PUBLISHER_URL"] = self.url("publisher")
        if service in ("metrics", "archiver", "publisher"):
            env["LOA_INGEST_URL"] = self.url("ingest")  # they ask ingest about role tokens
        env.update(self.extra_env)
        return env

    def start(self, timeout_s: float = 120.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        if self.kafka_bootstrap is None:
            self.broker = KafkaBroker(self.root / "kafka", inherit_fds=self.inherit_fds)
            if self.kafka_port:
                self.broker.port = self.kafka_port
            self.broker.start()
            self.kafka_bootstrap = self.broker.bootstrap
        for service in self.services:
            self.start_service(service)
        for service in self.services:
            self.wait_healthy(service, timeout_s)

    def start_service(self, service: str) -> None:
        with (self.logs_dir / f"{service}.log").open("ab") as log:
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", f"loa_{service}"],
                env=self.service_env(service),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                pass_fds=self.inherit_fds,
            )

    def process(self, unit: str) -> subprocess.Popen[bytes] | None:
        """The broker's (`KAFKA`) or a service's current process."""
        if unit == KAFKA:
            return self.broker.process if self.broker is not None else None
        return self.processes.get(unit)

    def restart(self, unit: str) -> None:
        """Start again a unit whose process exited (the supervisor's job): the broker waits until it listens."""
        if unit == KAFKA:
            assert self.broker is not None, "the stack runs no broker of its own"
            self.broker.start()
        else:
            self.start_service(unit)

    def wait_healthy(self, service: str, timeout_s: float = 120.0) -> None:
        wait_healthy(
            self.processes[service],
            f"{self.url(service)}/healthz",
            name=service,
            log_tail=lambda: self.log_tail(service),
            timeout_s=timeout_s,
        )

    def log_tail(self, service: str, lines: int = 40) -> str:
        path = self.broker.log_file if service == KAFKA and self.broker else self.logs_dir / f"{service}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    def stop_service(self, service: str, sig_kill: bool = False) -> None:
        process = self.processes.get(service)
        if sig_kill and process is not None and process.poll() is None:
            process.kill()
            process.wait()
            return
        stop_processes([process])

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM to every service at once, SIGKILL to those still running after `grace_s`, then the broker (which
        they need to finish cleanly: commit offsets, flush sends)."""
        stop_processes(self.processes.values(), grace_s)
        if self.broker is not None:
            self.broker.stop()
