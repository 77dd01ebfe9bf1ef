"""The media team's page in headless Chromium (Debian's package, driven by Playwright) against the whole pipeline:
sign in with an uploader token, fill the metadata in Vietnamese, drop a good and a bad file, and watch them to
'published' (with the post links) and 'refused' (with the reason). A screenshot is kept under test-artifacts/."""

from __future__ import annotations

import json
import random
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from typer.testing import CliRunner

from loa_cli.main import app as cli
from loa_dev.kafka import KafkaBroker
from loa_dev.stack import Stack
from tests.support.browser import ARTIFACTS, launch
from tests.support.media import make_clip

pytestmark = pytest.mark.e2e
TITLE = "Lễ khánh thành nhà văn hóa khu phố 5"


@pytest.fixture(scope="module")
def stack(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        root=tmp_path_factory.mktemp("page-stack"),
        token=f"page-{uuid.uuid4().hex}",
        kafka_bootstrap=kafka_broker.bootstrap,
        topic_prefix=f"page{uuid.uuid4().hex[:8]}.",
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser.new_page(viewport={"width": 1100, "height": 1600})
        finally:
            browser.close()


def test_page_uploads_and_follows_footage_to_its_posts(stack: Stack, page: Page, tmp_path: Path) -> None:
    ingest = stack.url("ingest")
    # Started with no account, ingest made the district admin `make run` names, its password in a file of mode 0600.
    assert stack.admin_password_file.stat().st_mode & 0o777 == 0o600
    created = httpx.post(
        f"{ingest}/tokens",
        json={"role": "editor", "label": "tổ truyền thông"},
        headers={"Authorization": f"Bearer {stack.token}"},
    )
    assert created.status_code == 201, created.text
    uploader_token = created.json()["token"]
    good = make_clip(tmp_path / "khanh-thanh.mp4", width=640, height=360, duration_s=2.0)
    bad = tmp_path / "hong.mp4"
    bad.write_bytes(random.Random(5).randbytes(100_000))

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{ingest}/")

    # Both languages.
    page.click("button[data-lang=en]")
    expect(page.locator("header p")).to_have_text("Upload event footage once, publish it to every ward channel.")
    page.click("button[data-lang=vi]")
    expect(page.locator("header p")).to_contain_text("Tải video sự kiện")

    # A wrong token is refused, the uploader's token signs in.
    page.fill("#token", "not-a-token")
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#signin-error")).to_contain_text("không hợp lệ")
    page.fill("#token", uploader_token)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#who")).to_contain_text("editor")

    page.fill("#meta-form [name=title]", TITLE)
    page.fill("#meta-form [name=tags]", "văn hóa, khu phố 5")
    page.fill("#meta-form [name=event_date]", "2026-11-20")
    expect(page.locator("#channels input[value=local]")).to_be_checked()
    page.locator("input.uppy-Dashboard-input").first.set_input_files([str(good), str(bad)])
    expect(page.locator(".uppy-Dashboard-Item")).to_have_count(2)
    page.click("#start")

    published = page.locator("#progress li[data-state=published]")
    expect(published).to_have_count(1, timeout=240_000)
    expect(published.locator(".name")).to_have_text(TITLE)
    expect(published.locator(".links a")).to_have_count(2)  # the local channel receives both cuts
    refused = page.locator("#progress li[data-state=refused]")
    expect(refused).to_have_count(1)
    expect(refused.locator(".stage")).to_contain_text("not a video")

    footage_id = published.get_attribute("data-footage-id")
    assert footage_id
    view = httpx.get(f"{ingest}/footage/{footage_id}", headers={"Authorization": f"Bearer {uploader_token}"}).json()
    assert view["title"] == TITLE and view["status"] == "published"
    # `loa status` works with the uploader's token too (metrics refuses it; ingest relays the same view).
    env = {"LOA_INGEST_URL": ingest, "LOA_METRICS_URL": stack.url("metrics"), "LOA_TOKEN": uploader_token}
    status = CliRunner().invoke(cli, ["status", footage_id, "--json"], env={**env, "LOA_CLI_CONFIG": "/nonexistent"})
    assert status.exit_code == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "published"

    # The list, filtered by status, shows it too.
    page.select_option("#filters [name=status]", "published")
    page.click("#filters button[type=submit]")
    expect(page.locator("#footage-table tbody tr")).to_have_count(1)
    expect(page.locator("#footage-table tbody")).to_contain_text(TITLE)
    expect(page.locator("#footage-table tbody a", has_text=TITLE)).to_have_attribute(
        "href", f"/ui/footage/{footage_id}"
    )

    # The same file again (under another name) with another title: refused, naming the footage it already is.
    again = tmp_path / "khanh-thanh-ban-2.mp4"
    shutil.copyfile(good, again)
    page.fill("#meta-form [name=title]", "Khánh thành nhà văn hóa (tiêu đề mới)")
    page.click(".uppy-DashboardContent-addMore")
    page.locator("input.uppy-Dashboard-input").first.set_input_files([str(again)])
    page.click("#start")
    refused_again = page.locator("#progress li[data-state=refused]", has_text="khanh-thanh-ban-2.mp4")
    expect(refused_again.locator(".stage")).to_contain_text(f"Tệp này đã được tải lên: video {footage_id}")
    expect(refused_again.locator(".stage")).to_contain_text("tiêu đề")
    expect(published).to_have_count(1)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ingest-page.png"), full_page=True)
    # Everything came from ingest itself: no CDN, no outside request (blob: is the chosen file, previewed locally).
    outside = [u for u in requests if not u.startswith((ingest, f"blob:{ingest}"))]
    assert requests and outside == []
