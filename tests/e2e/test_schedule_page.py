"""The upload form's full options and the ward's schedule, in headless Chromium (Debian's package) against the whole
stack: an editor signs in with an account on a phone-sized screen, uploads a clip with a subtitle file, the
follow-the-speaker framing and a publish time for one of two channels (the other posts at once); the schedule's
calendar then shows the post published on one channel and the one scheduled on the other, at desktop and phone
width. Screenshots under test-artifacts/schedule/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from loa_dev.kafka import KafkaBroker
from loa_dev.stack import Stack
from tests.support.browser import ARTIFACTS, DESKTOP, PHONE, launch, screenshots
from tests.support.media import make_clip

pytestmark = pytest.mark.e2e
TITLE = "Hội nghị tiếp xúc cử tri phường"
PASSWORD = "mật-khẩu-biên-tập-" + uuid.uuid4().hex[:8]
SRT = "1\n00:00:00,200 --> 00:00:01,500\nKính thưa quý vị đại biểu\n"
FOLDER = ARTIFACTS / "schedule"


@pytest.fixture(scope="module")
def stack(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        root=tmp_path_factory.mktemp("schedule-stack"),
        token=f"schedule-{uuid.uuid4().hex}",
        kafka_bootstrap=kafka_broker.bootstrap,
        topic_prefix=f"sched{uuid.uuid4().hex[:8]}.",
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
            yield browser.new_page(viewport=PHONE)
        finally:
            browser.close()


def test_an_editor_schedules_one_channel_and_the_calendar_shows_both_posts(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    ingest = stack.url("ingest")
    admin = {"Authorization": f"Bearer {stack.token}"}
    second = httpx.post(f"{ingest}/channels", headers=admin, json={"name": "loa-to-2", "platform": "local"})
    assert second.status_code == 201, second.text
    made = httpx.post(
        f"{ingest}/accounts",
        headers=admin,
        json={"username": "bien.tap", "display_name": "Biên tập viên", "role": "editor", "password": PASSWORD},
    )
    assert made.status_code == 201, made.text
    clip = make_clip(tmp_path / "tiep-xuc.mp4", width=640, height=360, duration_s=2.0)
    subtitles = tmp_path / "phu-de.srt"
    subtitles.write_text(SRT, "utf-8")
    # Two hours from now on the ward's clock, as the phone's datetime-local takes it.
    due = (datetime.now(UTC) + timedelta(hours=2)).astimezone(UTC) + timedelta(hours=7)
    due_text = due.strftime("%Y-%m-%dT%H:%M")

    # On a phone: signed in with the account (an editor needs no TOTP), the upload page, every option.
    page.goto(f"{ingest}/signin?next=/ui/")
    page.fill("[name=username]", "bien.tap")
    page.fill("[name=password]", PASSWORD)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#app")).to_be_visible()
    page.fill("#meta-form [name=title]", TITLE)
    page.fill("#meta-form [name=series]", "Tiếp xúc cử tri")
    page.fill("#meta-form [name=tags]", "cử tri, phường")
    page.check("#channels input[value=loa-to-2]")
    page.fill('#channels input[name="publish_at.loa-to-2"]', due_text)
    page.check("#meta-form input[name=vertical_framing][value=subject]")
    page.set_input_files("#subtitles", str(subtitles))
    page.locator("input.uppy-Dashboard-input").first.set_input_files([str(clip)])
    expect(page.locator("#preview video")).to_be_visible()  # the trim preview of the chosen file
    page.fill("#meta-form [name=trim_end_s]", "9")
    expect(page.locator("#trim-error")).to_contain_text("vượt quá thời lượng")  # the clip lasts 2 s
    page.fill("#meta-form [name=trim_end_s]", "1.8")
    expect(page.locator("#trim-error")).to_have_text("")
    page.click("#start")
    expect(page.locator("#subtitles-status")).to_contain_text("Phụ đề hợp lệ: 1 đoạn")
    item = page.locator("#progress li[data-footage-id]")
    expect(item).to_have_count(1, timeout=60_000)
    screenshots(page, FOLDER, "upload")

    # What ingest announced: the subtitles, the framing, the trim and only the second channel's time.
    footage_id = item.get_attribute("data-footage-id")
    view_headers = admin
    for _ in range(600):
        view = httpx.get(f"{ingest}/footage/{footage_id}", headers=view_headers)
        posts = view.json()["stages"]["published"]["posts"] if view.status_code == 200 else []
        if any(post["channel"] == "local" and post["url"] for post in posts):
            break
        page.wait_for_timeout(500)
    else:
        raise AssertionError(f"the local channel's post never went out: {view.text}")
    assert all(post["channel"] == "local" for post in posts), "the scheduled channel waits for its time"

    # The schedule: published on `local` (now), scheduled on `loa-to-2` (in two hours), at both widths.
    page.goto(f"{ingest}/ui/schedule")
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        page.reload()
        if viewport == PHONE:
            page.click(".fc-dayGridMonth-button")
        published = page.locator(".fc-event[data-state=published][data-channel=local]")
        scheduled = page.locator(".fc-event[data-state=scheduled][data-channel=loa-to-2]")
        expect(published).to_have_count(1)
        expect(scheduled).to_have_count(1)
        expect(scheduled).to_contain_text(TITLE)
        expect(scheduled).to_contain_text(due.strftime("%H:%M"))
        expect(page.locator(".fc-daygrid-day.fc-day-today")).to_be_visible()  # the grid laid out, not collapsed
        FOLDER.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(FOLDER / f"calendar-{'phone' if viewport == PHONE else 'desktop'}.png"), full_page=True
        )
    page.select_option("#channel-filter", "loa-to-2")
    expect(page.locator(".fc-event[data-state=published]")).to_have_count(0)
    expect(page.locator(".fc-event[data-state=scheduled]")).to_have_count(1)
    page.select_option("#channel-filter", "")

    # Rescheduled a day later from the calendar (on the phone), then cancelled: audited, shown where it now is.
    later = due + timedelta(days=1)
    page.locator(".fc-event[data-state=scheduled]").click()
    expect(page.locator("#change-dialog")).to_be_visible()
    page.fill("#change-time", later.strftime("%Y-%m-%dT%H:%M"))
    page.click("#reschedule")
    expect(page.locator("#change-done")).to_have_text("Đã ghi nhận thay đổi.")
    moved = page.locator(f'td[data-date="{later:%Y-%m-%d}"] .fc-event[data-state=scheduled][data-channel=loa-to-2]')
    expect(moved).to_have_count(1)
    page.screenshot(path=str(FOLDER / "calendar-rescheduled-phone.png"), full_page=True)
    moved.click()
    page.click("#cancel-post")
    expect(page.locator(".fc-event[data-state=cancelled][data-channel=loa-to-2]")).to_have_count(1)
    expect(page.locator(".fc-event[data-state=scheduled]")).to_have_count(0)
    audit = httpx.get(f"{ingest}/audit", headers=admin, params={"footage_id": footage_id}).json()
    changes = [entry["schedule"] for entry in audit if entry.get("schedule")]
    assert [(c["channel"], c["cancelled"]) for c in changes] == [("loa-to-2", False), ("loa-to-2", True)]
    assert datetime.fromisoformat(changes[0]["publish_at"]) == later.replace(second=0, microsecond=0) - timedelta(
        hours=7
    )
    page.goto(f"{ingest}/ui/schedule?lang=en")
    expect(page.locator("h1")).to_have_text("Schedule")
