"""The citizens' inbox end to end, in headless Chromium: ingest, the publisher and metrics as processes on a real
broker. A citizen comments under the ward's YouTube video (metrics' poller collects it from the strict commentThreads
emulator) and another under its Facebook video (the Page's signed webhook brings it to metrics); both reach the
ward's inbox triaged to their departments (flooding to infrastructure, a power cut written without diacritics to
the electricity department). An editor signs in, reads both on a phone, answers the YouTube one from the page; the
publisher posts the reply through its ledger and the page shows it posted. The emulator's own state is the proof:
exactly one reply under the comment, as the channel. Screenshots under test-artifacts/inbox-page/."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from loa_core.channels import Channel, dump_channels
from loa_core.contracts import DEFAULT_WARD
from loa_core.contracts.feedback import feedback_item_id
from loa_dev.kafka import KafkaBroker
from loa_dev.stack import Stack
from tests.support.browser import ARTIFACTS, DESKTOP, PHONE, launch, screenshots
from tests.support.emulators.facebook import FacebookEmulator
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.stats_emulators import YouTubeStatsEmulator

pytestmark = pytest.mark.e2e
FOLDER = ARTIFACTS / "inbox-page"
PASSWORD = "mật-khẩu-biên-tập-hộp-thư"
APP_SECRET = "fb-app-secret-of-the-test"
FLOOD = "Đường Lê Lợi đoạn gần chợ bị ngập nước mỗi khi mưa, mong phường sớm xử lý."
POWER = "mat dien ca khu pho 4 tu sang toi gio"
REPLY = "Cảm ơn anh đã phản ánh. Phường đã giao tổ dân phố kiểm tra và sẽ nạo vét cống trong tuần này."


@dataclass
class InboxStack(Stack):
    """ingest, publisher and metrics; metrics polls the YouTube statistics emulator and takes Facebook's webhook."""

    metrics_env: dict[str, str] = field(default_factory=dict)

    def service_env(self, service: str) -> dict[str, str]:
        env = super().service_env(service)
        if service == "metrics":
            env.update(self.metrics_env)
        return env


@dataclass
class World:
    stack: InboxStack
    youtube: YouTubeEmulator
    youtube_stats: YouTubeStatsEmulator
    facebook: FacebookEmulator

    def logs(self) -> str:
        return "\n".join(f"--- {s} ---\n{self.stack.log_tail(s, 30)}" for s in ("ingest", "publisher", "metrics"))

    def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen within {timeout_s} s\n{self.logs()}")
            time.sleep(0.3)

    def inbox(self) -> list[dict[str, object]]:
        headers = {"Authorization": f"Bearer {self.stack.token}"}
        answer = httpx.get(f"{self.stack.url('metrics')}/inbox", headers=headers, timeout=10)
        return list(answer.json()["items"]) if answer.status_code == 200 else []


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, kafka_broker: KafkaBroker) -> Iterator[World]:
    root = tmp_path_factory.mktemp("inbox-page")
    with (
        YouTubeEmulator(root / "yt") as youtube,
        YouTubeStatsEmulator(root / "yt-stats") as youtube_stats,
        FacebookEmulator(root / "fb") as facebook,
    ):
        assert isinstance(youtube, YouTubeEmulator) and isinstance(facebook, FacebookEmulator)
        assert isinstance(youtube_stats, YouTubeStatsEmulator)
        youtube_stats.comments = youtube.comments  # one platform: the poller lists what the publisher replies to
        channels = [
            Channel(
                name="p1-youtube",
                platform="youtube",
                profiles=("youtube",),
                options={"base_url": youtube.base_url, "token_url": f"{youtube.base_url}/token"},
            ),
            Channel(
                name="p1-facebook",
                platform="facebook",
                profiles=("youtube",),
                options={
                    "base_url": facebook.base_url,
                    "app_id": facebook.app_id,
                    "page_id": facebook.page_id,
                    "feedback_webhook": True,
                },
            ),
            Channel(name="p1-tiktok", platform="tiktok", profiles=("tiktok",)),
        ]
        channels_file = root / "channels.json"
        channels_file.write_text(dump_channels(channels), "utf-8")
        credentials = root / "stats-credentials.json"
        credentials.write_text(json.dumps({"p1-youtube": {"access_token": next(iter(youtube_stats.valid_tokens))}}))
        credentials.chmod(0o600)
        stack = InboxStack(
            root=root / "stack",
            token=f"inbox-{uuid.uuid4().hex}",
            kafka_bootstrap=kafka_broker.bootstrap,
            topic_prefix=f"inbox{uuid.uuid4().hex[:8]}.",
            services=("ingest", "publisher", "metrics"),
            extra_env={
                "LOA_CHANNELS_FILE": str(channels_file),
                "LOA_SECRET_P1_YOUTUBE_CLIENT_ID": youtube.client_id,
                "LOA_SECRET_P1_YOUTUBE_CLIENT_SECRET": youtube.client_secret,
                "LOA_SECRET_P1_YOUTUBE_REFRESH_TOKEN": youtube.refresh_token,
                "LOA_SECRET_P1_FACEBOOK_PAGE_TOKEN": facebook.page_token,
                "LOA_SECRET_P1_FACEBOOK_USER_TOKEN": facebook.user_token,
            },
            metrics_env={
                "LOA_STATS_CREDENTIALS_FILE": str(credentials),
                "LOA_YOUTUBE_API_BASE": youtube_stats.base_url,
                "LOA_STATS_ROUND_S": "1",
                "LOA_FACEBOOK_APP_SECRET": APP_SECRET,
            },
        )
        stack.start()
        try:
            headers = {"Authorization": f"Bearer {stack.token}"}
            account = {"username": "bien.tap", "display_name": "Chị Lan biên tập", "role": "editor"}
            made = httpx.post(
                f"{stack.url('ingest')}/accounts",
                headers=headers,
                json=account | {"ward": DEFAULT_WARD, "password": PASSWORD},
            )
            assert made.status_code == 201, made.text
            yield World(stack, youtube, youtube_stats, facebook)
        finally:
            stack.stop()


