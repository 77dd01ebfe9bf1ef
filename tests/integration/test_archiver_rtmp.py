"""RTMP push end to end: ffmpeg publishes a generated live stream to the archiver process; the archive and its
highlight are announced on real Kafka; unknown and revoked keys are refused; a SIGKILLed archiver continues the
same archive when the publisher comes back."""

from __future__ import annotations

import subprocess
from pathlib import Path

from loa_core.segments import SegmentVideo
from loa_dev.kafka import KafkaBroker, free_port
from tests.support.archiver import SEGMENT_S, TOKEN, Publisher, archiver_process, livestream_events
from tests.support.media import ffprobe
from tests.support.polling import wait_until


def test_publish_is_archived_and_announced_with_a_highlight(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    with archiver_process(tmp_path, kafka_broker.bootstrap, topic_prefix) as archiver:
        assert (
            archiver.client.post("/stream-keys", json={"channel": "local"}, headers={"Authorization": ""}).status_code
            == 401
        )
        key = archiver.new_stream_key(title="Lễ kỷ niệm")
        assert "stream_key" not in archiver.client.get("/stream-keys").json()[0]

        refused = Publisher(f"{archiver.rtmp_base}/not-a-key", 3)
        assert refused.wait() != 0, "a publish with an unknown stream key must be refused"

        publisher = Publisher(f"{archiver.rtmp_base}/{key['stream_key']}", 8)
        # During the live, the media team marks a highlight through the API.
        archive_id = wait_until(lambda: [a["archive_id"] for a in archiver.archives()], 30, "the archive")[0]
        mark = archiver.client.post(
            f"/archives/{archive_id}/marks", json={"start_s": 2, "end_s": 6, "title": "Trao giải"}
        )
        assert mark.status_code == 201, mark.text
        assert publisher.wait() == 0, publisher.stderr()

        events = livestream_events(kafka_broker.bootstrap, topic_prefix, 2)
        archive_event, highlight = events[0], events[1]
        assert {e.source for e in events} == {"livestream"}
        assert archive_event.metadata.title == "Lễ kỷ niệm"
        assert archive_event.metadata.event_date == highlight.metadata.event_date is not None
        assert archive_event.metadata.trim_start_s is None
        # The archive holds what was sent, within one segment.
        assert abs(archive_event.media.duration_s - publisher.sent_s) <= SEGMENT_S, (
            archive_event.media.duration_s,
            publisher.sent_s,
        )
        assert archive_event.media.has_audio and (archive_event.media.width, archive_event.media.height) == (320, 180)
        stored = archiver.storage_root / archive_event.media.key
        probed = ffprobe(stored)
        assert {s["codec_name"] for s in probed["streams"]} == {"h264", "aac"}  # stream copy: no re-encode

        # The marked range (not the automatic first N seconds), as a trim of the same archive for transcode.
        assert highlight.footage_id == mark.json()["footage_id"] != archive_event.footage_id
        assert highlight.media.key == archive_event.media.key
        assert (highlight.metadata.trim_start_s, highlight.metadata.trim_end_s) == (2.0, 6.0)
        assert highlight.metadata.title == "Lễ kỷ niệm — Trao giải"

        (archive,) = archiver.archives()
        assert archive["state"] == "announced" and archive["footage_id"] == archive_event.footage_id
        assert len(archiver.stored_segments(archive["archive_id"])) >= 8 / SEGMENT_S - 1
    # Each segment was recorded with its video, read as it was stored: the end of the live read none of them.
    _, segments = archiver.stored_archive(archive_id)
    assert segments and all(isinstance(s.video, SegmentVideo) and s.video.frames > 0 for s in segments)


def test_revoked_key_is_refused(tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str) -> None:
    with archiver_process(tmp_path, kafka_broker.bootstrap, topic_prefix) as archiver:
        key = archiver.new_stream_key()
        assert archiver.client.delete(f"/stream-keys/{key['key_id']}").status_code == 204
        publisher = Publisher(f"{archiver.rtmp_base}/{key['stream_key']}", 3)
        assert publisher.wait() != 0
        assert archiver.archives() == []


def test_killed_archiver_continues_the_same_archive(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    # Time for the publisher to come back after the restart (OBS reconnects by itself; here the test does).
    with archiver_process(tmp_path, kafka_broker.bootstrap, topic_prefix, silence_timeout_s="15") as archiver:
        key = archiver.new_stream_key()
        url = f"{archiver.rtmp_base}/{key['stream_key']}"
        first = Publisher(url, 60)

        def recording() -> str | None:
            archives = archiver.archives()
            if archives and len(archiver.stored_segments(archives[0]["archive_id"])) >= 2:
                return str(archives[0]["archive_id"])
            return None

        archive_id = wait_until(recording, 60, "two stored segments")
        archiver.kill()
        # The publisher loses its connection with the archiver (as OBS would) ...
        assert first.wait() != 0
        sent_before = first.sent_s
        archiver.start()
        # ... and publishes again with the same key; the archive goes on.
        second = Publisher(url, 6)
        assert second.wait() == 0, second.stderr()
        events = livestream_events(kafka_broker.bootstrap, topic_prefix, 2)
        assert [a["archive_id"] for a in archiver.archives()] == [archive_id]
        archive = archiver.archives()[0]
        assert archive["state"] == "announced"
        segments = archiver.stored_segments(archive_id)
        assert segments == [f"seg{n:05d}.ts" for n in range(1, len(segments) + 1)], segments
        sent = sent_before + second.sent_s
        # At most one segment lost across the kill.
        assert abs(events[0].media.duration_s - sent) <= SEGMENT_S, (events[0].media.duration_s, sent)
        assert TOKEN not in archiver.log_tail(400) and key["stream_key"] not in archiver.log_tail(400)


def test_restream_goes_to_the_platform_ingest_while_recording(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    # The "platform": ffmpeg listening for one RTMP publish, writing what it receives.
    platform_port = free_port()
    received = tmp_path / "platform.flv"
    platform = subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-listen", "1", "-i",
         f"rtmp://127.0.0.1:{platform_port}/app/platform-key", "-c", "copy", str(received)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        with archiver_process(tmp_path / "a", kafka_broker.bootstrap, topic_prefix) as archiver:
            key = archiver.new_stream_key(restream_urls=[f"rtmp://127.0.0.1:{platform_port}/app/platform-key"])
            publisher = Publisher(f"{archiver.rtmp_base}/{key['stream_key']}", 6)
            assert publisher.wait() == 0, publisher.stderr()
            events = livestream_events(kafka_broker.bootstrap, topic_prefix, 2)
            assert abs(events[0].media.duration_s - publisher.sent_s) <= SEGMENT_S
            assert platform.wait(30) == 0, platform.stderr.read() if platform.stderr else ""
            assert "platform-key" not in archiver.log_tail(400)  # the platform's key never reaches the log
        restreamed = ffprobe(received)
        assert {s["codec_name"] for s in restreamed["streams"]} == {"h264", "aac"}
        assert abs(float(restreamed["format"]["duration"]) - publisher.sent_s) <= SEGMENT_S
    finally:
        platform.kill()
        platform.wait()


def test_fast_publisher_keeps_the_end_of_its_stream(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    # A publisher faster than real time (a backlog after a network stall looks like this) closes its socket
    # right after its last packet; nothing it sent may be lost, and its stop counts as the end of the stream.
    clip = tmp_path / "burst.flv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine",
         "-t", "30", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "3M", "-g", "25", "-c:a", "aac", str(clip)],
        check=True,
    )  # fmt: skip
    with archiver_process(tmp_path / "a", kafka_broker.bootstrap, topic_prefix, silence_timeout_s="600") as archiver:
        key = archiver.new_stream_key()
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(clip), "-c", "copy", "-f", "flv",
             f"{archiver.rtmp_base}/{key['stream_key']}"],
            check=True,
        )  # fmt: skip
        # With a 10-minute silence timeout, only a clean end of stream can announce this archive in time.
        archive_event = livestream_events(kafka_broker.bootstrap, topic_prefix, 2)[0]
        assert abs(archive_event.media.duration_s - 30.0) <= 0.5, archive_event.media.duration_s
