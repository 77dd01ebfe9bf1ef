"""Wards, people and channels end to end (issue 14): the whole stack as processes (Kafka, ingest, transcode,
publisher, metrics) with the YouTube and TikTok emulators as HTTP servers that ingest's OAuth sign-in and the
publisher talk to; two wards and their admins made with the CLI (`loa ward create`, `loa account create`); the pages
in headless Chromium, where each admin signs in with a password and the TOTP enrolment an admin goes through.

- ward 1's admin adds a YouTube and a TikTok channel on the channels page (the first reaches the publisher within
  5 s of the click), connects each through the platform's consent page, uploads a clip for both, approves both posts
  on the footage page, and the posts land on those channels on the emulators;
- ward 2 adds a local channel whose posts wait for an approver, uploads for it and approves the post (ward 1's
  admin cannot), and sees none of ward 1's footage, channels or posts, on its pages
  and through ingest's and metrics' APIs;
- the district admin sees both wards' channels and footage, and the totals per ward (the district page and
  `loa report --district`);
- no secret the run configured or created appears in any log line of the run or in any record on any of its topics.

One stack for the module: the tests run in file order and share what the first ones made (the secrets check last).
Screenshots of every page, at desktop and phone width, go to test-artifacts/wards/.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pyotp
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from playwright.sync_api import Browser, Page, expect, sync_playwright
from typer.testing import CliRunner, Result

from loa_cli.main import app as cli
from loa_core.auth import new_token
from loa_core.contracts import FIRST_ADMIN
from loa_dev.kafka import KafkaBroker
from loa_dev.stack import Stack
from loa_ingest.signin import SESSION_COOKIE
from tests.support.browser import ARTIFACTS, DESKTOP, launch, screenshots
from tests.support.emulators.tiktok import TikTokEmulator
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.media import make_clip

pytestmark = pytest.mark.e2e
WARD_1, WARD_2 = "phuong-1", "phuong-2"
TITLE = "Lễ chào cờ đầu tháng phường 1"
TITLE_2 = "Họp dân khu phố 3, phường 2"
SHOTS = ARTIFACTS / "wards"


@dataclass
class Person:
    username: str
    password: str


@dataclass
class Run:
    """The module's stack, its emulators, and every secret the run configured or was given."""

    stack: Stack
    youtube: YouTubeEmulator
    tiktok: TikTokEmulator
    tokens: dict[str, str] = field(default_factory=dict)  # who -> API token
    people: dict[str, Person] = field(default_factory=dict)  # who -> account
    secrets: dict[str, str] = field(default_factory=dict)  # what -> value
    footage_id: str = ""  # ward 1's upload, once the first test made it
    footage_id_2: str = ""  # ward 2's

    @property
    def ingest(self) -> str:
        return self.stack.url("ingest")

    def api(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.ingest, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30)

    def keep(self, what: str, value: str) -> str:
        self.secrets[what] = value
        return value

    def emulator_secrets(self) -> dict[str, str]:
        """The tokens the emulators issued (access tokens, the refresh tokens they accept now)."""
        emulators = {"YouTube": self.youtube, "TikTok": self.tiktok}
        issued = {f"{name} access token {t}": t for name, e in emulators.items() for t in e.valid_tokens}
        issued["YouTube refresh token"] = self.youtube.refresh_token
        issued["TikTok refresh token"] = self.tiktok.refresh_token
        return issued


