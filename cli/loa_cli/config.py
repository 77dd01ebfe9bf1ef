"""Where the CLI finds Loa: environment variables first, then the file `make run` writes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONFIG = Path.home() / ".config" / "loa" / "cli.json"


class ConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class CliConfig:
    ingest_url: str
    metrics_url: str
    token: str
    # `loa retry` asks the publisher itself: its ledger is what knows which posts failed.
    publisher_url: str = "http://127.0.0.1:8003"


def load_urls() -> tuple[str, str]:
    """Ingest's and metrics' URLs, for commands anyone may run without a token (`loa verify`)."""
    path = Path(os.environ.get("LOA_CLI_CONFIG", DEFAULT_CONFIG))
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    ingest = os.environ.get("LOA_INGEST_URL", stored.get("ingest_url", "http://127.0.0.1:8001"))
    metrics = os.environ.get("LOA_METRICS_URL", stored.get("metrics_url", "http://127.0.0.1:8004"))
    return ingest.rstrip("/"), metrics.rstrip("/")


def load_config() -> CliConfig:
    path = Path(os.environ.get("LOA_CLI_CONFIG", DEFAULT_CONFIG))
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    ingest, metrics = load_urls()
    publisher = os.environ.get("LOA_PUBLISHER_URL", stored.get("publisher_url", "http://127.0.0.1:8003"))
    token = os.environ.get("LOA_TOKEN", stored.get("token", ""))
    if not token:
        raise ConfigError(
            f"No API token: set LOA_TOKEN or start Loa with `make run`, which writes {path}. "
            "/ Chưa có mã truy cập (LOA_TOKEN)."
        )
    return CliConfig(ingest.rstrip("/"), metrics.rstrip("/"), token, publisher.rstrip("/"))
