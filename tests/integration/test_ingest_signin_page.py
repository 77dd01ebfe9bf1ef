"""Signing in on the page in headless Chromium (Debian's package, driven by Playwright) against a real ingest over
http://127.0.0.1: Chromium keeps the Secure session cookie on loopback, the upload page works with the session
(its requests carry the CSRF token), an admin enrols TOTP on first sign-in, and signing out ends the session.
Screenshots of the sign-in pages go to test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from loa_core.contracts import FIRST_ADMIN, FIRST_ADMIN_PASSWORD_FILE
from loa_dev.kafka import KafkaBroker
from tests.support.ingest import IngestProcess, run_ingest
from tests.support.media import make_clip
from tests.support.polling import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "mật-khẩu-của-tổ-truyền-thông"


@pytest.fixture(scope="module")
def ingest(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    with run_ingest(tmp_path_factory.mktemp("ingest-signin"), kafka_broker.bootstrap) as process:
        yield process


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        finally:
            browser.close()


def sign_in(page: Page, ingest: IngestProcess, username: str, password: str) -> None:
    page.goto(f"{ingest.url}/")
    page.click("#account-signin")
    expect(page.locator("h1")).to_have_text("Đăng nhập")
    page.fill("[name=username]", username)
    page.fill("[name=password]", password)
    page.click("#signin-form button[type=submit]")


def test_an_editor_signs_in_uploads_with_the_session_and_signs_out(
    ingest: IngestProcess, page: Page, tmp_path: Path
) -> None:
    made = httpx.post(
        f"{ingest.url}/accounts",
        json={
            "username": "to.truyen.thong",
            "display_name": "Tổ truyền thông",
            "role": "editor",
            "ward": "default",
            "password": PASSWORD,
        },
        headers=ingest.headers(),
    )
    assert made.status_code == 201, made.text
    clip = make_clip(tmp_path / "hop-dan.mp4", width=320, height=180, duration_s=1.0)

    sign_in(page, ingest, "to.truyen.thong", "sai mật khẩu")
    expect(page.locator("#error")).to_contain_text("Sai tên đăng nhập hoặc mật khẩu")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ingest-signin-refused.png"), full_page=True)
    page.click("a.lang")  # English one tap away
    expect(page.locator("h1")).to_have_text("Sign in")
    page.click("a.lang")

    page.fill("[name=username]", "to.truyen.thong")
    page.fill("[name=password]", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#who")).to_contain_text("Tổ truyền thông (editor, default)")
    cookie = next(c for c in page.context.cookies() if c["name"] == "loa_session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # An upload through the session: tus POST and PATCH carry the CSRF token, the cookie does the rest.
    page.fill("#meta-form [name=title]", "Họp dân khu phố 3")
    page.locator("input.uppy-Dashboard-input").first.set_input_files([str(clip)])
    page.click("#start")
    expect(page.locator("#progress li[data-footage-id]")).to_have_count(1, timeout=60_000)
    footage_id = page.locator("#progress li[data-footage-id]").get_attribute("data-footage-id")
    assert footage_id
    with ThreadPoolExecutor(1) as thread:  # read off Playwright's event loop (read_topic runs one of its own)

        def announced() -> bool:
            return [e.footage_id for e in thread.submit(ingest.uploaded_events).result()] == [footage_id]

        wait_until(announced, 30, "the footage to be announced")

    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    assert httpx.get(f"{ingest.url}/whoami", cookies={"loa_session": cookie["value"]}).status_code == 401


def test_the_first_admin_signs_in_with_the_password_file_and_enrols_totp(ingest: IngestProcess, page: Page) -> None:
    password = (ingest.root / "data" / FIRST_ADMIN_PASSWORD_FILE).read_text().strip()
    sign_in(page, ingest, FIRST_ADMIN, password)
    expect(page.locator("#enrol")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "ingest-totp-enrolment.png"), full_page=True)
    secret = page.locator("#secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert page.locator("#otpauth").get_attribute("href", timeout=1000).startswith("otpauth://totp/Loa:admin?")
    page.fill("[name=code]", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.click("#totp-form button[type=submit]")
    expect(page.locator("#error")).to_contain_text("Mã không đúng")
    page.fill("[name=code]", pyotp.TOTP(secret).now())
    page.click("#totp-form button[type=submit]")
    expect(page.locator("#who")).to_contain_text("district_admin")