@pytest.fixture(scope="module")
def run(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("wards")
    # Loa's apps on the platforms: ids and secrets of this run only, so a leak is found by grepping for them.
    youtube = YouTubeEmulator(
        root / "youtube",
        client_id=f"loa-{uuid.uuid4().hex[:8]}.apps.googleusercontent.com",
        client_secret=f"GOCSPX-{new_token()}",
        refresh_token=f"1//unused-{new_token()}",
    )
    tiktok = TikTokEmulator(root / "tiktok", refresh_token=f"rft-unused-{new_token()}", rotate=False)
    tiktok.client_key, tiktok.client_secret = f"aw{uuid.uuid4().hex[:14]}", f"tts-{new_token()}"
    stack = Stack(
        root=root / "stack",
        token=new_token(),
        kafka_bootstrap=kafka_broker.bootstrap,
        topic_prefix=f"wards{uuid.uuid4().hex[:8]}.",
    )
    youtube.start()
    tiktok.start()
    callback = f"{stack.url('ingest')}/oauth/callback"
    for emulator in (youtube, tiktok):
        emulator.consent.register_redirect(callback)
    stack.extra_env = {
        "LOA_YOUTUBE_CLIENT_ID": youtube.client_id,
        "LOA_YOUTUBE_CLIENT_SECRET": youtube.client_secret,
        "LOA_YOUTUBE_AUTHORIZE_URL": f"{youtube.base_url}/o/oauth2/v2/auth",
        "LOA_YOUTUBE_TOKEN_URL": f"{youtube.base_url}/token",
        "LOA_TIKTOK_CLIENT_KEY": tiktok.client_key,
        "LOA_TIKTOK_CLIENT_SECRET": tiktok.client_secret,
        "LOA_TIKTOK_AUTHORIZE_URL": f"{tiktok.base_url}/v2/auth/authorize/",
        "LOA_TIKTOK_TOKEN_URL": f"{tiktok.base_url}/v2/oauth/token/",
    }
    result = Run(stack, youtube, tiktok)
    result.keep("the stack's district admin token", stack.token)
    result.keep("the publisher's service token", stack.service_token)
    result.keep("YouTube client secret", youtube.client_secret)
    result.keep("TikTok client secret", tiktok.client_secret)
    try:
        stack.start()
        key_file = stack.root / "secret-key"
        for number, key in enumerate(key_file.read_text().split()):
            result.keep(f"secret key {number}", key)
        result.tokens["district"] = stack.token
        _people(result)
        yield result
    finally:
        stack.stop()
        youtube.stop()
        tiktok.stop()


def _people(run: Run) -> None:
    """Two wards and a ward admin of each, made with the CLI by the district admin; each admin also gets an API token
    (for the CLI and the API checks). The district admin on the pages is the first admin ingest made at start."""
    for ward, name in ((WARD_1, "Phường 1"), (WARD_2, "Phường 2")):
        made = _loa(run, "district", "ward", "create", ward, "--name", name)
        assert made.exit_code == 0, made.stderr
    for who, ward in (("admin-1", WARD_1), ("admin-2", WARD_2)):
        username = f"quantri.{ward}"
        made = _loa(run, "district", "account", "create", username, "--role", "ward_admin", "--ward", ward,
                    "--name", f"Quản trị {ward}", "--generate-password")  # fmt: skip
        assert made.exit_code == 0, made.stderr
        run.people[who] = Person(username, run.keep(f"{who}'s password", made.stdout.strip()))
        with run.api("district") as district:
            token = district.post("/tokens", json={"role": "ward_admin", "label": who, "ward": ward})
        assert token.status_code == 201, token.text
        run.tokens[who] = run.keep(f"{who}'s API token", token.json()["token"])
    first_admin = run.stack.admin_password_file.read_text().strip()
    run.people["district"] = Person(FIRST_ADMIN, run.keep("the first admin's password", first_admin))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def signed_in(run: Run, browser: Browser, who: str, then: str = "/ui/channels") -> Iterator[Page]:
    """A browser of its own for `who`, signed in on the page: sent from `then` to the sign-in page, password, then the
    TOTP enrolment every admin goes through on a first sign-in (the code computed from the key the page shows)."""
    person = run.people[who]
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        page.goto(f"{run.ingest}{then}")
        expect(page.locator("#signin-form")).to_be_visible()
        if who == "admin-1":  # the same pages for everyone: kept once
            screenshots(page, SHOTS, "signin")
        page.fill("#signin-form [name=username]", person.username)
        page.fill("#signin-form [name=password]", person.password)
        page.click("#signin-form button[type=submit]")
        secret = run.keep(f"{who}'s TOTP key", page.locator("#secret").inner_text().replace(" ", ""))
        if who == "admin-1":
            screenshots(page, SHOTS, "totp-enrolment", mask=[page.locator("#secret")])  # the key stays out of artifacts
        page.fill("#totp-form [name=code]", pyotp.TOTP(secret).now())
        page.click("#totp-form button[type=submit]")
        expect(page).to_have_url(f"{run.ingest}{then}")
        (session,) = [c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE]
        run.keep(f"{who}'s session cookie", session)
        yield page
    finally:
        context.close()


def _add_on_the_page(page: Page, name: str, platform: str, *, approval: bool = False) -> None:
    form = page.locator("#add form")
    form.locator("[name=name]").fill(name)
    form.locator("[name=platform]").select_option(platform)
    form.locator("[name=approval]").set_checked(approval)  # whether its posts wait for an approver
    form.locator("button[type=submit]").click()
    expect(page.locator("#done")).to_contain_text(name)


def _point_at_emulator(run: Run, name: str, base_url: str) -> None:
    """The page offers no endpoints (a real channel uses the platform's own): the operator points these channels at
    the emulators through the API."""
    options = {"base_url": base_url}
    if name.endswith("youtube"):
        options["token_url"] = f"{base_url}/token"
    with run.api("district") as api:
        changed = api.patch(f"/channels/{name}", json={"options": options})
    assert changed.status_code == 200, changed.text


def _connect(run: Run, page: Page, name: str, shots: str) -> None:
    """The ward admin presses Connect, allows Loa on the platform's consent page, and lands back on Loa."""
    page.goto(f"{run.ingest}/ui/channels")
    card = page.locator(f"#channel-{name}")
    expect(card).to_have_attribute("data-state", "disconnected")
    card.locator("a.reconnect").click()
    expect(page.locator("#allow")).to_be_visible()
    screenshots(page, SHOTS, shots)
    page.click("#allow")
    expect(page.locator("#connected")).to_have_attribute("data-channel", name)
    page.goto(f"{run.ingest}/ui/channels")
    expect(page.locator(f"#channel-{name}")).to_have_attribute("data-state", "connected")


def _seconds_until_the_publisher_knows(run: Run, name: str, since: float) -> float:
    """Seconds from `since` until the publisher logged a registry record of channel `name` (at most 5)."""
    line = re.compile(rf"channel {re.escape(name)}: revision \d+\b")  # loa_core.channel_registry's log line
    log = run.stack.logs_dir / "publisher.log"
    while not line.search(log.read_text(errors="replace")):
        elapsed = time.monotonic() - since
        assert elapsed < 5.0, f"the publisher did not learn channel {name} in 5 s:\n" + run.stack.log_tail("publisher")
        time.sleep(0.02)
    return time.monotonic() - since


def _approve_on_the_footage_page(run: Run, page: Page, channels: tuple[str, ...]) -> None:
    """Once the cuts are made and every post waits for an approver (the page is reloaded until then), approve each."""
    page.goto(f"{run.ingest}/ui/footage/{run.footage_id}")
    deadline = time.monotonic() + 240
    awaiting = page.locator("#posts article.post[data-state=awaiting]")
    while not (page.locator("#stages li[data-stage=transcoded].done").count() and awaiting.count() == len(channels)):
        assert time.monotonic() < deadline, "the posts never waited for an approver:\n" + page.content()
        time.sleep(1)
        page.reload()
    screenshots(page, SHOTS, "ward-1-footage-awaiting-approval")
    for channel in channels:
        post = page.locator(f"#post-{channel}")
        post.locator("button.approve").click()
        expect(post.locator(".result")).to_have_text("Đã ghi quyết định.")


def test_ward_1_connects_its_channels_and_its_upload_is_posted_on_them(
    run: Run, browser: Browser, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "le-chao-co.mp4", width=320, height=180, duration_s=1.0)
    with signed_in(run, browser, "admin-1") as page:
        page.goto(f"{run.ingest}/ui/channels")
        screenshots(page, SHOTS, "ward-1-channels-empty")
        clicked = time.monotonic()
        _add_on_the_page(page, "p1-youtube", "youtube", approval=True)
        took = _seconds_until_the_publisher_knows(run, "p1-youtube", clicked)
        print(f"p1-youtube reached the publisher {took:.3f} s after the click")
        _add_on_the_page(page, "p1-tiktok", "tiktok", approval=True)
        _point_at_emulator(run, "p1-youtube", run.youtube.base_url)
        _point_at_emulator(run, "p1-tiktok", run.tiktok.base_url)
        _connect(run, page, "p1-youtube", "youtube-consent")
        _connect(run, page, "p1-tiktok", "tiktok-consent")
        screenshots(page, SHOTS, "ward-1-channels-connected")

        page.goto(f"{run.ingest}/ui/")
        expect(page.locator("#app")).to_be_visible()  # the session signs the upload page in
        boxes = page.locator("#channels input[name=channels]")
        expect(page.locator("#channels input[value=p1-tiktok]")).to_be_attached()
        for value in boxes.evaluate_all("boxes => boxes.map(box => box.value)"):
            page.locator(f"#channels input[value={value}]").set_checked(value in ("p1-youtube", "p1-tiktok"))
        page.fill("#meta-form [name=title]", TITLE)
        page.locator("input.uppy-Dashboard-input").first.set_input_files(str(clip))
        page.click("#start")
        uploaded = page.locator("#progress li[data-footage-id]")
        expect(uploaded).to_have_count(1, timeout=60_000)
        run.footage_id = uploaded.get_attribute("data-footage-id") or ""
        # Both posts wait for an approver: the ward admin approves each on the footage page, in another tab.
        footage_page = page.context.new_page()
        _approve_on_the_footage_page(run, footage_page, ("p1-youtube", "p1-tiktok"))
        footage_page.close()
        published = page.locator("#progress li[data-state=published]")
        expect(published).to_have_count(1, timeout=240_000)
        screenshots(page, SHOTS, "ward-1-upload-published")

    # The posts are on ward 1's channels on the platforms, one each.
    assert [v.meta["snippet"]["title"] for v in run.youtube.videos.values()] == [TITLE]
    assert [p.post_info["title"] for p in run.tiktok.publishes.values() if p.video is not None] == [TITLE]
    # With the tokens the sign-ins granted (the emulators' refresh tokens from before were never given out).
    assert run.youtube.refresh_token.startswith("1//emu-") and run.tiktok.refresh_token.startswith("rft-code")
    with run.api("admin-1") as api:
        view = api.get(f"/footage/{run.footage_id}").json()
    posts = view["stages"]["published"]["posts"]
    assert {(p["channel"], p["profile"]) for p in posts} == {("p1-youtube", "youtube"), ("p1-tiktok", "tiktok")}


def _loa(run: Run, who: str, *args: str) -> Result:
    env = {
        "LOA_INGEST_URL": run.ingest,
        "LOA_METRICS_URL": run.stack.url("metrics"),
        "LOA_TOKEN": run.tokens[who],
        "LOA_CLI_CONFIG": "/nonexistent",
    }
    return CliRunner().invoke(cli, list(args), env=env)


def test_ward_2_sees_none_of_ward_1s_footage_channels_or_posts(run: Run, browser: Browser, tmp_path: Path) -> None:
    assert run.footage_id, "ward 1's upload is made by the test before"
    clip = make_clip(tmp_path / "hop-dan.mp4", width=320, height=180, duration_s=1.0)
    with signed_in(run, browser, "admin-2") as page:
        page.goto(f"{run.ingest}/ui/channels")
        _add_on_the_page(page, "p2-local", "local", approval=True)
        uploaded = _loa(run, "admin-2", "upload", str(clip), "--title", TITLE_2, "--channel", "p2-local")
        assert uploaded.exit_code == 0, uploaded.stderr
        run.footage_id_2 = footage_id = uploaded.stdout.strip()
        # Its post waits for an approver; ward 1's admin cannot approve it, ward 2's (an approver too) does.
        waiting = _loa(run, "admin-2", "status", footage_id, "--wait", "--timeout", "120")
        assert waiting.exit_code == 1 and "waits for an approver" in waiting.stdout + waiting.stderr, waiting.stdout
        foreign = _loa(run, "admin-1", "approval", "approve", footage_id, "p2-local")
        assert foreign.exit_code == 1 and "Error 404" in foreign.stderr, foreign.stdout + foreign.stderr
        approved = _loa(run, "admin-2", "approval", "approve", footage_id, "p2-local")
        assert approved.exit_code == 0, approved.stdout + approved.stderr
        status = _loa(run, "admin-2", "status", footage_id, "--wait", "--json", "--timeout", "120")
        assert status.exit_code == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)["status"] == "published"

        # The pages: ward 2's channel only, ward 2's footage only.
        page.goto(f"{run.ingest}/ui/channels")
        expect(page.locator("#channels article.channel")).to_have_count(1)
        expect(page.locator("#channel-p2-local")).to_have_attribute("data-state", "connected")
        screenshots(page, SHOTS, "ward-2-channels")
        page.goto(f"{run.ingest}/ui/")
        expect(page.locator("#footage-table tbody tr")).to_have_count(1)
        expect(page.locator("#footage-table tbody")).to_contain_text(TITLE_2)
        expect(page.locator("#channels input[name=channels]")).to_have_count(1)
        screenshots(page, SHOTS, "ward-2-upload-page")
        page.goto(f"{run.ingest}/ui/footage")
        expect(page.locator("#footage-list tbody tr")).to_have_count(1)
        expect(page.locator(f"#footage-list tr[data-footage='{footage_id}']")).to_be_visible()
        screenshots(page, SHOTS, "ward-2-footage-list")
        other = page.goto(f"{run.ingest}/ui/footage/{run.footage_id}")
        assert other is not None and other.status == 404
        district = page.goto(f"{run.ingest}/ui/district")
        assert district is not None and district.status == 403
        # Ingest's API with the session the page holds, as the page's own scripts call it.
        assert page.request.get(f"{run.ingest}/footage/{run.footage_id}").status == 404
        assert page.request.get(f"{run.ingest}/channels/p1-youtube").status == 404
        assert [c["channel"]["name"] for c in page.request.get(f"{run.ingest}/channels").json()] == ["p2-local"]

    # The APIs: ingest's and metrics', by id and in every list.
    metrics = httpx.Client(
        base_url=run.stack.url("metrics"), headers={"Authorization": f"Bearer {run.tokens['admin-2']}"}, timeout=30
    )
    with run.api("admin-2") as ingest, metrics:
        assert [c["channel"]["name"] for c in ingest.get("/channels").json()] == ["p2-local"]
        for name in ("p1-youtube", "p1-tiktok"):
            assert ingest.get(f"/channels/{name}").status_code == 404
            assert ingest.get(f"/channels/{name}/connect", follow_redirects=False).status_code == 404
        for api in (ingest, metrics):
            assert api.get(f"/footage/{run.footage_id}").status_code == 404
            listed = api.get("/footage")
            assert listed.status_code == 200, listed.text
            assert run.footage_id not in listed.text and run.footage_id_2 in listed.text
        posts = metrics.get("/posts").json()["items"]
        assert {p["channel"] for p in posts} == {"p2-local"}
    refused = _loa(run, "admin-2", "report", "--district")
    assert refused.exit_code == 1 and "district admin" in refused.stderr
    # Nothing of ward 2's went to the platforms: they still hold ward 1's one video each.
    assert [v.meta["snippet"]["title"] for v in run.youtube.videos.values()] == [TITLE]
    assert [p.post_info["title"] for p in run.tiktok.publishes.values()] == [TITLE]


