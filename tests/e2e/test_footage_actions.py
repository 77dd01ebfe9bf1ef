"""Fixing what went out, from the footage page in headless Chromium: ingest and the publisher as processes on a real
broker against the YouTube emulator, metrics' API on a real projection fed with what the publisher announced. An
editor changes a published YouTube post's title on a desktop (Edit title), then takes the post down on a phone (Take
down, confirmed); a post the platform refused (the emulator answers 403) is retried from the page. The emulator's
own state is the proof. Screenshots under test-artifacts/footage-actions/."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pyotp
import pytest
from playwright.sync_api import Dialog, Page, expect, sync_playwright

from loa_core.auth import hash_token, new_token
from loa_core.channels import Channel, dump_channels
from loa_core.contracts import (
    POSTS_CHANGED,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    PostChanged,
    PostFailed,
    PostPublished,
    TopicSpec,
    new_id,
)
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker, free_port
from loa_metrics.api import create_api
from loa_metrics.projection import Projection, open_projection
from loa_metrics.settings import MetricsSettings
from tests.integration.test_publisher_registry import send
from tests.support.asgi_server import serve_in_thread
from tests.support.browser import ARTIFACTS, DESKTOP, PHONE, launch
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.ingest import IngestProcess, run_ingest
from tests.support.kafka import read_topic
from tests.support.publisher_process import PublisherProcess
from tests.support.publishing import event_for, metadata, stored_rendition

pytestmark = pytest.mark.e2e
WARD = "p1"
CHANNEL = "p1-youtube"
PASSWORD = "mật-khẩu-biên-tập-phường-một"
NEW_TITLE = "Tiếp xúc cử tri phường Một (đã sửa)"
FOLDER = ARTIFACTS / "footage-actions"


@dataclass
class Newsroom:
    ingest: IngestProcess
    publisher: PublisherProcess
    youtube: YouTubeEmulator
    projection: Projection
    bootstrap: str

    def logs(self) -> str:
        return f"{self.publisher.log_tail()}\n--- ingest ---\n{self.ingest.log()[-3000:]}"

    def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen within {timeout_s} s\n{self.logs()}")
            time.sleep(0.2)

    def values(self, topic: TopicSpec) -> list[bytes]:
        """A topic's records (read in a thread of its own: Playwright's sync API runs an event loop here)."""
        with ThreadPoolExecutor(1) as thread:
            records = thread.submit(read_topic, self.bootstrap, topic.full_name(self.ingest.prefix), timeout_s=1)
            return [r.value for r in records.result()]

    def project(self) -> None:
        """What metrics' agent does: the publisher's posts, failures and changes into the projection."""
        for value in self.values(POSTS_PUBLISHED):
            self.projection.events.post_published(PostPublished.from_bytes(value))
        for value in self.values(POSTS_FAILED):
            self.projection.events.failure(PostFailed.from_bytes(value))
        for value in self.values(POSTS_CHANGED):
            self.projection.events.post_changed(PostChanged.from_bytes(value))

    def footage(self, title: str) -> str:
        """A footage cut for the YouTube channel, sent to the publisher and shown by metrics as transcoded."""
        footage_id = new_id()
        cut = stored_rendition(LocalStorage(self.publisher.root / "storage"), 300_000, "youtube", footage_id)
        event = event_for(footage_id, metadata((CHANNEL,)).model_copy(update={"title": title}), cut).model_copy(
            update={"ward": WARD}
        )
        self.projection.events.renditions_ready(event)
        with ThreadPoolExecutor(1) as thread:  # off Playwright's event loop
            thread.submit(send, self.bootstrap, self.ingest.prefix, RENDITIONS_READY, event).result()
        return footage_id


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory: pytest.TempPathFactory, kafka_broker: KafkaBroker) -> Iterator[Newsroom]:
    root = tmp_path_factory.mktemp("footage-actions")
    with YouTubeEmulator(root / "yt") as youtube:
        channels = [
            Channel(
                name=CHANNEL,
                platform="youtube",
                profiles=("youtube",),
                ward=WARD,
                approval_required=False,
                options={"base_url": youtube.base_url, "token_url": f"{youtube.base_url}/token", "category_id": "25"},
            )
        ]
        channels_file = root / "channels.json"
        channels_file.write_text(dump_channels(channels), "utf-8")
        ingest_port = free_port()
        publisher = PublisherProcess(
            root / "publisher",
            bootstrap=kafka_broker.bootstrap,
            prefix="unset.",
            channels=channels,
            token=new_id(),
            env={
                "LOA_INGEST_URL": f"http://127.0.0.1:{ingest_port}",
                "LOA_SECRET_P1_YOUTUBE_CLIENT_ID": youtube.client_id,
                "LOA_SECRET_P1_YOUTUBE_CLIENT_SECRET": youtube.client_secret,
                "LOA_SECRET_P1_YOUTUBE_REFRESH_TOKEN": youtube.refresh_token,
                "LOA_STATUS_POLL_S": "0.05",
            },
        )
        projection = open_projection(root / "projection.sqlite3", {c.name: c for c in channels})
        settings = MetricsSettings(
            api_token_hashes=hash_token(new_token()), ingest_url=f"http://127.0.0.1:{ingest_port}"
        )
        try:
            with serve_in_thread(create_api(settings, projection.views, projection.engagement)) as metrics:
                env = {
                    "LOA_CHANNELS_FILE": str(channels_file),
                    "LOA_PUBLISHER_URL": publisher.url,
                    "LOA_METRICS_URL": metrics,
                }
                with run_ingest(root / "ingest", kafka_broker.bootstrap, env, port=ingest_port) as ingest:
                    made = httpx.post(
                        f"{ingest.url}/wards", headers=ingest.headers(), json={"id": WARD, "display_name": "Phường 1"}
                    )
                    assert made.status_code in (201, 409), made.text
                    account = {"username": "bien.tap", "display_name": "Biên tập phường 1", "role": "editor"}
                    made = httpx.post(
                        f"{ingest.url}/accounts",
                        headers=ingest.headers(),
                        json=account | {"ward": WARD, "password": PASSWORD},
                    )
                    assert made.status_code == 201, made.text
                    publisher.env["LOA_TOPIC_PREFIX"] = ingest.prefix
                    publisher.start()
                    try:
                        yield Newsroom(ingest, publisher, youtube, projection, kafka_broker.bootstrap)
                    finally:
                        publisher.stop()
        finally:
            projection.close()


def _sign_in(page: Page, url: str) -> None:
    """Signs the editor in (a password; a second factor enrolled if the house asks an editor for one) and back on
    `url`."""
    page.goto(url)
    page.fill("[name=username]", "bien.tap")
    page.fill("[name=password]", PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#secret, #footage-title")
    if page.locator("#secret").count():
        page.fill("[name=code]", pyotp.TOTP(page.locator("#secret").inner_text()).now())
        page.click("#totp-form button[type=submit]")
    expect(page.locator("#footage-title")).to_be_visible()


def test_an_editor_retitles_a_published_youtube_post_then_takes_it_down_and_retries_a_failed_one(
    newsroom: Newsroom,
) -> None:
    youtube = newsroom.youtube
    FOLDER.mkdir(parents=True, exist_ok=True)
    footage_id = newsroom.footage("Tiếp xúc cử tri phường Một")
    newsroom.wait_for("the post on YouTube", lambda: len(youtube.videos) == 1)
    (video,) = youtube.videos.values()
    page_url = f"{newsroom.ingest.url}/ui/footage/{footage_id}"

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            # Desktop: Edit title, the platform's limit counted as typed.
            page = browser.new_page(viewport=DESKTOP)
            _sign_in(page, page_url)
            post = page.locator(f"#post-{CHANNEL}")
            newsroom.wait_for("the page showing the post published", lambda: _shows(newsroom, page, "published"))
            post.locator("details.edit-post summary").click()
            form = post.locator("form.edit-published")
            form.locator("textarea[name=title]").fill(NEW_TITLE)
            form.locator("textarea[name=description]").fill("Quý IV năm 2026")
            expect(form.locator("output[data-for=title]")).to_have_text(f"{len(NEW_TITLE)} / 100 ký tự")
            page.screenshot(path=str(FOLDER / "edit-title-desktop.png"), full_page=True)
            form.locator("button.send-edit").click()
            expect(form.locator(".result")).to_have_text(
                "Đã gửi yêu cầu sửa; trang cập nhật khi nền tảng trả lời (tải lại trang)."
            )
            newsroom.wait_for("the title changed on YouTube", lambda: video.meta["snippet"]["title"] == NEW_TITLE)
            assert video.meta["snippet"]["description"] == "Quý IV năm 2026"
            newsroom.wait_for("the edit answered", lambda: _shows(newsroom, page, "edited"))
            page.screenshot(path=str(FOLDER / "edited-desktop.png"), full_page=True)

            # Phone: Take down, confirmed in the browser's dialog.
            phone = page
            phone.set_viewport_size(PHONE)
            phone.reload()
            post = phone.locator(f"#post-{CHANNEL}")
            take_down = post.locator(".take-down")
            expect(take_down.locator("select[name=how] option")).to_have_text(["Xóa hẳn", "Chuyển sang riêng tư"])
            messages: list[str] = []

            def confirm(dialog: Dialog) -> None:
                messages.append(dialog.message)
                dialog.accept()

            phone.once("dialog", confirm)
            take_down.locator("button.unpublish").click()
            expect(take_down.locator(".result")).to_have_text(
                "Đã gửi yêu cầu gỡ bài; trang cập nhật khi nền tảng trả lời (tải lại trang)."
            )
            assert messages == ["Gỡ bài này khỏi nền tảng? Người xem sẽ không còn thấy bài."]
            newsroom.wait_for("the video deleted on YouTube", lambda: video.id in youtube.deleted)
            newsroom.wait_for("the take-down answered", lambda: _shows(newsroom, phone, "unpublished"))
            expect(post.locator(".take-down")).to_have_count(0)
            phone.screenshot(path=str(FOLDER / "taken-down-phone.png"), full_page=True)

            # A post YouTube refuses (403 on the upload's start: a person must act), retried from the phone.
            youtube.inject("status", on="init", status=403)
            failing = newsroom.footage("Hội nghị nhân dân phường Một")

            def failed() -> bool:
                newsroom.project()
                return any(PostFailed.from_bytes(v).footage_id == failing for v in newsroom.values(POSTS_FAILED))

            newsroom.wait_for("the post failing", failed)
            phone.goto(f"{newsroom.ingest.url}/ui/footage/{failing}")
            post = phone.locator(f"#post-{CHANNEL}")
            expect(post).to_have_attribute("data-state", "failed")
            phone.screenshot(path=str(FOLDER / "failed-phone.png"), full_page=True)
            post.locator("button.retry").click()
            expect(post.locator(".problem .result")).to_have_text(
                "Đã gửi lại các bài lỗi của video này; trang cập nhật khi nền tảng trả lời (tải lại trang)."
            )
            newsroom.wait_for("the retried post on YouTube", lambda: len(youtube.videos) == 2)
            retried = [v for v in youtube.videos.values() if v.id != video.id]
            assert retried[0].meta["snippet"]["title"] == "Hội nghị nhân dân phường Một"
        finally:
            browser.close()


def _shows(newsroom: Newsroom, page: Page, state: str) -> bool:
    """Metrics has learnt what the publisher said, and the reloaded page shows the post in `state`."""
    newsroom.project()
    page.reload()
    return bool(page.locator(f"article.post[data-state={state}]").count())
