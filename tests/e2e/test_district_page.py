"""The district's page in headless Chromium at phone and desktop sizes: a district admin (the operator's token, sent
by the browser) sees each ward's totals of the month from metrics and each ward's channels from ingest, connected or
not; the page fits a phone's width with every figure labelled; a ward's link opens that ward's footage list only.
Screenshots under test-artifacts/district-page/. Ingest is a process on a real broker, metrics' API in this process
(tests/support/footage_stack.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from loa_core.channels import Channel
from loa_core.contracts import ChannelState, PostFailed, PostPublished
from loa_dev.kafka import KafkaBroker
from tests.support.browser import ARTIFACTS, PHONE, launch, screenshots
from tests.support.footage_stack import STATIC, WARD_A, WARD_B, FootageStack, auth, footage_stack
from tests.support.metrics_events import new_id, uploaded

pytestmark = pytest.mark.e2e
CHANNELS = [
    Channel(name="a-tiktok", platform="tiktok", profiles=("tiktok",), ward=WARD_A),
    Channel(name="b-local", platform="local", profiles=("tiktok",), ward=WARD_B),
    Channel(name="b-youtube", platform="youtube", profiles=("youtube",), ward=WARD_B, state=ChannelState.DISCONNECTED),
]


@pytest.fixture
def stack(kafka_broker: KafkaBroker, tmp_path: Path) -> Iterator[FootageStack]:
    with footage_stack(kafka_broker, tmp_path, CHANNELS, "Lễ chào cờ phường A", "Sự kiện") as made:
        now = datetime.now(UTC)
        events = made.projection.events
        events.post_published(
            PostPublished(
                footage_id=made.footage_id,
                ward=WARD_A,
                channel="a-tiktok",
                platform="tiktok",
                profile="tiktok",
                post_id="tt-1",
                url="https://www.tiktok.com/@phuong-a/video/1",
                published_at=now,
            )
        )
        for title in ("Họp dân phường B", "Văn nghệ phường B"):  # two footage of ward B, one post failed
            b_footage = new_id()
            events.footage_uploaded(
                uploaded(b_footage, now, title=title, channels=("b-local",)).model_copy(update={"ward": WARD_B})
            )
        events.failure(
            PostFailed(footage_id=b_footage, ward=WARD_B, channel="b-local", platform="local", reason="disk full")
        )
        yield made


def test_a_district_admin_reads_every_wards_totals_and_channels_on_a_phone(stack: FootageStack) -> None:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport=PHONE, extra_http_headers=auth(STATIC))
            page.goto(f"{stack.ingest.url}/ui/district")
            expect(page.locator("h1")).to_contain_text("Tổng hợp các phường")
            expect(page.locator("#period")).to_have_text(datetime.now(UTC).strftime("%Y-%m"))
            a_total, b_total = (page.locator(f"#ward-{w} tr.ward-total td") for w in (WARD_A, WARD_B))
            assert a_total.all_inner_texts()[:3] == ["1", "1", "0"]  # footage, posts published, posts failed
            assert b_total.all_inner_texts()[:3] == ["2", "0", "1"]
            # On a phone the table's head is hidden: each figure shows its own label before it.
            expect(page.locator(f"#ward-{WARD_A} table.totals thead")).to_be_hidden()
            label = a_total.first.evaluate("td => getComputedStyle(td, '::before').content")
            assert "data-label" in label or "Video tải lên" in label, label
            assert a_total.first.get_attribute("data-label") == "Video tải lên"
            expect(page.locator("#ward-ward-a #channel-a-tiktok .badge")).to_have_text("Đã kết nối")
            expect(page.locator("#ward-ward-b #channel-b-youtube .badge")).to_have_text("Chưa kết nối")
            expect(page.locator("#ward-ward-a #channel-b-youtube")).to_have_count(0)
            fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert fits, "the page is wider than the phone"
            screenshots(page, ARTIFACTS / "district-page", "district")

            page.locator("#ward-ward-b a.ward-footage").click()
            expect(page.locator("#list-ward")).to_have_text(WARD_B)
            expect(page.locator("#footage-list tbody tr")).to_have_count(2)
            expect(page.locator("#footage-list")).to_contain_text("Họp dân phường B")
            expect(page.locator("#footage-list")).not_to_contain_text("Lễ chào cờ phường A")

            page.goto(f"{stack.ingest.url}/ui/district?lang=en")
            expect(page.locator("h1")).to_contain_text("The wards at a glance")
            expect(page.locator("#ward-ward-b #channel-b-youtube .badge")).to_have_text("Disconnected")
        finally:
            browser.close()
