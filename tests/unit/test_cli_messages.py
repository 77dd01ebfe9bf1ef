"""What `loa` says when it cannot do what was asked: in English and Vietnamese, for every command."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loa_cli.main import app as cli
from tests.support.bilingual import assert_bilingual


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Every service address points at a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    return {
        "LOA_INGEST_URL": closed,
        "LOA_METRICS_URL": closed,
        "LOA_PUBLISHER_URL": closed,
        "LOA_TOKEN": "t",
        "LOA_CLI_CONFIG": str(tmp_path / "none.json"),
        "LOA_CLI_STATE": str(tmp_path / "uploads.json"),
    }


def test_every_command_says_why_it_failed_in_both_languages(env: dict[str, str], tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"not read by anyone")
    channels = tmp_path / "channels.json"
    channels.write_text('[{"name": "p1-local", "platform": "local", "profiles": ["tiktok"]}]')
    failing = [
        (1, ["upload", str(video), "--title", "Lễ khai mạc"]),
        (1, ["status", "a" * 32]),
        (1, ["retry", "a" * 32]),
        (1, ["report"]),
        (1, ["token", "list"]),
        (1, ["approval", "approve", "a" * 32, "p1-local"]),
        (1, ["approval", "reject", "a" * 32, "p1-local", "--reason", "Sai tên"]),
        (1, ["approval", "audit"]),
        (1, ["channels", "list"]),
        (1, ["channels", "import", str(channels)]),
        (2, ["channels", "import", str(video)]),
        (2, ["report", "--format", "xml"]),
        (2, ["report", "--month", "2026-11", "--week", "2026-W47"]),
        (3, ["verify", "a" * 64]),
        (3, ["verify", str(tmp_path / "missing.mp4")]),
        (3, ["verify", str(video)]),
    ]
    for code, argv in failing:
        result = CliRunner().invoke(cli, argv, env=env)
        assert result.exit_code == code, (argv, result.output)
        assert_bilingual(result.stderr.strip().splitlines()[-1])
    no_token = CliRunner().invoke(cli, ["status", "a" * 32], env={**env, "LOA_TOKEN": ""})
    assert no_token.exit_code == 2
    assert_bilingual(no_token.stderr.strip())
