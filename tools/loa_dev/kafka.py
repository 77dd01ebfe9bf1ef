"""A real single-node Apache Kafka 4.x broker (KRaft) run from Apache's jars, without Docker.

The jars are resolved by Maven from deploy/kafka/pom.xml into the git-ignored cache. `make run` and the
test suite both start their broker through `KafkaBroker`, so there is one way to run Kafka locally.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from loa_dev.processes import stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("LOA_CACHE_DIR", REPO_ROOT / ".cache"))
KAFKA_LIBS = CACHE_DIR / "kafka" / "libs"
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"


class KafkaStartError(RuntimeError):
    """The broker did not come up; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_kafka_jars() -> Path:
    """Resolve the broker jars with Maven once; later calls reuse the cache."""
    marker = KAFKA_LIBS / ".complete"
    if marker.exists():
        return KAFKA_LIBS
    KAFKA_LIBS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={KAFKA_LIBS}",
            "-DincludeScope=runtime",
        ],
        check=True,
    )
    marker.touch()
    return KAFKA_LIBS


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class KafkaBroker:
    """One KRaft broker+controller on loopback. `start()` formats storage when new and waits until ready."""

    workdir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    heap: str = "512m"
    # Open descriptors the broker keeps for its whole life: `make run` passes its run lock, so that lock stays held
    # until the broker has exited, even when `make run` itself died first.
    inherit_fds: tuple[int, ...] = ()
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "kafka.log"

    def _write_config(self) -> Path:
        config = self.workdir / "server.properties"
        data_dir = self.workdir / "data"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={data_dir}",
                    # One node: internal topics cannot have more replicas than brokers.
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    # Topics are declared by the contracts and created explicitly at start.
                    "auto.create.topics.enable=false",
                    # A fresh consumer group should not wait 3 s for peers that never come.
                    "group.initial.rebalance.delay.ms=0",
                    "",
                ]
            )
        )
        return config

    def _write_log_config(self) -> Path:
        """Warnings and errors to kafka.log. Without a configuration log4j2 prints errors only, and a recovery after an
        unclean stop (`Found invalid messages in log segment …`, torn bytes cut off) is a warning."""
        config = self.workdir / "log4j2.properties"
        config.write_text(
            "\n".join(
                [
                    "appender.out.type = Console",
                    "appender.out.name = out",
                    "appender.out.layout.type = PatternLayout",
                    "appender.out.layout.pattern = [%d] %p %m (%c)%n",
                    "rootLogger.level = warn",
                    "rootLogger.appenderRef.out.ref = out",
                    "",
                ]
            )
        )
        return config

    def _java(self, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise KafkaStartError("java is not installed (OpenJDK 17+ is needed to run Kafka)")
        return [java, f"-Xmx{self.heap}", "-cp", f"{ensure_kafka_jars()}/*", *args]

    def _lock_workdir(self) -> int:
        """An flock on `workdir/broker.lock`, taken before anything reads or writes the data directory.

        Kafka's own lock does not cover this: a broker that is also the controller, with its metadata log among its
        log.dirs, takes the log-directory lock only once its log manager starts, after its raft layer has already
        recovered (truncated) and appended to __cluster_metadata. A second broker started on the data directory of a
        live one (or of one still shutting down) thus writes into the metadata log under it: the first dies on
        `CorruptRecordException: Found record size 0 smaller than minimum record overhead` (reproduced with Kafka
        4.1.1). The broker process inherits this lock and holds it until it exits.
        """
        fd = os.open(self.workdir / "broker.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise KafkaStartError(
                f"Another Kafka broker (pid {holder}) is still running on {self.workdir}: wait until it has exited "
                f"(or stop it), two brokers on one data directory corrupt its metadata log. / Một Kafka broker khác "
                f"(pid {holder}) vẫn đang chạy trên {self.workdir}: hãy đợi nó thoát (hoặc dừng nó); hai broker "
                f"trên cùng một thư mục dữ liệu sẽ làm hỏng metadata log."
            ) from None
        return fd

    def start(self, timeout_s: float = 90.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lock = self._lock_workdir()
        try:
            self._launch(lock)
        finally:
            os.close(lock)  # the broker keeps its own copy: the lock lasts as long as the broker
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise KafkaStartError(f"Kafka exited with {self.process.returncode}:\n{self._log_tail()}")
            if _port_open(self.port):
                return
            time.sleep(0.3)
        self.stop()
        raise KafkaStartError(f"Kafka was not ready after {timeout_s:.0f} s:\n{self._log_tail()}")

    def _launch(self, lock: int) -> None:
        config = self._write_config()
        if not (self.workdir / "data" / "meta.properties").exists():
            cluster_id = uuid.uuid4().hex[:22]
            subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        if _port_open(self.port):
            # Readiness is the port answering: another program on it would pass for our broker.
            raise KafkaStartError(
                f"Port {self.port} is already in use by another program; Kafka cannot listen on it. / "
                f"Cổng {self.port} đang bị một chương trình khác dùng; Kafka không thể nghe trên cổng này."
            )
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self._java(f"-Dlog4j2.configurationFile={self._write_log_config()}", "kafka.Kafka", str(config)),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal stops us, and we stop the broker in order.
                pass_fds=(*self.inherit_fds, lock),
            )
        os.ftruncate(lock, 0)
        os.pwrite(lock, f"{self.process.pid}\n".encode(), 0)

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 30.0) -> None:
        # SIGTERM: the broker shuts down cleanly and closes its logs.
        stop_process(self.process, timeout_s)
