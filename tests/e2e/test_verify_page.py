"""The public verification page in headless Chromium, signed out, on a phone: a citizen drops a re-encoded excerpt of
a ward's post and reads that it matches the post of its day at the span it covers, with the post's link; pastes a
link to a copy (fetched by ingest with netsafe) and gets the same; pastes the hash of an unrelated file and reads
"no match"; finds the post, sealed, on the public post list; reads the page in English; a file of no video is
refused in words. Uploads are discarded after each check. Ingest is a process on a real broker, metrics' API
(holding the cut's fingerprint) in this process (tests/support/footage_stack.py). Screenshots under
test-artifacts/verify-page/."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from loa_core.channels import Channel
from loa_core.contracts import PostPublished, Rendition, RenditionsReady, layout
from loa_core.fingerprint import fingerprint_file
from loa_dev.kafka import KafkaBroker
from tests.support.archiver import http_server
from tests.support.browser import ARTIFACTS, PHONE, launch, screenshots
from tests.support.footage_stack import WARD_A, FootageStack, footage_stack
from tests.support.scenes import derive, make_scene_clip

pytestmark = pytest.mark.e2e
CHANNELS = [Channel(name="a-tiktok", platform="tiktok", profiles=("tiktok",), ward=WARD_A)]
POST_URL = "https://www.tiktok.com/@phuong-a/video/7300000000000000001"
PUBLISHED_AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 20/11/2026 10:00 in Vietnam


@pytest.fixture
def stack(kafka_broker: KafkaBroker, tmp_path: Path) -> Iterator[tuple[FootageStack, Path]]:
    extra = {"LOA_VERIFY_ALLOWED_PRIVATE": "127.0.0.1", "LOA_VERIFY_MAX_BYTES": str(20 * 1024**2)}
    with footage_stack(kafka_broker, tmp_path, CHANNELS, "Lễ chào cờ phường A", "Sự kiện", extra) as made:
        cut = make_scene_clip(tmp_path / "cut.mp4", seed=31, duration_s=24, width=180, height=320, fps=12)
        rendition = Rendition(
            profile="tiktok",
            key=layout.rendition_key(made.footage_id, "tiktok"),
            width=180,
            height=320,
            duration_s=24.0,
            size_bytes=cut.stat().st_size,
            video_codec="h264",
            audio_codec=None,
            sha256=hashlib.sha256(cut.read_bytes()).hexdigest(),
            fingerprint=asyncio.run(fingerprint_file(cut)).to_text(),
        )
        view = made.projection.views.footage(made.footage_id)
        assert view is not None
        made.projection.events.renditions_ready(
            RenditionsReady(
                footage_id=made.footage_id,
                ward=WARD_A,
                metadata=made.ingest.uploaded_events()[0].metadata,
                renditions=(rendition,),
            )
        )
        made.projection.events.post_published(
            PostPublished(
                footage_id=made.footage_id,
                ward=WARD_A,
                channel="a-tiktok",
                platform="tiktok",
                profile="tiktok",
                post_id="7300000000000000001",
                url=POST_URL,
                published_at=PUBLISHED_AT,
            )
        )
        yield made, cut


def test_a_citizen_checks_a_copy_a_link_and_a_hash_without_signing_in(
    stack: tuple[FootageStack, Path], tmp_path: Path
) -> None:
    made, cut = stack
    excerpt = derive(cut, tmp_path / "excerpt.mp4", start_s=5.0, duration_s=12.0, video_kbps=60)
    shared = tmp_path / "shared"
    shared.mkdir()
    derive(cut, shared / "copy.mp4", vf="scale=360:640")
    not_video = tmp_path / "note.mp4"
    not_video.write_bytes(b"this is not a video at all" * 100)
    folder = ARTIFACTS / "verify-page"
    with sync_playwright() as playwright, http_server(shared) as port:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport=PHONE)  # no token, no session: a citizen
            page.goto(f"{made.ingest.url}/verify")
            expect(page.locator("h1")).to_have_text("Kiểm tra video")

            page.locator("#verify-file").set_input_files(str(excerpt))
            page.locator("#verify-submit").click()
            verdict = page.locator("#verdict")
            expect(verdict).to_have_attribute("data-answer", "matches")
            expect(page.locator("#headline")).to_have_text(
                "Khớp với bài đăng của phường ngày 20/11/2026, đoạn 00:05–00:17."
            )
            expect(page.locator("#post-links a")).to_have_attribute("href", POST_URL)
            fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert fits, "the page is wider than the phone"
            screenshots(page, folder, "verify-matches")

            page.locator("#verify-url").fill(f"http://127.0.0.1:{port}/copy.mp4")
            page.locator("#verify-submit").click()
            expect(verdict).to_have_attribute("data-answer", "matches")
            expect(page.locator("#headline")).to_contain_text("đoạn 00:00–00:24")

            page.locator("#verify-hash").fill(hashlib.sha256(b"something else").hexdigest())
            page.locator("#verify-submit").click()
            expect(verdict).to_have_attribute("data-answer", "no_match")
            expect(page.locator("#headline")).to_have_text("Không khớp: đây không phải video do phường đăng.")
            screenshots(page, folder, "verify-no-match")

            # The public post list: the ward's post, sealed, with its link.
            page.locator("a[href='/verify/posts']").click()
            sealed = page.locator("#public-posts li[data-sealed='yes']")
            expect(sealed).to_have_count(1)
            expect(sealed).to_contain_text("Lễ chào cờ phường A")
            expect(sealed).to_contain_text("Đã niêm phong")
            expect(sealed.locator("a")).to_have_attribute("href", POST_URL)
            screenshots(page, folder, "public-posts")

            page.goto(f"{made.ingest.url}/verify?lang=en")
            page.locator("#verify-file").set_input_files(str(excerpt))
            page.locator("#verify-submit").click()
            expect(page.locator("#headline")).to_have_text("Matches the ward's post of 2026-11-20 at 00:05–00:17.")

            page.locator("#verify-file").set_input_files(str(not_video))
            page.locator("#verify-submit").click()
            expect(page.locator("#verify-error")).to_have_text("This file is not a video that can be read.")
            screenshots(page, folder, "verify-refused")
        finally:
            browser.close()
    # Every upload and fetched copy was discarded after its check.
    scratch = made.ingest.root / "data" / "verify"
    assert scratch.is_dir() and list(scratch.iterdir()) == []
