"""The platform emulators' OAuth authorization-code grant over real HTTP: consent, code exchange with PKCE, the
errors (denied consent, wrong verifier, reused or expired code, a redirect_uri that differs), and tokens that work
on each emulator's existing API and refresh grant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from tests.support.emulators.facebook import SHORT_LIVED_S, FacebookEmulator
from tests.support.emulators.oauth import CODE_LIFETIME_S, click_consent, pkce_pair
from tests.support.emulators.tiktok import TikTokEmulator
from tests.support.emulators.youtube import UPLOAD_SCOPE, YouTubeEmulator
from tests.support.emulators.zalo import ZaloEmulator

CALLBACK = "https://loa.example.vn/oauth/callback"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def google_authorize(emulator: YouTubeEmulator, challenge: str, **overrides: str) -> str:
    query = {
        "client_id": emulator.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": UPLOAD_SCOPE,
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "access_type": "offline",
        "prompt": "consent",
        **overrides,
    }
    return f"{emulator.base_url}/o/oauth2/v2/auth?{urlencode(query)}"


def google_exchange(http: httpx.Client, emulator: YouTubeEmulator, code: str, verifier: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    return http.post(f"{emulator.base_url}/token", data=form)


def test_google_consent_code_pkce_and_tokens_that_work(tmp_path: Path, http: httpx.Client) -> None:
    with YouTubeEmulator(tmp_path) as emulator:
        emulator.consent.register_redirect(CALLBACK)
        verifier, challenge = pkce_pair()
        back = click_consent(http, google_authorize(emulator, challenge))
        assert str(back).startswith(CALLBACK + "?") and back.params["state"] == "st-1"
        granted = google_exchange(http, emulator, back.params["code"], verifier)
        assert granted.status_code == 200, granted.text
        tokens = granted.json()
        assert tokens["refresh_token"] == emulator.refresh_token and tokens["token_type"] == "Bearer"
        # The access token opens an upload session; the refresh token refreshes.
        start = http.post(
            f"{emulator.base_url}/upload/youtube/v3/videos?uploadType=resumable&part=snippet,status",
            headers={
                "Authorization": f"Bearer {tokens['access_token']}",
                "X-Upload-Content-Length": "10",
                "X-Upload-Content-Type": "video/mp4",
            },
            json={"snippet": {"title": "Lễ chào cờ"}, "status": {"privacyStatus": "private"}},
        )
        assert start.status_code == 200, start.text
        refresh = {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
        }
        assert http.post(f"{emulator.base_url}/token", data=refresh).status_code == 200
        # The code was spent by its first exchange.
        reused = google_exchange(http, emulator, back.params["code"], verifier)
        assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")


def test_google_refusals(tmp_path: Path, http: httpx.Client) -> None:
    with YouTubeEmulator(tmp_path) as emulator:
        emulator.consent.register_redirect(CALLBACK)
        verifier, challenge = pkce_pair()
        denied = click_consent(http, google_authorize(emulator, challenge), "deny")
        assert dict(denied.params) == {"error": "access_denied", "state": "st-1"}

        back = click_consent(http, google_authorize(emulator, challenge))
        wrong = google_exchange(http, emulator, back.params["code"], pkce_pair()[0])
        assert (wrong.status_code, wrong.json()) == (
            400, {"error": "invalid_grant", "error_description": "Invalid code verifier."}
        )  # fmt: skip
        # The wrong attempt spent the code: the right verifier comes too late.
        assert google_exchange(http, emulator, back.params["code"], verifier).json()["error"] == "invalid_grant"

        back = click_consent(http, google_authorize(emulator, challenge))
        emulator.advance(CODE_LIFETIME_S + 1)
        assert google_exchange(http, emulator, back.params["code"], verifier).json()["error"] == "invalid_grant"

        back = click_consent(http, google_authorize(emulator, challenge, access_type="online"))
        online = google_exchange(http, emulator, back.params["code"], verifier)
        assert online.status_code == 200 and "refresh_token" not in online.json()

        back = click_consent(http, google_authorize(emulator, challenge))
        form = {"code": back.params["code"], "redirect_uri": CALLBACK + "/other", "code_verifier": verifier}
        mismatch = http.post(
            f"{emulator.base_url}/token",
            data={**form, "grant_type": "authorization_code", "client_id": "cid", "client_secret": "csecret"},
        )
        assert (mismatch.status_code, mismatch.json()["error"]) == (400, "redirect_uri_mismatch")

        # A redirect the app never registered gets an error page, never a redirect.
        page = http.get(google_authorize(emulator, challenge, redirect_uri="https://evil.example/cb"))
        assert page.status_code == 400 and "redirect_uri_mismatch" in page.text
        assert emulator.count("code_exchange") == 5


def test_tiktok_consent_and_code_exchange(tmp_path: Path, http: httpx.Client) -> None:
    with TikTokEmulator(tmp_path) as emulator:
        emulator.consent.register_redirect(CALLBACK)
        verifier, challenge = pkce_pair()
        query = {
            "client_key": emulator.client_key,
            "scope": "video.publish,video.upload",
            "redirect_uri": CALLBACK,
            "state": "st-tt",
            "response_type": "code",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = f"{emulator.base_url}/v2/auth/authorize/?{urlencode(query)}"
        denied = click_consent(http, url, "deny")
        assert (denied.params["error"], denied.params["state"]) == ("access_denied", "st-tt")

        def exchange(code: str, verifier: str) -> dict[str, str]:
            form = {
                "client_key": emulator.client_key,
                "client_secret": emulator.client_secret,
                "code": code,
                "grant_type": "authorization_code",
                "redirect_uri": CALLBACK,
                "code_verifier": verifier,
            }
            return dict(http.post(f"{emulator.base_url}/v2/oauth/token/", data=form).json())

        back = click_consent(http, url)
        assert back.params["scopes"] == "video.publish,video.upload"
        assert exchange(back.params["code"], pkce_pair()[0])["error"] == "invalid_request"
        back = click_consent(http, url)
        tokens = exchange(back.params["code"], verifier)
        assert tokens["refresh_token"] == emulator.refresh_token and tokens["open_id"]
        assert exchange(back.params["code"], verifier)["error"] == "invalid_grant"
        info = http.post(
            f"{emulator.base_url}/v2/post/publish/creator_info/query/",
            headers={"Authorization": f"Bearer {tokens['access_token']}", "Content-Type": "application/json"},
        )
        assert info.status_code == 200 and info.json()["error"]["code"] == "ok"


def test_facebook_code_long_lived_user_token_and_page_token(tmp_path: Path, http: httpx.Client) -> None:
    with FacebookEmulator(tmp_path) as emulator:
        emulator.consent.register_redirect(CALLBACK)
        graph = f"{emulator.base_url}/v25.0"
        verifier, challenge = pkce_pair()
        query = {
            "client_id": emulator.app_id,
            "redirect_uri": CALLBACK,
            "state": "st-fb",
            "scope": "pages_show_list,pages_manage_posts,publish_video",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = f"{graph}/dialog/oauth?{urlencode(query)}"
        denied = click_consent(http, url, "deny")
        assert (denied.params["error"], denied.params["error_reason"]) == ("access_denied", "user_denied")
        app = {"client_id": emulator.app_id, "client_secret": emulator.app_secret}
        back = click_consent(http, url)
        code = {**app, "redirect_uri": CALLBACK, "code": back.params["code"]}
        wrong = http.get(f"{graph}/oauth/access_token", params={**code, "code_verifier": "x" * 43})
        assert wrong.status_code == 400 and wrong.json()["error"]["code"] == 100

        back = click_consent(http, url)
        code = {**app, "redirect_uri": CALLBACK, "code": back.params["code"], "code_verifier": verifier}
        short = http.get(f"{graph}/oauth/access_token", params=code).json()["access_token"]
        reused = http.get(f"{graph}/oauth/access_token", params=code)
        assert reused.json()["error"]["message"] == "This authorization code has been used."
        exchange = {**app, "grant_type": "fb_exchange_token", "fb_exchange_token": short}
        long_lived = http.get(f"{graph}/oauth/access_token", params=exchange).json()
        assert long_lived["expires_in"] > SHORT_LIVED_S
        emulator.advance(SHORT_LIVED_S + 1)  # the short-lived token is dead, the long-lived one works
        assert http.get(f"{graph}/me/accounts", params={"access_token": short}).status_code == 400
        pages = http.get(f"{graph}/me/accounts", params={"access_token": long_lived["access_token"]}).json()["data"]
        assert [p["id"] for p in pages] == [emulator.page_id]
        listed = http.get(f"{graph}/{emulator.page_id}/videos", params={"access_token": pages[0]["access_token"]})
        assert listed.status_code == 200 and listed.json() == {"data": []}
        started = http.post(
            f"{graph}/{emulator.app_id}/uploads",
            params={
                "access_token": long_lived["access_token"],
                "file_name": "a.mp4",
                "file_length": "10",
                "file_type": "video/mp4",
            },
        )
        assert started.status_code == 200, started.text


def test_zalo_oa_permission_and_code_exchange(tmp_path: Path, http: httpx.Client) -> None:
    with ZaloEmulator(tmp_path) as emulator:
        emulator.consent.register_redirect(CALLBACK)
        verifier, challenge = pkce_pair()
        query = {"app_id": emulator.app_id, "redirect_uri": CALLBACK, "code_challenge": challenge, "state": "st-z"}
        url = f"{emulator.base_url}/v4/oa/permission?{urlencode(query)}"
        assert click_consent(http, url, "deny").params["error"] == "access_denied"
        token_url, headers = f"{emulator.base_url}/v4/oa/access_token", {"secret_key": emulator.secret_key}

        def exchange(code: str, verifier: str) -> dict[str, object]:
            form = {"app_id": emulator.app_id, "grant_type": "authorization_code", "code": code}
            return dict(http.post(token_url, data={**form, "code_verifier": verifier}, headers=headers).json())

        back = click_consent(http, url)
        assert (back.params["oa_id"], back.params["state"]) == (emulator.oa_id, "st-z")
        assert exchange(back.params["code"], pkce_pair()[0])["error"] == -14019
        back = click_consent(http, url)
        tokens = exchange(back.params["code"], verifier)
        assert exchange(back.params["code"], verifier)["error"] == -14005
        listed = http.get(
            f"{emulator.base_url}/v2.0/article/getslice",
            params={"offset": "0", "limit": "5", "type": "normal"},
            headers={"access_token": str(tokens["access_token"])},
        )
        assert listed.json()["error"] == 0, listed.text
        # The granted refresh token refreshes once, then rotates.
        form = {"app_id": emulator.app_id, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        assert http.post(token_url, data=form, headers=headers).json()["refresh_token"] != tokens["refresh_token"]
        assert http.post(token_url, data=form, headers=headers).json()["error"] == -14014
