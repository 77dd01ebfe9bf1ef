"""The whole pipeline as four processes on a real broker: upload → cuts → published → status and metrics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loa_core.contracts import DEAD_LETTER, FOOTAGE_UPLOADED, RENDITIONS_READY, DeadLetter
from loa_dev.kafka import KafkaBroker
from loa_dev.stack import Stack
from tests.support.kafka import produce_raw, read_topic
from tests.support.media import ffprobe, make_clip

TITLE = "Lễ ra mắt kênh TikTok phường"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        root=tmp_path_factory.mktemp("stack"),
        token=f"e2e-{uuid.uuid4().hex}",
        kafka_bootstrap=kafka_broker.bootstrap,
        topic_prefix=f"e2e{uuid.uuid4().hex[:8]}.",
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def _loa(stack: Stack, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    loa = shutil.which("loa", path=str(Path(os.sys.executable).parent))  # the venv's console script
    assert loa, "the `loa` CLI is not installed in the venv"
    env = {
        **os.environ,
        "LOA_INGEST_URL": stack.url("ingest"),
        "LOA_METRICS_URL": stack.url("metrics"),
        "LOA_TOKEN": stack.token,
        "LOA_CLI_CONFIG": str(stack.root / "no-cli-config.json"),
    }
    return subprocess.run([loa, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


def _upload_and_wait(stack: Stack, clip: Path, title: str) -> dict[str, object]:
    uploaded = _loa(stack, "upload", str(clip), "--title", title)
    assert uploaded.returncode == 0, uploaded.stderr
    footage_id = uploaded.stdout.strip()
    assert len(footage_id) == 32
    status = _loa(stack, "status", footage_id, "--wait", "--json", "--timeout", "240")
    assert status.returncode == 0, status.stdout + status.stderr + stack.log_tail("transcode")
    view: dict[str, object] = json.loads(status.stdout)
    assert view["footage_id"] == footage_id
    return view


def test_upload_is_published_as_both_cuts(stack: Stack, tmp_path: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", width=640, height=360, duration_s=2.0)
    source_duration = float(ffprobe(source)["format"]["duration"])

    view = _upload_and_wait(stack, source, TITLE)

    assert view["status"] == "published" and view["title"] == TITLE and view["errors"] == []
    posts = view["stages"]["published"]["posts"]  # type: ignore[index]
    assert {(p["channel"], p["profile"]) for p in posts} == {("local", "tiktok"), ("local", "youtube")}
    expected = {"tiktok": (1080, 1920), "youtube": (1920, 1080)}
    for post in posts:
        published = Path(httpx.URL(post["url"]).path)
        assert published.is_file() and published.is_relative_to(stack.publish_dir)
        probe = ffprobe(published)
        video = next(s for s in probe["streams"] if s["codec_type"] == "video")
        audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
        assert (video["width"], video["height"]) == expected[post["profile"]]
        assert video["codec_name"] == "h264" and video["pix_fmt"] == "yuv420p"
        assert audio["codec_name"] == "aac" and audio["sample_rate"] == "48000"
        assert abs(float(probe["format"]["duration"]) - source_duration) <= 0.1

    index = (stack.publish_dir / "index.html").read_text("utf-8")
    assert TITLE in index  # the Vietnamese title reaches the published page intact

    metrics = httpx.get(f"{stack.url('metrics')}/metrics", timeout=10).text
    assert 'loa_posts_published_total{channel="local",platform="local",ward="default"}' in metrics
    published_count = next(
        float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("loa_footage_published_total ")
    )
    assert published_count >= 1


def test_services_listen_only_where_told(stack: Stack) -> None:
    # The stack leaves LOA_HTTP_HOST at its default, 127.0.0.1 (make run: nothing reachable from the network).
    # 127.0.0.2 is loopback too, but reaches only a server bound to every interface.
    for service in stack.services:
        assert httpx.get(f"{stack.url(service)}/healthz", timeout=5).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.2:{stack.ports[service]}/healthz", timeout=5)


def test_the_same_file_twice_is_the_same_footage(stack: Stack, tmp_path: Path) -> None:
    source = make_clip(tmp_path / "twice.mp4", duration_s=1.0)
    first = _loa(stack, "upload", str(source), "--title", "Một lần")
    second = _loa(stack, "upload", str(source), "--title", "Một lần")
    assert first.returncode == 0 and second.returncode == 0
    assert first.stdout.strip() == second.stdout.strip()
    assert "uploaded before" in second.stderr
    # Other details are not dropped silently: the upload is refused, naming the footage the file already is.
    renamed = _loa(stack, "upload", str(source), "--title", "Hai lần")
    assert renamed.returncode == 1 and renamed.stdout == ""
    assert f"it is footage {first.stdout.strip()}" in renamed.stderr and "not applied: title" in renamed.stderr


def test_not_a_video_is_refused_and_nothing_is_announced(stack: Stack, tmp_path: Path) -> None:
    before = read_topic(stack.kafka_bootstrap or "", FOOTAGE_UPLOADED.full_name(stack.topic_prefix))
    fake = tmp_path / "notes.mp4"
    fake.write_bytes(os.urandom(64 * 1024))

    refused = _loa(stack, "upload", str(fake), "--title", "Không phải video")
    assert refused.returncode == 1
    assert "Error 422" in refused.stderr and "not a video" in refused.stderr

    unauthenticated = httpx.post(f"{stack.url('ingest')}/footage", files={"file": ("a.mp4", b"x")}, data={"title": "t"})
    assert unauthenticated.status_code == 401

    after = read_topic(stack.kafka_bootstrap or "", FOOTAGE_UPLOADED.full_name(stack.topic_prefix))
    assert len(after) == len(before)
    spool = stack.root / "data" / "ingest-spool"
    assert [p for p in spool.rglob("*") if p.is_file()] == []  # no stray spool file
    assert httpx.get(f"{stack.url('ingest')}/healthz").status_code == 200  # still serving


def test_undecodable_events_are_dead_lettered_and_the_pipeline_goes_on(stack: Stack, tmp_path: Path) -> None:
    bootstrap = stack.kafka_bootstrap or ""
    produce_raw(bootstrap, FOOTAGE_UPLOADED.full_name(stack.topic_prefix), b"{not json", key=b"k1")
    produce_raw(bootstrap, RENDITIONS_READY.full_name(stack.topic_prefix), b"\xff\xfe binary", key=b"k2")

    def letters(records: list) -> list[DeadLetter]:  # type: ignore[type-arg]
        return [DeadLetter.from_bytes(r.value) for r in records]

    records = read_topic(
        bootstrap,
        DEAD_LETTER.full_name(stack.topic_prefix),
        until=lambda rs: (
            {(d.origin_service, d.original_encoding) for d in letters(rs)}
            >= {("transcode", "utf-8"), ("publisher", "base64")}
        ),
        timeout_s=60,
    )
    found = {(d.origin_service, d.original_value) for d in letters(records)}
    assert ("transcode", "{not json") in found
    assert any(service == "publisher" for service, _ in found)
    assert all(d.reason for d in letters(records))

    # The consumers kept going: a new upload still goes all the way through.
    view = _upload_and_wait(stack, make_clip(tmp_path / "after.mp4", duration_s=1.5), "Sau lỗi / After the error")
    assert view["status"] == "published"
