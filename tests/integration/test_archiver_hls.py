"""HLS pull end to end: ffmpeg writes a live HLS stream into a folder served over local HTTP; the archiver pulls
it, is stopped (SIGKILL or SIGTERM) and restarted mid-stream, and announces an archive as long as what was sent.
The address policy refuses hosts not allow-listed, loopback names not named explicitly, and redirects to them."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loa_core.segments import SegmentVideo
from loa_dev.kafka import KafkaBroker
from tests.support.archiver import (
    SEGMENT_S,
    ArchiverProcess,
    archiver_process,
    http_server,
    livestream_events,
    start_hls_source,
)
from tests.support.polling import wait_until

# The test's own HTTP server is on loopback, so the operator (the test) names it explicitly.
LOCAL = {"hls_allowed_hosts": "127.0.0.1", "hls_allowed_private": "127.0.0.1"}


def _pull(archiver: ArchiverProcess, pull_id: str) -> dict[str, Any]:
    response = archiver.client.get(f"/pulls/{pull_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# SIGKILL: nothing of the archiver's clean-up runs. SIGTERM (docker stop, a rolling deploy): a graceful stop, which
# must leave every segment it received stored and recorded.
@pytest.mark.parametrize("stop", ["kill", "terminate"])
def test_pull_survives_a_stopped_archiver(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str, stop: str
) -> None:
    hls = tmp_path / "hls"
    hls.mkdir()
    source: subprocess.Popen[bytes] | None = None
    try:
        with (
            http_server(hls) as port,
            archiver_process(tmp_path / "a", kafka_broker.bootstrap, topic_prefix, **LOCAL) as archiver,
        ):
            # The live starts once the archiver is up, so the kill below lands in the middle of it.
            source = start_hls_source(hls, 14)
            _pull_and_stop(archiver, stop, port, hls, source, kafka_broker, topic_prefix)
    finally:
        if source is not None:
            source.kill()
            source.wait()


def _pull_and_stop(
    archiver: ArchiverProcess,
    stop: str,
    port: int,
    hls: Path,
    source: subprocess.Popen[bytes],
    kafka_broker: KafkaBroker,
    topic_prefix: str,
) -> None:
    wait_until(lambda: (hls / "live.m3u8").exists(), 30, "the HLS playlist")
    response = archiver.client.post(
        "/pulls", json={"url": f"http://127.0.0.1:{port}/live.m3u8", "channel": "local", "title": "Hội thi"}
    )
    assert response.status_code == 201, response.text
    pull_id = response.json()["pull_id"]

    def two_segments() -> str | None:
        archive_id = _pull(archiver, pull_id)["archive_id"]
        return archive_id if archive_id and len(archiver.stored_segments(archive_id)) >= 2 else None

    archive_id = wait_until(two_segments, 60, "two pulled segments")
    if stop == "kill":
        archiver.kill()
    else:
        archiver.terminate()
        # Every segment in storage is recorded as the archive's (a kill may land between the two steps).
        _, recorded = archiver.stored_archive(archive_id)
        assert [s.key.rsplit("/", 1)[-1] for s in recorded] == archiver.stored_segments(archive_id)
    stored_before_kill = len(archiver.stored_segments(archive_id))
    archiver.start()
    assert source.wait(60) == 0, source.stderr.read() if source.stderr else ""
    events = livestream_events(kafka_broker.bootstrap, topic_prefix, 2)
    assert _pull(archiver, pull_id)["state"] == "done"
    assert [a["archive_id"] for a in archiver.archives()] == [archive_id]
    archive_event = events[0]
    assert archive_event.source == "livestream" and archive_event.metadata.title == "Hội thi"
    sent_s = sum(
        float(line.split(":")[1].split(",")[0])
        for line in (hls / "live.m3u8").read_text().splitlines()
        if line.startswith("#EXTINF:")
    )
    assert abs(sent_s - 14) < 0.5
    assert abs(archive_event.media.duration_s - sent_s) <= SEGMENT_S, (archive_event.media.duration_s, sent_s)
    segments = archiver.stored_segments(archive_id)
    assert segments == [f"seg{n:05d}.ts" for n in range(1, len(segments) + 1)]
    assert len(segments) > stored_before_kill  # the restarted archiver went on with the same pull
    assert events[1].metadata.trim_end_s == 4.0 and events[1].media.key == archive_event.media.key


def test_pull_address_policy(tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str) -> None:
    hls = tmp_path / "hls"
    hls.mkdir()
    (hls / "live.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n")
    settings = {"hls_allowed_hosts": "127.0.0.1,localhost", "hls_allowed_private": "127.0.0.1"}
    with (
        archiver_process(tmp_path / "a", kafka_broker.bootstrap, topic_prefix, **settings) as archiver,
        http_server(hls) as plain_port,
        # /redirect on this one points at the other through the name `localhost`.
        http_server(hls, redirect_to=f"http://localhost:{plain_port}/live.m3u8") as port,
    ):
        for url in ("http://example.com/live.m3u8", "file:///etc/passwd", f"http://127.0.0.2:{port}/x.m3u8"):
            response = archiver.client.post("/pulls", json={"url": url, "channel": "local"})
            assert response.status_code == 422, (url, response.text)
        # Allow-listed by name, but the name is loopback and not named in hls_allowed_private.
        direct = archiver.client.post(
            "/pulls", json={"url": f"http://localhost:{plain_port}/live.m3u8", "channel": "local"}
        ).json()
        # Allowed and explicitly private, but it redirects to that loopback name: refused too.
        redirected = archiver.client.post(
            "/pulls", json={"url": f"http://127.0.0.1:{port}/redirect", "channel": "local"}
        ).json()
        for pull in (direct, redirected):
            done = wait_until(
                lambda pull=pull: (p := _pull(archiver, pull["pull_id"]))["state"] == "failed" and p,
                30,
                "the pull to be refused",
            )
            assert "loopback, private or link-local" in done["error"], done

            def closed(archive_id: str = done["archive_id"]) -> bool:
                return bool(archiver.client.get(f"/archives/{archive_id}").json()["state"] == "empty")

            wait_until(closed, 30, "the empty archive to be closed")


def test_scheduled_capture_window(tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str) -> None:
    hls = tmp_path / "hls"
    hls.mkdir()
    source: subprocess.Popen[bytes] | None = None
    try:
        with (
            http_server(hls) as port,
            archiver_process(tmp_path / "a", kafka_broker.bootstrap, topic_prefix, **LOCAL) as archiver,
        ):
            # The live starts once the archiver is up, so its 30 s outlast the window on a slow machine too.
            source = start_hls_source(hls, 30)
            start = datetime.now(UTC) + timedelta(seconds=3)
            response = archiver.client.post(
                "/pulls",
                json={
                    "url": f"http://127.0.0.1:{port}/live.m3u8",
                    "channel": "local",
                    "start_at": start.isoformat(),
                    "end_at": (start + timedelta(seconds=6)).isoformat(),
                },
            )
            assert response.status_code == 201, response.text
            pull = response.json()
            assert pull["state"] == "scheduled" and pull["archive_id"] is None
            wait_until(lambda: _pull(archiver, pull["pull_id"])["state"] == "done", 60, "the window to close")
            # The window ended the capture (not the end of the live, which runs 30 s).
            assert f"pull {pull['pull_id']}: capture window closed" in archiver.log_tail(400)
            events = livestream_events(kafka_broker.bootstrap, topic_prefix, 1)
            assert events[0].media.duration_s > 0
    finally:
        if source is not None:
            source.kill()
            source.wait()


def test_fragmented_mp4_playlist_behind_a_master_is_archived(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    hls = tmp_path / "hls"
    hls.mkdir()
    # A finished (EXT-X-ENDLIST) fMP4 playlist: init segment + 2 s fragments.
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i", "sine",
         "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac",
         "-f", "hls", "-hls_time", "2", "-hls_list_size", "0", "-hls_segment_type", "fmp4", str(hls / "vod.m3u8")],
        check=True,
    )  # fmt: skip
    # Behind a master playlist, as CDNs serve it: the best variant is followed.
    (hls / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=100000\nmissing.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=900000\nvod.m3u8\n"
    )
    with (
        http_server(hls) as port,
        archiver_process(tmp_path / "a", kafka_broker.bootstrap, topic_prefix, **LOCAL) as archiver,
    ):
        response = archiver.client.post(
            "/pulls", json={"url": f"http://127.0.0.1:{port}/master.m3u8", "channel": "local"}
        )
        assert response.status_code == 201, response.text
        archive_event = livestream_events(kafka_broker.bootstrap, topic_prefix, 2)[0]
        assert abs(archive_event.media.duration_s - 6.0) <= 0.3, archive_event.media.duration_s
        assert archive_event.media.has_audio
        (archive,) = archiver.archives()
    # Each pulled segment (its init segment and fragment) was recorded with its video, read as it was stored.
    _, segments = archiver.stored_archive(archive["archive_id"])
    assert len(segments) == 3 and all(isinstance(s.video, SegmentVideo) and s.video.frames == 50 for s in segments)
