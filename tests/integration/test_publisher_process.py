"""The publisher as a real process: SIGKILL mid-upload, restart, exactly one byte-identical video; `loa retry`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loa_core.channels import Channel
from loa_core.contracts import (
    POSTS_DECISIONS,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    Image,
    PostDecision,
    PostFailed,
    PostPublished,
    PostText,
    RenditionsReady,
    layout,
    new_id,
)
from loa_core.hashing import sha256_file
from loa_core.kafka import EventProducer
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.integration.test_publisher_registry import ready
from tests.integration.test_publisher_registry import send as send_to
from tests.support.emulators.tiktok import TikTokEmulator
from tests.support.emulators.youtube import ALIGN, YouTubeEmulator
from tests.support.kafka import read_topic
from tests.support.publisher_process import PublisherProcess, cli_env
from tests.support.publishing import event_for, metadata, stored_rendition

SIZE = 64 * ALIGN + 12345  # 16 MiB and a bit, in 256 KiB chunks: 65 PUTs


@pytest.fixture
def youtube(tmp_path: Path) -> Iterator[YouTubeEmulator]:
    with YouTubeEmulator(tmp_path / "yt") as emu:
        yield emu


@pytest.fixture
def tiktok(tmp_path: Path) -> Iterator[TikTokEmulator]:
    with TikTokEmulator(tmp_path / "tt") as emu:
        yield emu


@pytest.fixture
def publisher(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str, youtube: YouTubeEmulator, tiktok: TikTokEmulator
) -> Iterator[PublisherProcess]:
    channels = [
        Channel(
            name="ward-yt",
            platform="youtube",
            profiles=("youtube",),
            options={"base_url": youtube.base_url, "token_url": f"{youtube.base_url}/token"},
        ),
        Channel(name="ward-tt", platform="tiktok", profiles=("tiktok",), options={"base_url": tiktok.base_url}),
        # The same YouTube account behind a channel whose posts wait for an approver.
        Channel(
            name="ward-yt-review",
            platform="youtube",
            profiles=("youtube",),
            approval_required=True,
            options={"base_url": youtube.base_url, "token_url": f"{youtube.base_url}/token"},
        ),
    ]
    process = PublisherProcess(
        tmp_path / "publisher",
        bootstrap=kafka_broker.bootstrap,
        prefix=topic_prefix,
        channels=channels,
        token="test-token-" + new_id(),
        env={
            "LOA_SECRET_WARD_YT_CLIENT_ID": youtube.client_id,
            "LOA_SECRET_WARD_YT_CLIENT_SECRET": youtube.client_secret,
            "LOA_SECRET_WARD_YT_REFRESH_TOKEN": youtube.refresh_token,
            "LOA_SECRET_WARD_YT_REVIEW_CLIENT_ID": youtube.client_id,
            "LOA_SECRET_WARD_YT_REVIEW_CLIENT_SECRET": youtube.client_secret,
            "LOA_SECRET_WARD_YT_REVIEW_REFRESH_TOKEN": youtube.refresh_token,
            "LOA_YOUTUBE_CHUNK_BYTES": str(ALIGN),
            "LOA_SECRET_WARD_TT_CLIENT_KEY": tiktok.client_key,
            "LOA_SECRET_WARD_TT_CLIENT_SECRET": tiktok.client_secret,
            "LOA_SECRET_WARD_TT_REFRESH_TOKEN": tiktok.refresh_token,
            "LOA_STATUS_POLL_S": "0.05",
        },
    )
    yield process
    process.stop()


def send(bootstrap: str, prefix: str, event: object) -> None:
    async def go() -> None:
        producer = EventProducer(bootstrap, prefix)
        try:
            await producer.send(RENDITIONS_READY, event)  # type: ignore[arg-type]
        finally:
            await producer.stop()

    asyncio.run(go())


def wait_for(what: str, check: object, timeout_s: float, publisher: PublisherProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout_s:.0f} s\n{publisher.log_tail()}")


def test_sigkill_mid_upload_then_restart_gives_exactly_one_identical_video(
    publisher: PublisherProcess,
    youtube: YouTubeEmulator,
    tiktok: TikTokEmulator,
    kafka_broker: KafkaBroker,
    topic_prefix: str,
) -> None:
    storage = LocalStorage(publisher.root / "storage")
    footage_id = new_id()
    rendition = stored_rendition(storage, SIZE, "youtube", footage_id)
    vertical = stored_rendition(storage, 3 * 1024 * 1024 + 5, "tiktok", footage_id)
    # TikTok first: it is posted before the kill, so the restart must not post it again.
    event = event_for(footage_id, metadata(("ward-tt", "ward-yt")), rendition, vertical)
    youtube.pause_after_bytes = 20 * ALIGN  # the 21st chunk waits: the upload is certainly in flight

    publisher.start()
    send(kafka_broker.bootstrap, topic_prefix, event)
    wait_for("the upload reaching the pause", youtube.paused.is_set, 120, publisher)
    session = next(iter(youtube.sessions.values()))
    assert session.persisted == 20 * ALIGN and session.video is None
    publisher.kill()
    youtube.release()

    publisher.start()  # renditions.ready was never committed: it is redelivered, the ledger resumes
    published_topic = POSTS_PUBLISHED.full_name(topic_prefix)
    records = read_topic(
        kafka_broker.bootstrap,
        published_topic,
        lambda r: any(PostPublished.from_bytes(x.value).channel == "ward-yt" for x in r),
        timeout_s=180,
    )
    posts = [PostPublished.from_bytes(r.value) for r in records]
    youtube_posts = [p for p in posts if p.channel == "ward-yt"]
    assert len(youtube_posts) == 1, publisher.log_tail()
    post = youtube_posts[0]

    assert list(youtube.videos) == [post.post_id]
    assert len(youtube.sessions) == 1  # the same session was resumed, not a second upload started
    video = youtube.videos[post.post_id]
    assert video.size == SIZE
    assert sha256_file(video.path) == sha256_file(storage.root / rendition.key)
    # The restarted process asked where the session stood and went on from there.
    chunk_starts = [int(d.split()[1].split("-")[0]) for k, d in youtube.requests if k == "chunk"]
    assert chunk_starts.count(0) == 1
    # The TikTok post made before the kill was announced again after the restart, never posted again.
    assert len(tiktok.publishes) == 1 and len(tiktok.videos) == 1
    tiktok_video = next(iter(tiktok.videos.values()))
    assert sha256_file(tiktok_video.path) == sha256_file(storage.root / vertical.key)
    assert {p.post_id for p in posts if p.channel == "ward-tt"} == set(tiktok.publishes)
    log_text = publisher.log_text()
    for secret in (youtube.client_secret, youtube.refresh_token, tiktok.client_secret, "rft-"):
        assert secret not in log_text


def test_loa_retry_redrives_a_failed_post(
    publisher: PublisherProcess, youtube: YouTubeEmulator, kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    storage = LocalStorage(publisher.root / "storage")
    footage_id = new_id()
    event = event_for(footage_id, metadata(("ward-yt",)), stored_rendition(storage, 3 * ALIGN, "youtube", footage_id))
    youtube.inject("status", on="init", status=403)  # forbidden: a person must act
    publisher.start()
    send(kafka_broker.bootstrap, topic_prefix, event)
    failed = read_topic(kafka_broker.bootstrap, POSTS_FAILED.full_name(topic_prefix), lambda r: len(r) >= 1, 120)
    assert len(failed) == 1 and "Backend Error" in PostFailed.from_bytes(failed[0].value).reason
    assert youtube.videos == {}

    loa = str(Path(sys.executable).parent / "loa")  # this checkout's CLI, not whichever `loa` is on PATH
    result = subprocess.run(
        [loa, "retry", footage_id], env=cli_env(publisher, tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "retrying ward-yt/youtube" in result.stdout
    published = read_topic(kafka_broker.bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 1, 120)
    assert len(published) == 1 and len(youtube.videos) == 1

    again = subprocess.run(
        [loa, "retry", footage_id], env=cli_env(publisher, tmp_path), capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and "Nothing failed" in again.stdout

    bad_env = {**cli_env(publisher, tmp_path), "LOA_TOKEN": "wrong"}
    refused = subprocess.run([loa, "retry", footage_id], env=bad_env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "401" in refused.stderr


def test_sigterm_mid_upload_abandons_it_and_the_restart_resumes_it_once(
    publisher: PublisherProcess, youtube: YouTubeEmulator, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    storage = LocalStorage(publisher.root / "storage")
    footage_id = new_id()
    rendition = stored_rendition(storage, SIZE, "youtube", footage_id)
    youtube.pause_after_bytes = 20 * ALIGN  # the 21st chunk waits past the grace: the upload cannot finish in it
    publisher.env["LOA_SHUTDOWN_GRACE_S"] = "1"

    publisher.start()
    send(kafka_broker.bootstrap, topic_prefix, event_for(footage_id, metadata(("ward-yt",)), rendition))
    wait_for("the upload reaching the pause", youtube.paused.is_set, 120, publisher)
    publisher.stop()  # SIGTERM, as docker stop and Kubernetes send; waits for the process to exit
    assert publisher.process is not None and publisher.process.returncode == 0, publisher.log_tail()
    assert "abandoning 1 unfinished job" in publisher.log_text()
    youtube.release()

    publisher.start()  # renditions.ready was not committed at the stop: it is redelivered, the ledger resumes
    records = read_topic(
        kafka_broker.bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 1, timeout_s=180
    )
    assert len(records) == 1, publisher.log_tail()
    post = PostPublished.from_bytes(records[0].value)
    assert list(youtube.videos) == [post.post_id]
    assert len(youtube.sessions) == 1  # the same session was resumed, not a second upload started
    assert sha256_file(youtube.videos[post.post_id].path) == sha256_file(storage.root / rendition.key)


def test_an_edited_youtube_post_goes_out_with_its_text_and_the_picked_thumbnail(
    publisher: PublisherProcess, youtube: YouTubeEmulator, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    """An editor's saved text and picked still (a decision 'edited' on posts.decisions, the channel without
    approval) before the cuts come: the video goes out with that title and thumbnails.set sets that frame's still."""
    storage = LocalStorage(publisher.root / "storage")
    footage_id = new_id()
    stills = {f"thumbnail-{n}": b"\xff\xd8\xff\xe0" + bytes([n]) * 2048 for n in (1, 2, 3)}
    images = []
    for kind, data in stills.items():
        key = layout.image_key(footage_id, kind)
        storage.put_stream(key, [data])
        images.append(Image(kind=kind, key=key, width=1280, height=720, size_bytes=len(data), at_s=0.5))
    event = event_for(footage_id, metadata(("ward-yt",)), stored_rendition(storage, 3 * ALIGN, "youtube", footage_id))
    text = PostText(title="Lễ kỷ niệm — tiêu đề biên tập viên sửa", description="Mô tả đã sửa", hashtags=("#BếnNghé",))
    edit = PostDecision(
        footage_id=footage_id,
        channel="ward-yt",
        decision="edited",
        by="acc-editor",
        text=text,
        text_sha256=text.sha256(),
        frame=3,
    )
    publisher.start()
    wait_for("/readyz", lambda: ready(publisher), 120, publisher)
    send_to(kafka_broker.bootstrap, topic_prefix, POSTS_DECISIONS, edit)
    kept = f"edited {footage_id}/ward-yt"
    wait_for("the edit kept", lambda: kept in publisher.log_text(), 60, publisher)
    send(kafka_broker.bootstrap, topic_prefix, event.model_copy(update={"images": tuple(images)}))
    read_topic(kafka_broker.bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 1, 120)
    (video_id,) = youtube.videos
    assert youtube.videos[video_id].meta["snippet"]["title"] == text.title, "the editor's title"
    assert youtube.thumbnails == {video_id: stills["thumbnail-3"]}, "the picked frame's still, set once"
    assert youtube.units_spent == 50


