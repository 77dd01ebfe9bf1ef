"""The channels page in headless Chromium on a phone-sized screen: a ward admin is sent to sign in (password and
TOTP) and back, adds a YouTube channel (shown disconnected, with its connect button), sets its privacy and title
template, uploads its logo, reads the page in English, is refused a form with a forged CSRF token, and removes the
channel; each step is checked on the registry topic. Screenshots (phone and desktop) are kept under test-artifacts/."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from loa_core.contracts import CHANNEL_REGISTRY, ChannelUpdated
from loa_dev.kafka import KafkaBroker
from tests.support.browser import ARTIFACTS, PHONE, launch, screenshots
from tests.support.ingest import IngestProcess, read_topic, run_ingest

pytestmark = pytest.mark.e2e
PASSWORD = "mật-khẩu-quản-trị-phường-1"


@pytest.fixture
def ingest(kafka_broker: KafkaBroker, tmp_path: Path) -> Iterator[IngestProcess]:
    with run_ingest(tmp_path / "ingest", kafka_broker.bootstrap) as process:
        yield process


def _ward_admin(ingest: IngestProcess) -> None:
    ward = httpx.post(
        f"{ingest.url}/wards", headers=ingest.headers(), json={"id": "phuong-1", "display_name": "Phường 1"}
    )
    assert ward.status_code == 201, ward.text
    account = {"username": "qt.phuong1", "display_name": "Quản trị phường 1", "role": "ward_admin", "ward": "phuong-1"}
    made = httpx.post(f"{ingest.url}/accounts", headers=ingest.headers(), json=account | {"password": PASSWORD})
    assert made.status_code == 201, made.text


@pytest.fixture
def page(ingest: IngestProcess) -> Iterator[Page]:
    _ward_admin(ingest)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser.new_page(viewport=PHONE)
        finally:
            browser.close()


def _sign_in(page: Page, ingest: IngestProcess) -> None:
    """Sent to the sign-in page by the channels page, then back to it: password, then a TOTP enrolment (an admin)."""
    page.goto(f"{ingest.url}/ui/channels")
    expect(page.locator("h1")).to_have_text("Đăng nhập")
    page.fill("[name=username]", "qt.phuong1")
    page.fill("[name=password]", PASSWORD)
    page.click("#signin-form button[type=submit]")
    secret = page.locator("#secret").inner_text()
    page.fill("[name=code]", pyotp.TOTP(secret).now())
    page.click("#totp-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("Kênh của phường")
    expect(page.locator("#person")).to_have_text("Quản trị phường 1")


def _newest(ingest: IngestProcess, name: str) -> ChannelUpdated:
    # Read in a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        values = thread.submit(read_topic, ingest.bootstrap, CHANNEL_REGISTRY.full_name(ingest.prefix)).result()
    found = [ChannelUpdated.from_bytes(v) for v in values]
    return max((r for r in found if r.name == name), key=lambda r: r.revision)


def test_a_ward_admin_manages_a_channel_on_a_phone(ingest: IngestProcess, page: Page, tmp_path: Path) -> None:
    logo = tmp_path / "con-dau.png"
    color = "color=c=red@0.6:s=96x96"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", color, "-frames:v", "1", str(logo)], check=True)

    _sign_in(page, ingest)
    expect(page.locator("#channels")).to_contain_text("Phường chưa có kênh nào.")

    page.fill("#add [name=name]", "p1-youtube")
    page.select_option("#add [name=platform]", "youtube")
    page.click("#add button[type=submit]")
    expect(page.locator("#done")).to_contain_text("Đã lưu kênh p1-youtube")
    card = page.locator("#channel-p1-youtube")
    expect(card.locator(".badge")).to_have_text("Chưa kết nối")
    expect(card.locator("a.reconnect")).to_have_attribute("href", "/channels/p1-youtube/connect")
    assert _newest(ingest, "p1-youtube").channel.state == "disconnected"

    card.locator("summary", has_text="Sửa").click()
    card.locator("select[name=privacy]").select_option("public")
    card.locator("input[name=title_template]").fill("{{ title }} | Phường 1")
    card.locator("form[action='/ui/channels/p1-youtube'] button[type=submit]").click()
    expect(page.locator("#done")).to_contain_text("p1-youtube")
    assert _newest(ingest, "p1-youtube").channel.options == {
        "privacy": "public",
        "title_template": "{{ title }} | Phường 1",
    }

    card.locator("summary", has_text="Nhận diện").click()
    logo_form = card.locator("form[action='/ui/channels/p1-youtube/branding/logo']")
    logo_form.locator("input[type=file]").set_input_files(str(logo))
    logo_form.locator("button[type=submit]").click()
    card.locator("summary", has_text="Nhận diện").click()
    expect(logo_form).to_contain_text("Đang dùng")
    assert (_newest(ingest, "p1-youtube").channel.logo_key or "").startswith("branding/phuong-1/p1-youtube/logo-")

    page.click("a.lang")
    expect(page.locator("h1")).to_have_text("Ward channels")
    expect(card.locator(".badge")).to_have_text("Disconnected")
    expect(card.locator("a.reconnect")).to_have_text("Connect")
    screenshots(page, ARTIFACTS, "channels-page")

    # A form whose CSRF token is not the session's changes nothing.
    before = _newest(ingest, "p1-youtube")
    card.locator("form[action$='/remove'] input[name=csrf_token]").evaluate("input => input.value = 'forged'")
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("form[action$='/remove'] button").click()
    expect(page.locator("body")).to_contain_text("CSRF")
    assert _newest(ingest, "p1-youtube") == before
    page.goto(f"{ingest.url}/ui/channels")

    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("form[action$='/remove'] button").click()
    expect(page.locator("#done")).to_contain_text("Removed channel p1-youtube")
    expect(page.locator("#channel-p1-youtube")).to_have_count(0)
    assert _newest(ingest, "p1-youtube").channel.state == "removed"
