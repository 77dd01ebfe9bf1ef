"""A service that keeps secrets does not start without the operator's key, and says what to set in both languages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loa_core.channels import Channel, dump_channels


def start(tmp_path: Path, platform: str, **env: str) -> subprocess.CompletedProcess[str]:
    channels = tmp_path / "channels.json"
    channels.write_text(dump_channels([Channel(name="ward-ch", platform=platform, profiles=("youtube",))]))
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOA_SECRET_KEY")}
    return subprocess.run(
        [sys.executable, "-m", "loa_publisher"],
        env={
            **base,
            "LOA_CHANNELS_FILE": str(channels),
            "LOA_DATA_DIR": str(tmp_path / "data"),
            "LOA_KAFKA_BOOTSTRAP": "127.0.0.1:1",  # never reached: the check comes first
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_publisher_with_oauth_channels_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    for platform in ("youtube", "tiktok", "zalo"):
        result = start(tmp_path, platform)
        assert result.returncode == 1
        assert "LOA_SECRET_KEY" in result.stderr and "Chưa có khóa mã hóa" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_publisher_reading_connected_channels_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    result = start(tmp_path, "local", LOA_SERVICE_TOKEN="service-token", LOA_INGEST_URL="http://127.0.0.1:1")
    assert result.returncode == 1 and "LOA_SECRET_KEY" in result.stderr and "Chưa có khóa" in result.stderr


def test_a_key_that_is_not_one_is_refused_without_repeating_it(tmp_path: Path) -> None:
    result = start(tmp_path, "local", LOA_SECRET_KEY="hunter2-not-a-fernet-key")
    assert result.returncode == 1
    assert "not a Fernet key" in result.stderr and "hunter2" not in result.stderr