def test_a_rejected_post_never_reaches_the_platform_and_an_approved_one_does(
    publisher: PublisherProcess, youtube: YouTubeEmulator, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    """Two footage for a YouTube channel that requires approval: the approver rejects one (before its cuts come)
    and approves the other; the emulator receives exactly the approved one, not even an upload session of the
    rejected one, and the rejection is said on posts.failed with the approver's reason."""
    storage = LocalStorage(publisher.root / "storage")

    def footage(title: str) -> tuple[RenditionsReady, PostDecision]:
        footage_id = new_id()
        cut = stored_rendition(storage, 2 * ALIGN, "youtube", footage_id)
        path = storage.local_path(cut.key)
        assert path is not None
        meta = metadata(("ward-yt-review",)).model_copy(update={"title": title})
        event = event_for(footage_id, meta, cut.model_copy(update={"sha256": sha256_file(path)}))
        verdict = PostDecision(
            footage_id=footage_id,
            channel="ward-yt-review",
            decision="approved",
            by="acc-approver",
            cuts={"youtube": event.renditions[0].sha256 or ""},
            text_sha256=PostText.of(meta).sha256(),
        )
        return event, verdict

    rejected, rejection = footage("Bản sai tên đồng chí Bí thư")
    rejection = rejection.model_copy(update={"decision": "rejected", "reason": "Sai tên / wrong name"})
    approved, approval = footage("Lễ kỷ niệm — bản đã duyệt")
    publisher.start()
    wait_for("/readyz", lambda: ready(publisher), 120, publisher)
    for verdict in (rejection, approval):
        send_to(kafka_broker.bootstrap, topic_prefix, POSTS_DECISIONS, verdict)
    for event in (rejected, approved):
        send(kafka_broker.bootstrap, topic_prefix, event)
    published = read_topic(kafka_broker.bootstrap, POSTS_PUBLISHED.full_name(topic_prefix), lambda r: len(r) >= 1, 120)
    failed = read_topic(kafka_broker.bootstrap, POSTS_FAILED.full_name(topic_prefix), lambda r: len(r) >= 1, 120)
    assert [PostPublished.from_bytes(r.value).footage_id for r in published] == [approved.footage_id]
    said = PostFailed.from_bytes(failed[0].value)
    assert (said.footage_id, said.retryable) == (rejected.footage_id, False) and "Sai tên" in said.reason
    (video,) = youtube.videos.values()
    assert video.meta["snippet"]["title"].startswith("Lễ kỷ niệm — bản đã duyệt")
    assert len(youtube.sessions) == 1, "no upload was even started for the rejected post"
