"""Ingest's connect flow against the platform emulators (real HTTP, tests/support/emulators), on ingest's real
database; the channels store is a stand-in here (its own tests are test_ingest_channels)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from loa_core.auth import bearer_dependency, hash_token
from loa_core.contracts import new_id
from loa_core.contracts.channels import Channel, ChannelState
from loa_core.ingest_credentials import AuthorizationLost, IngestCredentials
from loa_core.secrets import SecretBox, new_key
from loa_core.storage import LocalStorage
from loa_ingest.accounts import ENCRYPTED_COLUMNS as ACCOUNT_SECRETS
from loa_ingest.accounts import LockoutPolicy, People
from loa_ingest.credentials import Credentials, SignIn, SignIns, StateRefused, reencrypt
from loa_ingest.oauth_api import internal_router, oauth_router
from loa_ingest.settings import IngestSettings
from loa_ingest.state import IngestState, open_state
from loa_publisher.adapters.facebook import FacebookAdapter
from loa_publisher.auth import RefresherPerChannel, Secrets
from loa_publisher.ledger import Ledger, PostKey
from tests.support.emulators.facebook import FacebookEmulator
from tests.support.emulators.oauth import click_consent
from tests.support.emulators.tiktok import TikTokEmulator
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.emulators.zalo import ZaloEmulator
from tests.support.publishing import FAST, ledger_session, metadata, request_for, stored_rendition

PUBLIC = "http://testserver"
CALLBACK = f"{PUBLIC}/oauth/callback"
SERVICE_TOKEN = "service-token-for-the-publisher"


@dataclass
class Stored:
    channel: Channel


@dataclass
class Directory:
    """A stand-in for loa_ingest.channels.ChannelStore: the three calls the connect flow makes."""

    channels: dict[str, Channel] = field(default_factory=dict)

    def get(self, name: str) -> Stored | None:
        return Stored(self.channels[name]) if name in self.channels else None

    async def connect(self, name: str, connection_id: str) -> object:
        update = {"state": ChannelState.CONNECTED, "connection_id": connection_id}
        self.channels[name] = self.channels[name].model_copy(update=update)
        return None

    async def disconnect(self, name: str, reason: str) -> object:
        self.channels[name] = self.channels[name].model_copy(update={"state": ChannelState.DISCONNECTED})
        return None


@dataclass
class Flow:
    ingest: TestClient
    browser: httpx.Client  # the person's browser at the platform
    directory: Directory
    state: IngestState
    db_path: Path
    tokens: dict[str, str]  # ward -> a ward admin's token
    youtube: YouTubeEmulator
    tiktok: TikTokEmulator
    facebook: FacebookEmulator
    zalo: ZaloEmulator

    def as_ward(self, ward: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[ward]}"}

    def start(self, name: str, ward: str = "p1") -> str:
        started = self.ingest.get(f"/channels/{name}/connect", headers=self.as_ward(ward), follow_redirects=False)
        assert started.status_code == 302, started.text
        return started.headers["Location"]

    def callback(self, back: httpx.URL, ward: str = "p1") -> httpx.Response:
        assert str(back).startswith(CALLBACK)
        return self.ingest.get(f"/oauth/callback?{back.query.decode()}", headers=self.as_ward(ward))

    def stored_column(self) -> str:
        with sqlite3.connect(self.db_path) as db:
            return " ".join(row[0] for row in db.execute("SELECT tokens FROM channel_credentials"))

    def internal(self, path: str, token: str = SERVICE_TOKEN) -> httpx.Response:
        return self.ingest.get(f"/internal/credentials/{path}", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def flow(tmp_path: Path) -> Iterator[Flow]:
    with (
        YouTubeEmulator(tmp_path / "yt") as youtube,
        TikTokEmulator(tmp_path / "tt") as tiktok,
        FacebookEmulator(tmp_path / "fb") as facebook,
        ZaloEmulator(tmp_path / "zl") as zalo,
    ):
        for emulator in (youtube, tiktok, facebook, zalo):
            emulator.consent.register_redirect(CALLBACK)
        settings = IngestSettings(
            data_dir=tmp_path,
            public_url=PUBLIC,
            service_token_hashes=hash_token(SERVICE_TOKEN),
            youtube_client_id=youtube.client_id,
            youtube_client_secret=youtube.client_secret,
            youtube_authorize_url=f"{youtube.base_url}/o/oauth2/v2/auth",
            youtube_token_url=f"{youtube.base_url}/token",
            tiktok_client_key=tiktok.client_key,
            tiktok_client_secret=tiktok.client_secret,
            tiktok_authorize_url=f"{tiktok.base_url}/v2/auth/authorize/",
            tiktok_token_url=f"{tiktok.base_url}/v2/oauth/token/",
            facebook_app_id=facebook.app_id,
            facebook_app_secret=facebook.app_secret,
            facebook_authorize_url=f"{facebook.base_url}/v25.0/dialog/oauth",
            facebook_graph_url=f"{facebook.base_url}/v25.0",
            zalo_app_id=zalo.app_id,
            zalo_secret_key=zalo.secret_key,
            zalo_authorize_url=f"{zalo.base_url}/v4/oa/permission",
            zalo_token_url=f"{zalo.base_url}/v4/oa/access_token",
        )  # type: ignore[arg-type]  # SecretStr fields take plain strings
        state = open_state(settings.state_location(), tmp_path / "spool")
        box = SecretBox([new_key()])
        directory = Directory(
            {
                f"p1-{p}": Channel(
                    name=f"p1-{p}",
                    platform=p,
                    profiles=("youtube",),
                    ward="p1",
                    state=ChannelState.DISCONNECTED,
                    options={"page_id": facebook.page_id} if p == "facebook" else {},
                )
                for p in ("youtube", "tiktok", "facebook", "zalo", "local")
            }
        )
        api = FastAPI()
        tokens = state.tokens

        def requires(role: str):  # type: ignore[no-untyped-def]
            return bearer_dependency(lambda: frozenset(), tokens, need=role)  # type: ignore[arg-type]

        http = httpx.AsyncClient(timeout=10.0)
        api.include_router(
            oauth_router(
                settings,
                directory,
                SignIns(state.engines[0], box, 600.0),
                Credentials(state.engines[0], box),
                requires,
                http,
            )
        )
        api.include_router(internal_router(settings, directory, Credentials(state.engines[0], box)))
        ward_tokens = {ward: tokens.create("ward_admin", "admin", "test", ward=ward).token for ward in ("p1", "p2")}
        with TestClient(api, base_url=PUBLIC) as ingest, httpx.Client(timeout=10.0) as browser:
            yield Flow(
                ingest,
                browser,
                directory,
                state,
                tmp_path / "ingest.sqlite3",
                ward_tokens,
                youtube,
                tiktok,
                facebook,
                zalo,
            )
            assert ingest.portal is not None
            ingest.portal.call(http.aclose)  # on the loop its connections belong to
        state.close()


@pytest.mark.parametrize("platform", ["youtube", "tiktok", "facebook", "zalo"])
def test_a_full_connect_stores_the_tokens_encrypted_and_connects_the_channel(flow: Flow, platform: str) -> None:
    name = f"p1-{platform}"
    authorize = flow.start(name)
    assert "code_challenge=" in authorize and "state=" in authorize
    done = flow.callback(click_consent(flow.browser, authorize))
    assert done.status_code == 200, done.text
    channel = flow.directory.channels[name]
    assert channel.state is ChannelState.CONNECTED and channel.connection_id
    given = flow.internal(name).json()
    assert given["connection_id"] == channel.connection_id
    secrets = given["secrets"]
    expected = {
        "youtube": {"client_id", "client_secret", "refresh_token"},
        "tiktok": {"client_key", "client_secret", "refresh_token"},
        "facebook": {"user_token", "page_token"},
        "zalo": {"app_id", "secret_key", "refresh_token"},
    }[platform]
    assert set(secrets) == expected
    if "refresh_token" in secrets:
        emulator = getattr(flow, platform)
        assert secrets["refresh_token"] == emulator.refresh_token
    else:
        assert flow.facebook.page_token_valid(secrets["page_token"])
        assert flow.facebook.user_token_valid(secrets["user_token"])
    column = flow.stored_column()
    stored = [v for k, v in secrets.items() if k in ("refresh_token", "user_token", "page_token")]
    assert stored and column and all(value not in column for value in stored)

    # Connected again: a new connection id, and the old one's tokens are gone.
    again = flow.callback(click_consent(flow.browser, flow.start(name)))
    assert again.status_code == 200
    assert flow.directory.channels[name].connection_id != channel.connection_id
    assert flow.internal(f"{name}?connection_id={channel.connection_id}").status_code == 409


def test_refused_callbacks_change_nothing(flow: Flow) -> None:
    name = "p1-youtube"

    def refused(response: httpx.Response, words: str, before: Channel) -> None:
        assert response.status_code == 400, response.text
        assert words in response.json()["detail"] and " / " in response.json()["detail"]
        assert flow.directory.channels[name] == before

    before = flow.directory.channels[name]
    refused(flow.callback(click_consent(flow.browser, flow.start(name), "deny")), "access_denied", before)
    back = click_consent(flow.browser, flow.start(name))
    forged = flow.ingest.get(f"/oauth/callback?code={back.params['code']}&state=forged", headers=flow.as_ward("p1"))
    refused(forged, "not known", before)
    refused(flow.callback(back, ward="p2"), "another ward", before)
    back = click_consent(flow.browser, flow.start(name))
    flow.ingest.cookies.clear()  # as if the callback came to another browser
    refused(flow.callback(back), "another browser", before)
    back = click_consent(flow.browser, flow.start(name))
    assert flow.callback(back).status_code == 200
    connected = flow.directory.channels[name]
    refused(flow.callback(back), "already used", connected)


def test_expired_state_wrong_verifier_and_reused_code(flow: Flow) -> None:
    name = "p1-tiktok"
    before = flow.directory.channels[name]
    settings_ttl = 600.0
    back = click_consent(flow.browser, flow.start(name))
    with sqlite3.connect(flow.db_path) as db:
        db.execute("UPDATE oauth_states SET expires_at = expires_at - ?", (settings_ttl + 1,))
    expired = flow.callback(back)
    assert expired.status_code == 400 and "expired" in expired.json()["detail"]
    assert flow.directory.channels[name] == before
    # The platform refuses the code (spent by an attacker who saw it): the state is spent, nothing changes.
    back = click_consent(flow.browser, flow.start(name))
    stolen = {
        "client_key": flow.tiktok.client_key,
        "client_secret": flow.tiktok.client_secret,
        "code": back.params["code"],
        "grant_type": "authorization_code",
        "redirect_uri": CALLBACK,
        "code_verifier": "x" * 50,
    }
    assert "error" in flow.browser.post(f"{flow.tiktok.base_url}/v2/oauth/token/", data=stolen).json()
    refused = flow.callback(back)
    assert refused.status_code == 400 and "refused the sign-in" in refused.json()["detail"]
    assert "invalid_grant" in refused.json()["detail"]
    assert flow.directory.channels[name] == before


def test_who_may_connect_and_read_credentials(flow: Flow) -> None:
    assert flow.ingest.get("/channels/p1-youtube/connect", headers=flow.as_ward("p2"), follow_redirects=False
                           ).status_code == 404  # fmt: skip
    assert flow.ingest.get("/channels/p1-youtube/connect", follow_redirects=False).status_code == 401
    local = flow.ingest.get("/channels/p1-local/connect", headers=flow.as_ward("p1"), follow_redirects=False)
    assert local.status_code == 400 and "local" in local.json()["detail"]
    flow.callback(click_consent(flow.browser, flow.start("p1-zalo")))
    # A person's token, even a ward admin's of that ward, never reads credentials.
    assert flow.internal("p1-zalo", token=flow.tokens["p1"]).status_code == 403
    assert flow.ingest.get("/internal/credentials/p1-zalo").status_code == 401
    assert flow.internal("p1-youtube").status_code == 404  # never connected


def test_rotation_and_lost_authorization_from_the_publisher(flow: Flow) -> None:
    name = "p1-zalo"
    flow.callback(click_consent(flow.browser, flow.start(name)))
    connection = flow.directory.channels[name].connection_id
    auth = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    put = flow.ingest.put(
        f"/internal/credentials/{name}/{connection}/refresh_token", json={"refresh_token": "zrt-rotated"}, headers=auth
    )
    assert put.status_code == 204
    assert flow.internal(name).json()["secrets"]["refresh_token"] == "zrt-rotated"
    assert "zrt-rotated" not in flow.stored_column()
    stale = flow.ingest.post(f"/internal/credentials/{name}/not-this-one/disconnected", json={"reason": "x"},
                             headers=auth)  # fmt: skip
    assert stale.status_code == 409 and flow.directory.channels[name].state is ChannelState.CONNECTED
    lost = flow.ingest.post(
        f"/internal/credentials/{name}/{connection}/disconnected",
        json={"reason": "-14014 Invalid refresh token"},
        headers=auth,
    )
    assert lost.status_code == 204 and flow.directory.channels[name].state is ChannelState.DISCONNECTED
    assert flow.internal(name).status_code == 404  # posts wait; nothing to read until a reconnection


async def test_the_publisher_refreshes_a_connected_channel_and_reports_a_lost_authorization(
    flow: Flow, tmp_path: Path
) -> None:
    """The publisher's side (loa_publisher.auth) against this ingest and the Zalo emulator: credentials fetched by
    connection, a rotation kept in the ledger and in ingest, a refused refresh reported as a lost authorization."""
    name = "p1-zalo"
    flow.callback(click_consent(flow.browser, flow.start(name)))
    channel = flow.directory.channels[name].model_copy(
        update={"options": {"token_url": f"{flow.zalo.base_url}/v4/oa/access_token"}}
    )
    ingest = httpx.AsyncClient(transport=httpx.ASGITransport(app=flow.ingest.app), base_url=PUBLIC)
    platform = httpx.AsyncClient(timeout=10.0)
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", secrets=SecretBox([new_key()]))
    try:
        secrets = Secrets(None, {}, connections=IngestCredentials(PUBLIC, SERVICE_TOKEN, ingest))
        refreshers = RefresherPerChannel(platform, secrets, ledger, FAST)
        tokens = refreshers.get(channel, token_url=str(channel.options["token_url"]), form=("app_id",),
                                headers=("secret_key",))  # fmt: skip
        assert await tokens.token() in flow.zalo.valid_tokens
        rotated = flow.zalo.refresh_token
        assert ledger.refresh_token(name, str(channel.connection_id)) == rotated
        assert flow.internal(name).json()["secrets"]["refresh_token"] == rotated
        flow.zalo.refresh_token = "revoked-by-the-oa"  # the OA admin removed Loa's permission
        with pytest.raises(AuthorizationLost, match="refused its authorization"):
            await tokens.refresh()
        assert flow.directory.channels[name].state is ChannelState.DISCONNECTED
    finally:
        await ingest.aclose()
        await platform.aclose()
        ledger.close()


def test_sign_ins_expired_a_day_ago_are_forgotten(tmp_path: Path) -> None:
    state = open_state(tmp_path / "ingest.sqlite3", tmp_path / "spool")
    now = [1_000_000.0]
    sign_ins = SignIns(state.engines[0], SecretBox([new_key()]), 600.0, clock=lambda: now[0])
    old = sign_ins.start("p1-youtube", "p1", "admin", CALLBACK)
    now[0] += 86400 + 601
    fresh = sign_ins.start("p1-youtube", "p1", "admin", CALLBACK)
    assert sign_ins.sweep() == 1
    assert sign_ins.finish(old.state, old.browser) is StateRefused.UNKNOWN
    assert isinstance(sign_ins.finish(fresh.state, fresh.browser), SignIn)
    state.close()


def test_a_new_key_put_first_reencrypts_what_ingest_keeps(tmp_path: Path) -> None:
    state = open_state(tmp_path / "ingest.sqlite3", tmp_path / "spool")
    old, new = new_key(), new_key()
    engine = state.engines[0]
    connection = Credentials(engine, SecretBox([old])).store("p1-zalo", {"refresh_token": "zrt-kept"})
    pending = SignIns(engine, SecretBox([old]), 600.0).start("p1-zalo", "p1", "admin", CALLBACK)
    assert reencrypt(engine, SecretBox([new, old])) == 2
    assert reencrypt(engine, SecretBox([new, old])) == 0  # done once
    # The old key can go now.
    assert Credentials(engine, SecretBox([new])).tokens("p1-zalo", connection) == {"refresh_token": "zrt-kept"}
    finished = SignIns(engine, SecretBox([new]), 600.0).finish(pending.state, pending.browser)
    assert isinstance(finished, SignIn) and finished.verifier == pending.verifier
    state.close()


async def test_a_connected_facebook_page_whose_tokens_are_revoked_is_disconnected(flow: Flow, tmp_path: Path) -> None:
    name = "p1-facebook"
    flow.callback(click_consent(flow.browser, flow.start(name)))
    fb = flow.facebook
    options = {"base_url": fb.base_url, "app_id": fb.app_id, "page_id": fb.page_id}
    channel = flow.directory.channels[name].model_copy(update={"options": options})
    ingest = httpx.AsyncClient(transport=httpx.ASGITransport(app=flow.ingest.app), base_url=PUBLIC)
    platform = httpx.AsyncClient(timeout=10.0)
    storage = LocalStorage(tmp_path / "storage")
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    try:
        adapter = FacebookAdapter(
            storage,
            platform,
            Secrets(None, {}, connections=IngestCredentials(PUBLIC, SERVICE_TOKEN, ingest)),
            policy=FAST,
        )

        async def publish() -> str:
            footage_id = new_id()
            rendition = stored_rendition(storage, 100_000, "youtube", footage_id)
            request = request_for(channel, rendition, footage_id, metadata((name,)))
            key = PostKey(footage_id, name, "youtube")
            return (await adapter.publish(request, ledger_session(ledger, key))).post_id

        assert await publish() in fb.videos  # the connection's long-lived user token and Page token
        fb.user_tokens.clear()  # the Page admin removed Loa's app
        fb.page_tokens.clear()
        with pytest.raises(AuthorizationLost, match="rejected its tokens"):
            await publish()
        assert flow.directory.channels[name].state is ChannelState.DISCONNECTED
    finally:
        await ingest.aclose()
        await platform.aclose()
        ledger.close()


def test_a_new_key_put_first_reencrypts_peoples_second_factor_too(tmp_path: Path) -> None:
    state = open_state(tmp_path / "ingest.sqlite3", tmp_path / "spool")
    old, new = new_key(), new_key()
    engine = state.engines[0]
    fast = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    people = People(engine, SecretBox([old]), LockoutPolicy(), hasher=fast)
    people.create_ward("p1", "Phường 1")
    approver = people.create("duyet.p1", "Người duyệt", "p1", "approver", "password-p1-approver", created_by="test")
    enrolled = people.totp_secret(approver.id)
    assert reencrypt(engine, SecretBox([new, old]), ACCOUNT_SECRETS) == 1
    assert reencrypt(engine, SecretBox([new, old]), ACCOUNT_SECRETS) == 0  # done once
    # The old key can go now: the approver's authenticator app keeps working.
    assert People(engine, SecretBox([new]), LockoutPolicy(), hasher=fast).totp_secret(approver.id) == enrolled
    state.close()
