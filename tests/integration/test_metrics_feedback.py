"""Collecting comments end to end: the metrics service as a process polls a strict YouTube emulator, sends each
comment on feedback.received (a real broker), consumes it back and keeps one row per item in its database; killed
mid-collection and started again, it neither duplicates nor skips a comment."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loa_core.channels import Channel, dump_channels
from loa_dev.kafka import KafkaBroker, free_port
from loa_dev.processes import stop_processes, wait_healthy
from tests.support.polling import wait_until
from tests.support.stats_emulators import YouTubeStatsEmulator


@pytest.fixture
def youtube(tmp_path: Path) -> Iterator[YouTubeStatsEmulator]:
    with YouTubeStatsEmulator(tmp_path / "yt") as emulator:
        yield emulator  # type: ignore[misc]


class Metrics:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.port = free_port()
        self.log_path = root / "metrics.log"
        self.env = {**os.environ, **env, "LOA_HTTP_PORT": str(self.port), "LOA_DATA_DIR": str(root / "data")}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "loa_metrics"], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root
            )
        url = f"http://127.0.0.1:{self.port}/healthz"
        wait_healthy(self.process, url, name="metrics", log_tail=self.log_tail, timeout_s=120)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def items(self) -> list[tuple[str, str, str | None, str]]:
        """(external_id, text, thread_id, channel) of every stored item."""
        path = self.root / "data" / "metrics-projection.sqlite3"
        if not path.exists():
            return []
        with sqlite3.connect(path) as db:
            try:
                return db.execute("SELECT external_id, text, thread_id, channel FROM feedback_items").fetchall()
            except sqlite3.OperationalError:  # not migrated yet
                return []


def test_youtube_comments_are_collected_once_each_across_a_kill_mid_collection(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path, youtube: YouTubeStatsEmulator
) -> None:
    # 250 threads: three pages of 100; one page a round, so a collection spans rounds and the kill lands inside it.
    expected: dict[str, str] = {}
    for i in range(250):
        text = f"Bình luận số {i}: đường ngập nước"
        comment_id = youtube.comment("vid1", text, f"2026-12-01T{i // 60:02d}:{i % 60:02d}:00Z")
        expected[comment_id] = text
    thread = next(iter(expected))
    reply = youtube.comment("vid1", "Phường đã tiếp nhận", "2026-12-01T05:00:00Z", reply_to=thread)
    expected[reply] = "Phường đã tiếp nhận"
    channels = tmp_path / "channels.json"
    channels.write_text(dump_channels([Channel(name="p1-yt", platform="youtube", profiles=("youtube",), ward="p1")]))
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"p1-yt": {"access_token": "yt-token"}}))
    metrics = Metrics(
        tmp_path / "m",
        {
            "LOA_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
            "LOA_TOPIC_PREFIX": topic_prefix,
            "LOA_CHANNELS_FILE": str(channels),
            "LOA_STATS_CREDENTIALS_FILE": str(creds),
            "LOA_YOUTUBE_API_BASE": youtube.base_url,
            "LOA_STATS_ROUND_S": "0.5",
            "LOA_FEEDBACK_PAGE_CAP": "1",
        },
    )
    metrics.root.mkdir()
    try:
        metrics.start()
        wait_until(lambda: len(metrics.items()) >= 100, 120, "the first page collected", diagnose=metrics.log_tail)
        metrics.kill()
        before = len(metrics.items())
        assert before < len(expected), "killed mid-collection"
        # Written while it was down: collected on the next listing, above the mark.
        late = youtube.comment("vid2", "Rác chưa được thu gom", "2026-12-02T08:00:00Z", author="Trần Thị Bình")
        expected[late] = "Rác chưa được thu gom"
        metrics.start()
        wait_until(
            lambda: len(metrics.items()) >= len(expected), 120, "every comment collected", diagnose=metrics.log_tail
        )
        items = metrics.items()
        assert sorted(i[0] for i in items) == sorted(expected), "each comment once, none missing"
        assert {i[0]: i[1] for i in items} == expected, "Vietnamese intact"
        assert {i[0]: i[2] for i in items}[reply] == thread
        units = youtube.units_spent
        # 1 channels.list per process start, then one commentThreads.list per page per round.
        assert ("commentThreads", [""]) in youtube.calls and units == len(youtube.calls)
    finally:
        stop_processes([metrics.process])
