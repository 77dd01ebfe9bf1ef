"""The live page in headless Chromium (Debian's package, driven by Playwright): during a real RTMP live, the media
team enters the token, sees the live, names a highlight and taps "last 30 s"; the highlight is announced."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from loa_dev.kafka import KafkaBroker
from tests.support.archiver import TOKEN, Publisher, archiver_process, livestream_events
from tests.support.polling import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_marking_a_highlight_from_the_live_page(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str, page: Page
) -> None:
    with archiver_process(tmp_path, kafka_broker.bootstrap, topic_prefix) as archiver:
        key = archiver.new_stream_key(title="Đêm hội trăng rằm")
        publisher = Publisher(f"{archiver.rtmp_base}/{key['stream_key']}", 10)
        # A few seconds in, so "the last 30 s" is a real span: a mark in the first half second is too short to be a
        # highlight, and the archiver rightly skips it (that made this test fail when the page was quick).
        wait_until(lambda: archiver.archives() and publisher.sent_s >= 3, 30, "the live to be 3 s in")

        page.goto(f"http://127.0.0.1:{archiver.http_port}/live")
        page.fill("#token", TOKEN)
        page.click("#save")
        live = page.locator(".live").first
        expect(live).to_contain_text("Đêm hội trăng rằm", timeout=15_000)
        live.locator("input").fill("Múa lân")
        live.locator("button", has_text="last 30 s").click()
        expect(page.locator("#status")).to_contain_text("Marked", timeout=15_000)

        assert publisher.wait() == 0, publisher.stderr()
        # Playwright's sync API keeps an event loop on this thread; the Kafka reader runs its own in another.
        with ThreadPoolExecutor(1) as pool:
            events = pool.submit(livestream_events, kafka_broker.bootstrap, topic_prefix, 2).result()
        archive_event, highlight = events
        # The live was shorter than 30 s when the button was tapped: the highlight runs from the start to then.
        assert highlight.metadata.title == "Đêm hội trăng rằm — Múa lân"
        assert highlight.metadata.trim_start_s == 0.0
        assert highlight.metadata.trim_end_s is not None and 2 < highlight.metadata.trim_end_s <= 10.5
        assert highlight.media.key == archive_event.media.key
