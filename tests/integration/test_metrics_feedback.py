"""Collecting comments end to end: the metrics service as a process polls strict YouTube and Facebook emulators and
takes Facebook's and Zalo's webhooks, sends each item on feedback.received (a real broker), consumes it back and
keeps one row per item in its database. Killed mid-collection and started again, it neither duplicates nor skips
a comment; an expired token collects nothing until it is good again; a wrong signature is refused and nothing of
it is kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loa_core.channels import Channel, dump_channels
from loa_core.contracts import POSTS_PUBLISHED, new_id
from loa_core.kafka import EventProducer
from loa_dev.kafka import KafkaBroker
from loa_dev.processes import stop_processes
from tests.support.emulators.facebook import FacebookEmulator
from tests.support.emulators.webhooks import facebook_comment, zalo_message
from tests.support.metrics_events import published
from tests.support.metrics_process import MetricsProcess as Metrics
from tests.support.polling import wait_until
from tests.support.stats_emulators import YouTubeStatsEmulator

OA_SECRET = "oa-secret"


@pytest.fixture
def youtube(tmp_path: Path) -> Iterator[YouTubeStatsEmulator]:
    with YouTubeStatsEmulator(tmp_path / "yt") as emulator:
        yield emulator  # type: ignore[misc]


def test_youtube_comments_are_collected_once_each_across_a_kill_mid_collection(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path, youtube: YouTubeStatsEmulator
) -> None:
    # 250 threads: three pages of 100; one page a round, so a collection spans rounds and the kill lands inside it.
    expected: dict[str, str] = {}
    for i in range(250):
        text = f"Bình luận số {i}: đường ngập nước"
        comment_id = youtube.comments.comment("vid1", text, f"2026-12-01T{i // 60:02d}:{i % 60:02d}:00Z")
        expected[comment_id] = text
    thread = next(iter(expected))
    reply = youtube.comments.comment("vid1", "Phường đã tiếp nhận", "2026-12-01T05:00:00Z", reply_to=thread)
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
        late = youtube.comments.comment("vid2", "Rác chưa được thu gom", "2026-12-02T08:00:00Z", author="Trần Thị Bình")
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


def test_facebook_comments_by_polling_and_webhook_and_zalo_messages_with_signatures_checked(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    with FacebookEmulator(tmp_path / "fb") as facebook:
        _facebook_and_zalo(kafka_broker, topic_prefix, tmp_path, facebook)  # type: ignore[arg-type]


def _facebook_and_zalo(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path, facebook: FacebookEmulator
) -> None:
    top = facebook.add_comment("Cống thoát nước bị tắc ở tổ 5", on="9001")
    reply = facebook.add_comment("Tôi cũng thấy vậy", on="9001", author="citizen-2", parent=top)
    other = facebook.add_comment("Khi nào sửa đường?", on="9001", author="citizen-3")
    token = facebook.page_token
    facebook.expire_page_tokens()  # the Page token expired before the first round
    channels = tmp_path / "channels.json"
    page = {"page_id": facebook.page_id}
    channels.write_text(
        dump_channels(
            [
                Channel(name="p1-fb", platform="facebook", profiles=("youtube",), ward="p1", options=page),
                Channel(name="p1-zalo", platform="zalo", profiles=("zalo",), ward="p1", options={"oa_id": "777"}),
            ]
        )
    )
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"p1-fb": {"access_token": token}}))
    metrics = Metrics(
        tmp_path / "m",
        {
            "LOA_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
            "LOA_TOPIC_PREFIX": topic_prefix,
            "LOA_CHANNELS_FILE": str(channels),
            "LOA_STATS_CREDENTIALS_FILE": str(creds),
            "LOA_FACEBOOK_API_BASE": facebook.base_url,
            "LOA_STATS_ROUND_S": "0.5",
            "LOA_FACEBOOK_APP_SECRET": facebook.app_secret,
            "LOA_FACEBOOK_WEBHOOK_VERIFY_TOKEN": "verify-me",
            "LOA_ZALO_APP_ID": "zalo-app",
            "LOA_ZALO_OA_SECRET_KEYS": json.dumps({"777": OA_SECRET}),
        },
    )
    metrics.root.mkdir()
    try:
        metrics.start()
        footage_id = new_id()

        async def announce() -> None:
            producer = EventProducer(kafka_broker.bootstrap, topic_prefix)
            try:
                await producer.send(
                    POSTS_PUBLISHED,
                    published(footage_id, "youtube", channel="p1-fb", platform="facebook", post_id="9001"),
                )
            finally:
                await producer.stop()

        asyncio.run(announce())
        wait_until(
            lambda: metrics.counter("loa_feedback_polls_total", platform="facebook", outcome="error") >= 1,
            120,
            "the expired token refused",
            diagnose=metrics.log_tail,
        )
        assert metrics.items() == []
        facebook.page_tokens.add(token)  # good again (the Page connected anew)
        wait_until(lambda: len(metrics.items()) >= 3, 120, "the polled comments", diagnose=metrics.log_tail)

        handshake = httpx.get(
            f"{metrics.url}/webhooks/facebook",
            params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "8765"},
            timeout=10,
        )
        assert handshake.status_code == 200 and handshake.text == "8765"
        # Forged first, on the same channels (the same partitions, so in order before the good ones).
        forged = [
            (
                "facebook",
                facebook_comment(facebook.app_secret, facebook.page_id, "9001", "9001_f", "Giả", 1, sign_with="x"),
            ),
            ("zalo", zalo_message("zalo-app", OA_SECRET, "777", "u9", "mf", "Giả", 1000, sign_with="x")),
        ]
        for platform, (body, headers) in forged:
            answer = httpx.post(f"{metrics.url}/webhooks/{platform}", content=body, headers=headers, timeout=10)
            assert answer.status_code == 401 and "Chữ ký" in answer.json()["detail"], answer.text
        good = [
            (
                "facebook",
                facebook_comment(
                    facebook.app_secret, facebook.page_id, "9001", "9001_w", "Đường tối quá", 1_764_554_400
                ),
            ),
            (
                "facebook",
                facebook_comment(
                    facebook.app_secret, facebook.page_id, "9001", other, "Khi nào sửa đường?", 1_764_554_400
                ),
            ),
            (
                "zalo",
                zalo_message("zalo-app", OA_SECRET, "777", "u1", "m1", "Cho hỏi lịch thu gom rác?", 1_764_554_400_000),
            ),
        ]
        for platform, (body, headers) in good:
            answer = httpx.post(f"{metrics.url}/webhooks/{platform}", content=body, headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
        wait_until(lambda: len(metrics.items()) >= 5, 60, "the webhooks' items", diagnose=metrics.log_tail)
        items = {i[0]: i for i in metrics.items()}
        assert sorted(items) == sorted([top, reply, other, "9001_w", "m1"]), "each once; nothing forged kept"
        assert items[reply][2] == top and items["m1"][3] == "p1-zalo" and items["9001_w"][1] == "Đường tối quá"
    finally:
        stop_processes([metrics.process])
