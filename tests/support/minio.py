"""A real MinIO server for tests: one single-drive server on a free loopback port with throwaway data.

The binary is built from source by scripts/install-minio.sh (MinIO ships no community binaries we can
fetch); this helper only runs it. Each server gets random root credentials, so tests never depend on
well-known secrets and never reach a MinIO they did not start.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from pydantic import SecretStr

from loa_core.storage import StorageSettings
from loa_dev.processes import stop_process, wait_healthy

REPO_ROOT = Path(__file__).resolve().parents[2]
# Same cache override as tools/loa_dev/kafka.py, so one variable relocates every fetched artefact.
CACHE_DIR = Path(os.environ.get("LOA_CACHE_DIR", REPO_ROOT / ".cache"))
MINIO_BINARY = CACHE_DIR / "bin" / "minio"
INSTALL_SCRIPT = "scripts/install-minio.sh"


class MinioError(RuntimeError):
    """MinIO is missing or did not start; the message says why (with its log tail when it ran)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MinioServer:
    """Start with `start()` (or `with MinioServer() as server:`); `stop()` ends it and removes its data."""

    def __init__(self, workdir: Path | None = None, binary: Path = MINIO_BINARY) -> None:
        self.binary = binary
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="loa-minio-")) if workdir is None else workdir
        self.port = 0
        self.region = "us-east-1"
        self.access_key = "loa-" + secrets.token_hex(8)
        self.secret_key = secrets.token_urlsafe(30)
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        # Never show the credentials.
        return f"MinioServer(endpoint_url={self.endpoint_url!r}, workdir={str(self.workdir)!r})"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "minio.log"

    def storage_settings(self, bucket: str) -> StorageSettings:
        """Settings for loa_core.storage.make_storage pointing at this server."""
        return StorageSettings(
            backend="s3",
            s3_bucket=bucket,
            s3_endpoint_url=self.endpoint_url,
            s3_access_key=self.access_key,
            s3_secret_key=SecretStr(self.secret_key),
            s3_region=self.region,
        )

    def service_env(self, bucket: str) -> dict[str, str]:
        """The LOA_* variables that put a service's storage in `bucket` on this server."""
        return {
            "LOA_STORAGE_BACKEND": "s3",
            "LOA_S3_BUCKET": bucket,
            "LOA_S3_ENDPOINT_URL": self.endpoint_url,
            "LOA_S3_ACCESS_KEY": self.access_key,
            "LOA_S3_SECRET_KEY": self.secret_key,
            "LOA_S3_REGION": self.region,
        }

    def start(self, timeout: float = 60.0) -> MinioServer:
        if not self.binary.is_file():
            raise MinioError(f"MinIO server binary not found at {self.binary}; build it with `bash {INSTALL_SCRIPT}`")
        if self.process is not None:
            raise MinioError("this MinioServer is already started")
        data_dir = self.workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        # Drop inherited MINIO_* settings so the developer's environment cannot change the test server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIO_")}
        env.update(
            MINIO_ROOT_USER=self.access_key,
            MINIO_ROOT_PASSWORD=self.secret_key,
            MINIO_REGION=self.region,
            MINIO_BROWSER="off",  # no web console: tests only need the S3 API
            MINIO_UPDATE="off",  # no update checks: the machine has no internet
        )
        self.port = self.port or _free_port()  # a restart (after `kill`) keeps its port, as a server's address does
        console_port = _free_port()
        argv = [
            str(self.binary), "server", str(data_dir),
            "--address", f"127.0.0.1:{self.port}",
            "--console-address", f"127.0.0.1:{console_port}",
            "--quiet",
        ]  # fmt: skip
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        url = f"{self.endpoint_url}/minio/health/ready"
        wait_healthy(self.process, url, name="MinIO", log_tail=self._log_tail, timeout_s=timeout, interval_s=0.2)

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait (MinIO shuts down gracefully on it); SIGKILL only if it hangs."""
        process, self.process = self.process, None
        stop_process(process, timeout)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL (an outage: a crash, a pulled cable), keeping the port and data for `start()` to bring it back."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> MinioServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
