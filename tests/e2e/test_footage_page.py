"""The footage page in headless Chromium at desktop and phone sizes: an approver opens the link approvers are sent
(/ui/footage/{id}?channel=…), is sent to sign in (password, TOTP enrolment) and back, plays the vertical cut (the
<video> loads its metadata through the authorized Range endpoint), changes the TikTok caption (counted against
TikTok's limit as typed) and approves; the audit log then holds exactly that caption and cut. Screenshots under
test-artifacts/footage-page/."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

from loa_core.channels import Channel
from loa_core.contracts import POSTS_DECISIONS, PostDecision
from loa_dev.kafka import KafkaBroker
from tests.support.browser import ARTIFACTS, DESKTOP, PHONE, launch
from tests.support.footage_stack import STATIC, WARD_A, WARD_B, FootageStack, auth, footage_stack, make_token
from tests.support.ingest import read_topic

pytestmark = pytest.mark.e2e
PASSWORD = "mật-khẩu-người-duyệt-phường-a"
CHANNELS = [
    Channel(name="a-tiktok", platform="tiktok", profiles=("tiktok",), ward=WARD_A, approval_required=True),
    Channel(name="b-local", platform="local", profiles=("tiktok",), ward=WARD_B),
]
TITLE = "Liên hoan văn nghệ chào mừng Quốc khánh"
CAPTION = "Liên hoan văn nghệ phường A — mời bà con cùng xem! #VănNghệ"
FOLDER = ARTIFACTS / "footage-page"
REASON = "Sai tên phường trong chú thích; ghi rõ Phường A"


@pytest.fixture(scope="module")
def stack(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FootageStack]:
    with footage_stack(kafka_broker, tmp_path_factory.mktemp("footage-e2e"), CHANNELS, TITLE, "Văn nghệ") as made:
        yield made


def _approver(stack: FootageStack, username: str) -> None:
    account = {"username": username, "display_name": "Người duyệt phường A", "role": "approver", "ward": WARD_A}
    made = httpx.post(f"{stack.ingest.url}/accounts", headers=auth(STATIC), json=account | {"password": PASSWORD})
    assert made.status_code == 201, made.text


def _open_the_link_and_sign_in(page: Page, stack: FootageStack, username: str) -> None:
    page.goto(f"{stack.ingest.url}/ui/footage/{stack.footage_id}?channel=a-tiktok")
    expect(page.locator("h1")).to_have_text("Đăng nhập")
    page.fill("[name=username]", username)
    page.fill("[name=password]", PASSWORD)
    page.click("#signin-form button[type=submit]")
    secret = page.locator("#secret").inner_text()
    page.fill("[name=code]", pyotp.TOTP(secret).now())
    page.click("#totp-form button[type=submit]")
    expect(page.locator("#footage-title")).to_have_text(TITLE)
    assert page.url.endswith(f"/ui/footage/{stack.footage_id}?channel=a-tiktok"), "back at the link after signing in"


@pytest.mark.parametrize(("size", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_an_approver_watches_the_vertical_cut_changes_the_caption_and_approves(
    stack: FootageStack, size: str, viewport: ViewportSize
) -> None:
    username = f"duyet.{size}"
    _approver(stack, username)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport=viewport)
            FOLDER.mkdir(parents=True, exist_ok=True)
            _open_the_link_and_sign_in(page, stack, username)
            post = page.locator("#post-a-tiktok")
            expect(post).to_have_attribute("data-state", "awaiting")
            expect(post).to_have_class("card post focus")

            # The vertical cut: its metadata comes through the Range endpoint (a <video> asks for bytes=0-).
            video = page.locator("video#cut-tiktok")
            page.wait_for_function("document.querySelector('video#cut-tiktok').readyState >= 1", timeout=15_000)
            width, height = video.evaluate("v => [v.videoWidth, v.videoHeight]")
            assert (width, height) == (90, 160), "the vertical cut's own size, read from the streamed file"
            assert video.evaluate("v => v.duration") == pytest.approx(1.0, abs=0.1)

            # The caption as it will go out (the channel's template: title and hashtags; once an approver changed
            # it, as on the desktop before the phone, the approver's words), then changed.
            caption = post.locator("textarea[name=title]")
            expect(caption).to_have_value(f"{TITLE} #Vănnghệ" if size == "desktop" else CAPTION)
            typed = CAPTION if size == "desktop" else f"{CAPTION} (điện thoại)"
            caption.fill(typed)
            expect(post.locator("output[data-for=title]")).to_have_text(f"{len(typed)} / 200 ký tự")
            approve = post.locator("button.approve")
            expect(approve).to_have_text("Duyệt với nội dung đã sửa")
            page.screenshot(path=str(FOLDER / f"before-approval-{size}.png"), full_page=True)
            approve.click()
            expect(post.locator(".result")).to_have_text("Đã ghi quyết định.")
            expect(post).to_have_attribute("data-state", "approved")
            page.screenshot(path=str(FOLDER / f"approved-{size}.png"), full_page=True)
        finally:
            browser.close()

    audit = httpx.get(
        f"{stack.ingest.url}/audit", params={"footage_id": stack.footage_id}, headers=auth(stack.a_viewer)
    )
    assert audit.status_code == 200, audit.text
    decision = audit.json()[-1]["decision"]
    assert decision["decision"] == "approved" and decision["channel"] == "a-tiktok"
    assert decision["text"]["title"] == typed, "exactly the caption typed, Vietnamese intact"
    assert decision["cuts"] == {"tiktok": hashlib.sha256(stack.cut).hexdigest()}, "the cut that was watched"


def test_an_approver_rejects_with_a_reason_and_the_editor_reads_it_with_what_to_do(stack: FootageStack) -> None:
    _approver(stack, "duyet.tu.choi")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport=PHONE)
            _open_the_link_and_sign_in(page, stack, "duyet.tu.choi")
            post = page.locator("#post-a-tiktok")
            post.locator("[name=reason]").fill(REASON)
            post.locator("button.reject").click()
            expect(post.locator(".result")).to_have_text("Đã ghi quyết định.")
            expect(post).to_have_attribute("data-state", "rejected")
        finally:
            browser.close()
    # Metrics learns the decision from posts.decisions (what its agent does), then the editor opens the page.
    with ThreadPoolExecutor(1) as thread:
        topic = POSTS_DECISIONS.full_name(stack.ingest.prefix)
        values = thread.submit(read_topic, stack.ingest.bootstrap, topic).result()
    newest = max((PostDecision.from_bytes(v) for v in values), key=lambda d: d.occurred_at)
    assert newest.decision == "rejected" and newest.reason == REASON
    stack.projection.events.post_decision(newest)
    editor = make_token(stack.ingest, "editor", WARD_A)
    seen = httpx.get(f"{stack.ingest.url}/ui/footage/{stack.footage_id}", headers=auth(editor))
    assert seen.status_code == 200
    html = seen.text
    assert 'data-state="rejected"' in html and REASON in html
    assert 'data-action="edit_and_resubmit"' in html and "cần được duyệt lại" in html
    article = html.split('id="post-a-tiktok"')[1].split("</article>")[0]
    assert "cần được duyệt lại" in article and 'class="decide"' not in article, "an editor reads it, decides nothing"
    # ... and does what the advice says: edits the text and saves it, for an approver to decide again.
    assert "readonly" not in article and 'class="save-text' in article


def test_the_footage_page_without_a_session_sends_the_browser_to_sign_in(stack: FootageStack) -> None:
    answer = httpx.get(f"{stack.ingest.url}/ui/footage/{stack.footage_id}?channel=a-tiktok")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=/ui/footage/")
