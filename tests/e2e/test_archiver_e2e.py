"""A livestream all the way through: RTMP publish → archiver → transcode → publisher, as processes on real Kafka.

The stream key sends the full archive to a YouTube-profile channel and the highlight to a TikTok-profile channel,
so the normal pipeline publishes both cuts where the issue says they go.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from loa_core.channels import Channel, dump_channels
from loa_dev.kafka import KafkaBroker
from loa_dev.stack import Stack
from tests.support.archiver import SEGMENT_S, ArchiverProcess, Publisher, livestream_events
from tests.support.media import ffprobe

pytestmark = pytest.mark.e2e


def _status(stack: Stack, footage_id: str) -> dict[str, Any]:
    loa = shutil.which("loa", path=str(Path(os.sys.executable).parent))
    assert loa, "the `loa` CLI is not installed in the venv"
    env = {
        **os.environ,
        "LOA_INGEST_URL": stack.url("ingest"),
        "LOA_METRICS_URL": stack.url("metrics"),
        "LOA_TOKEN": stack.token,
        "LOA_CLI_CONFIG": str(stack.root / "no-cli-config.json"),
    }
    done = subprocess.run(
        [loa, "status", footage_id, "--wait", "--json", "--timeout", "240"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr + stack.log_tail("transcode")
    view: dict[str, Any] = json.loads(done.stdout)
    return view


def test_livestream_archive_to_youtube_and_highlight_to_tiktok(
    kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("live-stack")
    channels_file = root / "channels.json"
    channels_file.write_text(
        dump_channels(
            [
                Channel(name="ward-youtube", platform="local", profiles=("youtube",)),
                Channel(name="ward-tiktok", platform="local", profiles=("tiktok",)),
            ]
        )
    )
    stack = Stack(
        root=root,
        token=f"e2e-{uuid.uuid4().hex}",
        kafka_bootstrap=kafka_broker.bootstrap,
        topic_prefix=f"e2elive{uuid.uuid4().hex[:8]}.",
        extra_env={"LOA_CHANNELS_FILE": str(channels_file)},
    )
    stack.start()
    # Same data dir, storage and channels as the stack (the archiver's root is the stack's root).
    archiver = ArchiverProcess(
        root,
        kafka_broker.bootstrap,
        stack.topic_prefix,
        channels_file=str(channels_file),
        highlight_first_s="3",
    )
    try:
        archiver.start()
        key = archiver.new_stream_key(
            channel="ward-youtube",
            title="Hội thi văn nghệ phường",
            archive_channels=["ward-youtube"],
            highlight_channels=["ward-tiktok"],
        )
        publisher = Publisher(f"{archiver.rtmp_base}/{key['stream_key']}", 6)
        assert publisher.wait() == 0, publisher.stderr()
        events = livestream_events(kafka_broker.bootstrap, stack.topic_prefix, 2)
        # The two events are keyed by different footage ids, so they may sit on different partitions and
        # come back in either order: tell them apart by the channel each was announced to.
        by_channel = {e.metadata.channels: e for e in events}
        assert set(by_channel) == {("ward-youtube",), ("ward-tiktok",)}, by_channel
        archive_event, highlight_event = by_channel[("ward-youtube",)], by_channel[("ward-tiktok",)]

        full = _status(stack, archive_event.footage_id)
        cut = _status(stack, highlight_event.footage_id)
        for view, channel, profile in ((full, "ward-youtube", "youtube"), (cut, "ward-tiktok", "tiktok")):
            assert view["status"] == "published", view
            posts = view["stages"]["published"]["posts"]
            assert [(p["channel"], p["profile"]) for p in posts] == [(channel, profile)]
        full_file = Path(httpx.URL(full["stages"]["published"]["posts"][0]["url"]).path)
        cut_file = Path(httpx.URL(cut["stages"]["published"]["posts"][0]["url"]).path)
        # The YouTube post is the whole live; the TikTok post is the first 3 s (the trim transcode applied).
        assert abs(float(ffprobe(full_file)["format"]["duration"]) - publisher.sent_s) <= SEGMENT_S
        assert abs(float(ffprobe(cut_file)["format"]["duration"]) - 3.0) <= 0.2
    except BaseException:
        print(archiver.log_tail(), stack.log_tail("transcode"), stack.log_tail("publisher"))
        raise
    finally:
        archiver.stop()
        stack.stop()