def _comment_on_youtube(world: World, text: str) -> str:
    """A citizen's comment under the ward's video: in the commentThreads listing metrics polls, and on the platform
    the publisher replies to (both emulators of the platform serve one comment store)."""
    written = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return world.youtube.comments.comment("vid-ward-1", text, written, author="Nguyễn Văn An")


def _comment_on_facebook(world: World, text: str) -> str:
    """A citizen's comment under the Page's video, announced by the Page's webhook, signed with the app's secret."""
    fb = world.facebook
    comment_id = fb.add_comment(text, on="20000001", author="citizen-7")
    change = {
        "field": "feed",
        "value": {
            "item": "comment",
            "verb": "add",
            "comment_id": comment_id,
            "post_id": f"{fb.page_id}_20000001",
            "message": text,
            "from": {"id": "citizen-7", "name": "Lê Thị Cúc"},
            "created_time": int(time.time()),
        },
    }
    body = json.dumps({"object": "page", "entry": [{"id": fb.page_id, "changes": [change]}]}).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = httpx.post(
        f"{world.stack.url('metrics')}/webhooks/facebook",
        content=body,
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return comment_id


def _sign_in(page: Page, url: str) -> None:
    page.goto(url)
    page.fill("[name=username]", "bien.tap")
    page.fill("[name=password]", PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#secret, #inbox")
    if page.locator("#secret").count():
        page.fill("[name=code]", pyotp.TOTP(page.locator("#secret").inner_text()).now())
        page.click("#totp-form button[type=submit]")
    expect(page.locator("#inbox")).to_be_visible()


def test_comments_from_two_platforms_are_triaged_and_one_is_answered_once_from_the_page(world: World) -> None:
    youtube_comment = _comment_on_youtube(world, FLOOD)
    facebook_comment = _comment_on_facebook(world, POWER)
    youtube_item = feedback_item_id("p1-youtube", youtube_comment)
    facebook_item = feedback_item_id("p1-facebook", facebook_comment)
    world.wait_for(
        "both comments in metrics' inbox",
        lambda: {i["item_id"] for i in world.inbox()} == {youtube_item, facebook_item},
    )
    topics = {i["item_id"]: i["topic"] for i in world.inbox()}
    assert topics == {youtube_item: "ha-tang", facebook_item: "dien"}

    FOLDER.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport=PHONE)
            _sign_in(page, f"{world.stack.url('ingest')}/ui/inbox")
            flood = page.locator(f"#item-{youtube_item}")
            power = page.locator(f"#item-{facebook_item}")
            expect(flood.locator(".text")).to_have_text(FLOOD)
            expect(power.locator(".text")).to_have_text(POWER)
            expect(flood.locator(".badge.topic")).to_contain_text("Hạ tầng, thoát nước")
            expect(power.locator(".badge.topic")).to_contain_text("Điện lực")
            expect(page.locator(".silent[data-channel=p1-tiktok]")).to_contain_text("không thu thập bình luận")
            # Nothing is wider than the phone's screen.
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            screenshots(page, FOLDER, "inbox-before")

            # The editor answers the YouTube comment from the page.
            flood.locator("form.reply-form textarea[name=text]").fill(REPLY)
            flood.locator("form.reply-form button[type=submit]").click()
            expect(page.locator(f"#item-{youtube_item}")).to_be_visible()

            def posted() -> bool:
                page.reload()
                reply = page.locator(f"#item-{youtube_item} .thread li.reply[data-state=posted]")
                return reply.count() == 1 and REPLY in reply.inner_text()

            world.wait_for("the page showing the reply posted", posted)
            page.set_viewport_size(DESKTOP)
            screenshots(page, FOLDER, "inbox-answered")
        finally:
            browser.close()

    replies = world.youtube.comments.replies_to(youtube_comment)
    assert [(r["snippet"]["textOriginal"], r["snippet"]["authorChannelId"]["value"]) for r in replies] == [
        (REPLY, world.youtube.channel_id)
    ], "exactly one reply, as the ward's channel"
    # The item is answered, so not overdue, and the Facebook comment still waits, unanswered on the platform.
    items = {i["item_id"]: i for i in world.inbox()}
    assert items[youtube_item]["first_reply_at"] is not None
    assert [r["state"] for r in items[youtube_item]["replies"]] == ["posted"]  # type: ignore[union-attr]
    assert world.facebook.replies_to(facebook_comment) == []