def test_the_district_admin_sees_both_wards_and_their_totals(run: Run, browser: Browser) -> None:
    assert run.footage_id and run.footage_id_2, "the wards' uploads are made by the tests before"
    with signed_in(run, browser, "district") as page:
        page.goto(f"{run.ingest}/ui/channels")
        for name in ("p1-youtube", "p1-tiktok", "p2-local"):
            expect(page.locator(f"#channel-{name}")).to_be_visible()
        expect(page.locator("#channel-p2-local h2 small")).to_contain_text(WARD_2)
        screenshots(page, SHOTS, "district-channels")
        page.goto(f"{run.ingest}/ui/footage")
        for footage_id in (run.footage_id, run.footage_id_2):
            expect(page.locator(f"#footage-list tr[data-footage='{footage_id}']")).to_be_visible()
        screenshots(page, SHOTS, "district-footage-list")
        # The district's page: a card per ward with its totals (footage, posts published), per platform, and its
        # channels.
        page.goto(f"{run.ingest}/ui/district")
        for ward, platforms in ((WARD_1, {"youtube": "1", "tiktok": "1"}), (WARD_2, {"local": "2"})):
            card = page.locator(f"#wards article.ward[data-ward='{ward}']")
            totals = card.locator("tr.ward-total td")
            expect(totals.nth(0)).to_have_text("1")  # footage
            expect(totals.nth(1)).to_have_text("2")  # posts published
            for platform, published in platforms.items():
                expect(card.locator(f"tr[data-platform='{platform}'] td").nth(1)).to_have_text(published)
        for ward, channel in ((WARD_1, "p1-youtube"), (WARD_1, "p1-tiktok"), (WARD_2, "p2-local")):
            shown = page.locator(f"#wards article.ward[data-ward='{ward}'] #channel-{channel}")
            expect(shown).to_have_attribute("data-state", "connected")
        screenshots(page, SHOTS, "district-totals")
    with httpx.Client(
        base_url=run.stack.url("metrics"), headers={"Authorization": f"Bearer {run.stack.token}"}, timeout=30
    ) as metrics:
        listed = metrics.get("/footage").text
        assert run.footage_id in listed and run.footage_id_2 in listed
    report = _loa(run, "district", "report", "--district", "--format", "json")
    assert report.exit_code == 0, report.stderr
    wards = {entry["ward"]: entry for entry in json.loads(report.stdout)["wards"]}
    assert (wards[WARD_1]["footage"], wards[WARD_1]["published"], wards[WARD_1]["failed"]) == (1, 2, 0)
    assert {p: t["published"] for p, t in wards[WARD_1]["platforms"].items()} == {"youtube": 1, "tiktok": 1}
    # A local channel receives both cuts.
    assert (wards[WARD_2]["footage"], wards[WARD_2]["published"]) == (1, 2)
    assert {p: t["published"] for p, t in wards[WARD_2]["platforms"].items()} == {"local": 2}


