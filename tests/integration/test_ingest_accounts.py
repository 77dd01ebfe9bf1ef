"""People on ingest: sign-in with a password and TOTP, lockout, sessions with CSRF, the accounts API across wards.

Ingest's whole app (build_app) on a real database, SQLite and PostgreSQL (`database_url`), through HTTP in process
(no Kafka is needed for these routes: the app's lifespan, which starts the producer, is not entered). The client
talks https://testserver so the Secure session cookie travels as in a browser.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import threading
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from loa_core.auth import hash_token, new_token
from loa_core.contracts import DEFAULT_WARD, FIRST_ADMIN, FIRST_ADMIN_PASSWORD_FILE
from loa_core.secrets import new_key
from loa_ingest.__main__ import build_app
from loa_ingest.accounts import LockoutPolicy, People
from loa_ingest.settings import IngestSettings
from loa_ingest.signin import CSRF_HEADER, SESSION_COOKIE, Gate
from loa_ingest.state import open_state
from tests.support.bilingual import assert_bilingual

BASE = "https://testserver"
PASSWORD = "mật-khẩu-đủ-dài-1"


@dataclass
class Ingest:
    client: TestClient
    token: str  # a static district admin token
    data_dir: Path

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def new_account(self, username: str, role: str, ward: str = DEFAULT_WARD, token: str | None = None) -> str:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        body = {"username": username, "role": role, "ward": ward, "password": PASSWORD}
        answer = self.client.post("/accounts", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def browser(self, session_id: str | None = None) -> TestClient:
        """Another browser: its own cookie jar on the same app (holding `session_id`, when given)."""
        browser = TestClient(self.client.app, base_url=BASE, follow_redirects=False)
        if session_id is not None:
            browser.cookies.set(SESSION_COOKIE, session_id)
        return browser


def make_ingest(database_url: str, tmp_path: Path, **settings: Any) -> Ingest:
    token = new_token()
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": tmp_path / "data",
        "storage_root": tmp_path / "storage",
        "api_token_hashes": hash_token(token),
        "secret_key": new_key(),
        **settings,
    }
    config = IngestSettings(**values)
    return Ingest(TestClient(build_app(config), base_url=BASE, follow_redirects=False), token, tmp_path / "data")


@pytest.fixture
def ingest(database_url: str, tmp_path: Path) -> Iterator[Ingest]:
    yield make_ingest(database_url, tmp_path)


def sign_in(browser: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return browser.post("/signin", data={"username": username, "password": password, "next": "/ui/"})


def page_error(answer: httpx.Response) -> str:
    found = re.search(r'<p id="error"[^>]*>(.*?)</p>', answer.text, re.S)
    assert found, answer.text
    return html.unescape(found.group(1)).strip()


def form_value(answer: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', answer.text)
    assert found, answer.text
    return html.unescape(found.group(1))


def enrol(browser: TestClient, username: str, password: str = PASSWORD) -> pyotp.TOTP:
    """Sign in as an admin for the first time: the password, then the enrolment page's secret and a code."""
    step = sign_in(browser, username, password)
    assert step.status_code == 303 and step.headers["location"].startswith("/signin/totp"), step.text
    page = browser.get(step.headers["location"])
    assert page.status_code == 200 and 'id="enrol"' in page.text
    secret = re.search(r'id="secret" class="secret">([A-Z2-7]+)<', page.text)
    assert secret, page.text
    totp = pyotp.TOTP(secret.group(1))
    assert f"otpauth://totp/Loa:{username}?secret={secret.group(1)}" in html.unescape(page.text)
    done = browser.post(
        "/signin/totp", data={"code": totp.now(), "csrf_token": form_value(page, "csrf_token"), "next": "/ui/"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/ui/", done.text
    return totp


def csrf_of(browser: TestClient) -> str:
    session = browser.get("/session")
    assert session.status_code == 200, session.text
    return str(session.json()["csrf_token"])


def test_a_first_start_makes_the_default_ward_and_its_admin_with_a_password_file_only(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ingest = make_ingest(database_url, tmp_path)
    path = ingest.data_dir / FIRST_ADMIN_PASSWORD_FILE
    assert str(path) in caplog.text  # the log says where the password is…
    assert path.stat().st_mode & 0o777 == 0o600
    password = path.read_text().strip()
    assert len(password) >= 16
    wards = ingest.client.get("/wards", headers=ingest.admin()).json()
    assert [(w["id"], w["display_name"]) for w in wards] == [(DEFAULT_WARD, "Phường mặc định")]
    admin = [a for a in ingest.client.get("/accounts", headers=ingest.admin()).json() if a["username"] == FIRST_ADMIN]
    assert admin and admin[0]["role"] == "district_admin" and admin[0]["ward"] == DEFAULT_WARD
    # It signs in with that password, and is asked for a second factor at once (it is an admin).
    browser = ingest.browser()
    enrol(browser, FIRST_ADMIN, password)
    assert browser.get("/whoami").json()["account"] == admin[0]["id"]
    assert password not in caplog.text  # …never the password
    # A second start makes nothing more, and leaves the file alone.
    make_ingest(database_url, tmp_path)
    assert path.read_text().strip() == password
    assert len(ingest.client.get("/accounts", headers=ingest.admin()).json()) == 1


def test_wrong_password_then_lockout_after_five_refuses_even_the_right_password(ingest: Ingest) -> None:
    ingest.new_account("bien.tap", "editor")
    browser = ingest.browser()
    for attempt in range(4):
        wrong = sign_in(browser, "bien.tap", "not the password")
        assert wrong.status_code == 401, attempt
        assert_bilingual(page_error(wrong))
        assert SESSION_COOKIE not in browser.cookies
    unknown = sign_in(browser, "khong.co.ai", "not the password")
    assert unknown.status_code == 401 and page_error(unknown) == page_error(wrong)  # nothing said about who exists

    fifth = sign_in(browser, "bien.tap", "not the password")
    assert fifth.status_code == 423
    assert_bilingual(page_error(fifth))
    locked = sign_in(browser, "bien.tap", PASSWORD)
    assert locked.status_code == 423 and SESSION_COOKIE not in browser.cookies
    assert page_error(locked) == page_error(fifth)  # the right password changes nothing in the answer
    assert "15" in page_error(locked)


def test_a_lock_ends_and_a_right_password_signs_in_with_a_secure_httponly_cookie(
    database_url: str, tmp_path: Path
) -> None:
    ingest = make_ingest(database_url, tmp_path, signin_lockout_s=0.5, signin_max_failures=2)
    ingest.new_account("xem", "viewer")
    browser = ingest.browser()
    assert sign_in(browser, "xem", "wrong").status_code == 401
    assert sign_in(browser, "xem", "wrong").status_code == 423
    time.sleep(0.6)  # the lock's end: not a timing assertion, the lock is configured to end by then
    answer = sign_in(browser, "xem")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = answer.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/", "Max-Age=28800"):
        assert attribute.lower() in cookie.lower(), cookie
    who = browser.get("/whoami").json()
    assert who["role"] == "viewer" and who["ward"] == DEFAULT_WARD and who["account"]


def test_totp_is_required_for_admins_and_a_wrong_code_is_refused(ingest: Ingest) -> None:
    ingest.new_account("phe.duyet", "approver")
    browser = ingest.browser()
    step = sign_in(browser, "phe.duyet")
    assert step.status_code == 303 and step.headers["location"].startswith("/signin/totp")
    # Half-way is not signed in, with the cookie or with its id as a bearer token (what the status relay sends).
    assert browser.get("/whoami").status_code == 401
    halfway = {"Authorization": f"Bearer {browser.cookies[SESSION_COOKIE]}"}
    assert ingest.client.get("/whoami", headers=halfway).status_code == 401
    page = browser.get(step.headers["location"])
    secret = re.search(r'id="secret" class="secret">([A-Z2-7]+)<', page.text)
    assert secret and page.headers["cache-control"] == "no-store"
    csrf = form_value(page, "csrf_token")
    right = pyotp.TOTP(secret.group(1)).now()
    wrong_code = f"{(int(right) + 1) % 1_000_000:06d}"
    refused = browser.post("/signin/totp", data={"code": wrong_code, "csrf_token": csrf})
    assert refused.status_code == 401
    assert_bilingual(page_error(refused))
    assert browser.get("/whoami").status_code == 401
    forged = browser.post("/signin/totp", data={"code": right, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert_bilingual(page_error(forged))
    assert browser.post("/signin/totp", data={"code": right, "csrf_token": csrf}).status_code == 303
    assert browser.get("/whoami").json()["role"] == "approver"
    signed_in = {"Authorization": f"Bearer {browser.cookies[SESSION_COOKIE]}"}
    assert ingest.client.get("/whoami", headers=signed_in).json()["role"] == "approver"
    # The same code twice is not a second sign-in.
    again = ingest.browser()
    step = sign_in(again, "phe.duyet")
    page = again.get(step.headers["location"])
    assert 'id="enrol"' not in page.text  # enrolled now: just the code
    replay = again.post("/signin/totp", data={"code": right, "csrf_token": form_value(page, "csrf_token")})
    assert replay.status_code == 401


def test_an_expired_session_is_refused(database_url: str, tmp_path: Path) -> None:
    ingest = make_ingest(database_url, tmp_path, session_ttl_s=1.0)
    ingest.new_account("bien.tap", "editor")
    browser = ingest.browser()
    assert sign_in(browser, "bien.tap").status_code == 303
    session_id = browser.cookies[SESSION_COOKIE]
    assert browser.get("/whoami").status_code == 200
    time.sleep(1.2)  # past the configured lifetime
    # Sent again by hand (a browser would have dropped the cookie at its Max-Age): the server refuses it too.
    expired = ingest.browser(session_id).get("/whoami")
    assert expired.status_code == 401
    assert_bilingual(expired.json()["detail"])


def test_a_session_needs_its_csrf_token_on_unsafe_requests_and_nothing_changes_without_it(ingest: Ingest) -> None:
    ward_admin = ingest.new_account("qt.phuong", "ward_admin")
    browser = ingest.browser()
    totp = enrol(browser, "qt.phuong")
    assert totp
    before = ingest.client.get("/accounts", headers=ingest.admin()).json()
    tokens_before = ingest.client.get("/tokens", headers=ingest.admin()).json()
    body = {"username": "moi", "role": "viewer", "password": PASSWORD}
    missing = browser.post("/accounts", json=body)
    forged = browser.post("/accounts", json=body, headers={CSRF_HEADER: "forged"})
    forged_form = browser.post("/signout", data={"csrf_token": "forged"})
    token_forged = browser.post("/tokens", json={"role": "viewer"}, headers={CSRF_HEADER: "x"})
    for answer in (missing, forged, forged_form, token_forged):
        assert answer.status_code == 403, answer.text
        assert_bilingual(answer.json()["detail"])
    assert ingest.client.get("/accounts", headers=ingest.admin()).json() == before
    assert ingest.client.get("/tokens", headers=ingest.admin()).json() == tokens_before
    assert browser.get("/whoami").status_code == 200  # the forged sign-out did not sign out

    # With the token: the account is made, and a token made by a person belongs to that person's account.
    csrf = csrf_of(browser)
    made = browser.post("/accounts", json=body, headers={CSRF_HEADER: csrf})
    assert made.status_code == 201 and made.json()["ward"] == DEFAULT_WARD
    token = browser.post("/tokens", json={"role": "editor", "label": "máy quay"}, headers={CSRF_HEADER: csrf})
    assert token.status_code == 201
    as_token = ingest.client.get("/whoami", headers={"Authorization": f"Bearer {token.json()['token']}"})
    assert as_token.json()["account"] == ward_admin
    # A bearer request needs no CSRF token, even from a client that also has a cookie.
    bearer = browser.post("/wards", json={"id": "phuong-2", "display_name": "Phường 2"}, headers=ingest.admin())
    assert bearer.status_code == 201

    # Sign-out with the form's token ends the session (server side too).
    session_id = browser.cookies[SESSION_COOKIE]
    assert browser.post("/signout", data={"csrf_token": csrf}).status_code == 303
    assert ingest.browser(session_id).get("/whoami").status_code == 401


def test_wards_are_kept_apart_and_a_ward_admin_stays_under_its_role(ingest: Ingest) -> None:
    for ward in ("phuong-a", "phuong-b"):
        created = ingest.client.post(
            "/wards", json={"id": ward, "display_name": f"Phường {ward[-1].upper()}"}, headers=ingest.admin()
        )
        assert created.status_code == 201, created.text
    editor_a = ingest.new_account("bien.tap.a", "editor", ward="phuong-a")
    ingest.new_account("qt.b", "ward_admin", ward="phuong-b")
    admin_b = ingest.client.post("/tokens", json={"role": "ward_admin", "ward": "phuong-b"}, headers=ingest.admin())
    token_b = {"Authorization": f"Bearer {admin_b.json()['token']}"}
    before = ingest.client.get("/accounts", headers=ingest.admin()).json()

    refusals = [
        ingest.client.get("/accounts", params={"ward": "phuong-a"}, headers=token_b),
        ingest.client.post(
            "/accounts", json={"username": "ke.la", "role": "viewer", "ward": "phuong-a"}, headers=token_b
        ),
        ingest.client.post(
            "/accounts", json={"username": "qt.quan", "role": "district_admin", "ward": "phuong-b"}, headers=token_b
        ),
        ingest.client.post("/wards", json={"id": "phuong-c", "display_name": "Phường C"}, headers=token_b),
        ingest.client.post(f"/accounts/{editor_a}/disable", headers=token_b),
    ]
    assert [r.status_code for r in refusals] == [403, 403, 403, 403, 404]
    for answer in refusals:
        assert_bilingual(answer.json()["detail"])
    assert ingest.client.get("/accounts", headers=ingest.admin()).json() == before
    # Its own ward's accounts only; and it may make its own ward's people, up to ward admin.
    listed = ingest.client.get("/accounts", headers=token_b).json()
    assert {a["ward"] for a in listed} == {"phuong-b"}
    made = ingest.client.post("/accounts", json={"username": "pv.b", "role": "ward_admin"}, headers=token_b)
    assert made.status_code == 201 and made.json()["ward"] == "phuong-b"
    assert len(made.json()["password"]) >= 16  # generated, shown once
    assert [w["id"] for w in ingest.client.get("/wards", headers=token_b).json()] == ["phuong-b"]


def test_disabling_an_account_revokes_its_tokens_and_ends_its_sessions(ingest: Ingest) -> None:
    editor = ingest.new_account("bien.tap", "editor")
    browser = ingest.browser()
    assert sign_in(browser, "bien.tap").status_code == 303
    token = browser.post("/tokens", json={"role": "editor"}, headers={CSRF_HEADER: csrf_of(browser)})
    # An editor is no ward admin: it makes no token.
    assert token.status_code == 403
    own = ingest.client.post("/tokens", json={"role": "editor", "ward": DEFAULT_WARD}, headers=ingest.admin())
    assert own.json()["token"]

    ward_admin = ingest.new_account("qt", "ward_admin")
    admin_browser = ingest.browser()
    enrol(admin_browser, "qt")
    csrf = csrf_of(admin_browser)
    editor_token = admin_browser.post("/tokens", json={"role": "viewer"}, headers={CSRF_HEADER: csrf}).json()["token"]
    bearer = {"Authorization": f"Bearer {editor_token}"}
    assert ingest.client.get("/whoami", headers=bearer).json()["account"] == ward_admin

    disabled = ingest.client.post(f"/accounts/{editor}/disable", headers=ingest.admin())
    assert disabled.status_code == 200 and disabled.json()["disabled_at"]
    assert browser.get("/whoami").status_code == 401
    assert sign_in(ingest.browser(), "bien.tap").status_code == 401
    self_disable = admin_browser.post(f"/accounts/{ward_admin}/disable", headers={CSRF_HEADER: csrf})
    assert self_disable.status_code == 409
    assert ingest.client.post(f"/accounts/{ward_admin}/disable", headers=ingest.admin()).status_code == 200
    assert ingest.client.get("/whoami", headers=bearer).status_code == 401  # its token went with it
    assert admin_browser.get("/whoami").status_code == 401


def test_sign_in_attempts_are_rate_limited_per_username_and_per_address(tmp_path: Path) -> None:
    # The allowances are kept in memory, per process: SQLite alone is enough here.
    ingest = make_ingest(
        str(tmp_path / "ingest.sqlite3"),
        tmp_path,
        signin_per_username_burst=2,
        signin_per_username_per_min=0.01,
        signin_per_address_burst=4,
        signin_per_address_per_min=0.01,
    )
    ingest.new_account("bien.tap", "editor")
    browser = ingest.browser()
    assert [sign_in(browser, "bien.tap", "wrong").status_code for _ in range(2)] == [401, 401]
    limited = sign_in(browser, "bien.tap", PASSWORD)  # the right password, but one attempt too many
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert_bilingual(page_error(limited))
    assert SESSION_COOKIE not in browser.cookies
    # Other names from the same address: until the address's own allowance is spent.
    assert sign_in(browser, "ai.do", "wrong").status_code == 401
    assert sign_in(browser, "ai.khac", "wrong").status_code == 429


def test_without_the_operators_key_an_admin_is_told_why_two_step_sign_in_cannot_start(tmp_path: Path) -> None:
    ingest = make_ingest(str(tmp_path / "ingest.sqlite3"), tmp_path, secret_key=None)
    ingest.new_account("qt", "ward_admin")
    browser = ingest.browser()
    step = sign_in(browser, "qt")
    assert step.status_code == 303
    answer = browser.get(step.headers["location"])
    assert answer.status_code == 503
    assert_bilingual(page_error(answer))
    assert "LOA_SECRET_KEY" in page_error(answer)
    assert browser.get("/whoami").status_code == 401


def test_an_editor_may_turn_on_two_step_sign_in_and_then_needs_it(ingest: Ingest) -> None:
    ingest.new_account("bien.tap", "editor")
    browser = ingest.browser()
    assert sign_in(browser, "bien.tap").status_code == 303
    page = browser.get("/signin?next=/account/totp", follow_redirects=True)  # signed in: straight there
    assert page.status_code == 200 and 'id="enrol"' in page.text and 'action="/account/totp"' in page.text
    assert 'class="two-step" href="/account/totp"' in page.text and 'id="person">bien.tap<' in page.text
    secret = re.search(r'id="secret" class="secret">([A-Z2-7]+)<', page.text)
    assert secret
    totp = pyotp.TOTP(secret.group(1))
    csrf = form_value(page, "csrf_token")
    forged = browser.post("/account/totp", data={"code": totp.now(), "csrf_token": "forged"})
    assert forged.status_code == 403
    wrong = browser.post("/account/totp", data={"code": "12345a", "csrf_token": csrf})
    assert wrong.status_code == 401
    assert_bilingual(page_error(wrong))
    assert browser.post("/account/totp", data={"code": totp.now(), "csrf_token": csrf}).status_code == 303
    assert 'id="enrolled"' in browser.get("/account/totp").text

    again = ingest.browser()
    step = sign_in(again, "bien.tap")
    assert step.status_code == 303 and step.headers["location"].startswith("/signin/totp")
    code_page = again.get(step.headers["location"])
    assert 'id="enrol"' not in code_page.text
    later = totp.at(time.time() + 30)  # the code just used is good once; the next step's is accepted too
    done = again.post("/signin/totp", data={"code": later, "csrf_token": form_value(code_page, "csrf_token")})
    assert done.status_code == 303 and again.get("/whoami").json()["role"] == "editor"


class HeldHasher(PasswordHasher):
    """Fast hashes; a verify() that waits (up to 10 s) until the test releases it: a password check in progress for
    as long as the test needs, whatever the machine's speed."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.checking = threading.Event()
        self.release = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.checking.set()
        self.release.wait(10)
        return super().verify(hash, password)


async def test_a_sign_in_does_not_hold_up_the_other_requests(tmp_path: Path) -> None:
    # argon2 is slow on purpose; checked on the event loop it stalled every request of ingest (uploads included)
    # for as long as it took. With a hasher that holds the check until the test lets it go: a request sent while a
    # sign-in is being checked is answered first (on the loop, the held check would block it, and the order flip).
    held = HeldHasher()
    state = open_state(tmp_path / "ingest.sqlite3", tmp_path / "spool")
    people = People(state.engine, None, LockoutPolicy(), hasher=held)
    people.create_ward(DEFAULT_WARD, "Phường mặc định")
    people.create("bien.tap", "", DEFAULT_WARD, "editor", PASSWORD, "test")
    gate = Gate(people, IngestSettings(data_dir=tmp_path), frozenset, state.tokens)
    app = FastAPI()
    app.include_router(gate.router())
    done: list[str] = []

    @app.get("/ping")
    async def ping() -> str:
        return "pong"

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:

        async def call(name: str, request: Awaitable[httpx.Response]) -> None:
            answer = await request
            assert answer.status_code in (200, 303), answer.text
            done.append(name)

        form = {"username": "bien.tap", "password": PASSWORD}
        signing_in = asyncio.create_task(call("signin", client.post("/signin", data=form)))
        assert await asyncio.to_thread(held.checking.wait, 10), "the sign-in reached its password check"
        await call("ping", client.get("/ping"))
        held.release.set()
        await signing_in
    state.close()
    assert done == ["ping", "signin"]