async def _every_record(bootstrap: str, prefix: str) -> list[bytes]:
    """Every key and value on every topic of this run (Faust's own topics included: they carry the prefix too)."""
    lister = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await lister.start()
    try:
        topics = sorted(t for t in await lister.topics() if t.startswith(prefix))
    finally:
        await lister.stop()
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: list[bytes] = []
    ends: dict[TopicPartition, int] = {}
    deadline = time.monotonic() + 60
    try:
        while True:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                found += [part for r in batch for part in (r.key, r.value) if part is not None]
            if not ends and consumer.assignment():
                ends = await consumer.end_offsets(list(consumer.assignment()))
            if ends and all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                return found
            assert time.monotonic() < deadline, f"could not read {topics} to their ends"
    finally:
        await consumer.stop()


def test_no_secret_appears_in_any_log_line_or_record(run: Run, kafka_broker: KafkaBroker) -> None:
    assert run.youtube.valid_tokens and run.tiktok.valid_tokens, "the platforms issued tokens to this run"
    secrets = {**run.secrets, **run.emulator_secrets()}
    assert all(len(value) >= 12 for value in secrets.values()), secrets.keys()
    services = sorted(run.stack.logs_dir.glob("*.log"))
    assert {p.stem for p in services} >= set(run.stack.services)
    logs = [*services, kafka_broker.log_file]  # the broker the run shares with the suite
    # In a thread of its own: the module's Playwright keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as thread:
        reading = thread.submit(asyncio.run, _every_record(run.stack.kafka_bootstrap or "", run.stack.topic_prefix))
        records = reading.result()
    assert records  # the run wrote on its topics
    leaks = [
        f"{what} in {path.name}"
        for path in logs
        for what, value in secrets.items()
        if value in path.read_text("utf-8", "replace")
    ]
    leaks += [f"{what} in a record" for what, value in secrets.items() if any(value.encode() in r for r in records)]
    # The emulators run in this process and log nothing; what they recorded of each request stands in for a log.
    recorded = "\n".join(f"{kind} {detail}" for e in (run.youtube, run.tiktok) for kind, detail in e.requests)
    leaks += [f"{what} in the emulators' request records" for what, value in secrets.items() if value in recorded]
    assert leaks == []
