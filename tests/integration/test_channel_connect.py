"""Channels connected with each platform's own sign-in, end to end over real HTTP: ingest as a process, the four
platform emulators' consent pages and token endpoints, the publisher as a process on a real broker.

A ward admin connects a YouTube, TikTok, Facebook and Zalo channel (authorize → consent → callback); the tokens
are stored encrypted (the database column holds none of them); the refused callbacks change nothing; the publisher
posts with the connected credentials, keeps Zalo's rotating refresh token across its own restart, and when the
platform refuses the refresh token the channel shows as disconnected and its post waits, then goes out once the
channel is connected again. Metrics polls the connected TikTok and Zalo channels with access tokens the publisher
refreshed (it alone spends their rotating refresh tokens). No secret configured or issued in the run appears in any
log line."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from loa_core.auth import hash_token, new_token
from loa_core.channels import Channel
from loa_core.contracts import POSTS_FAILED, POSTS_PUBLISHED, RENDITIONS_READY, PostPublished, new_id
from loa_core.kafka import EventProducer, ensure_topics
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from loa_metrics.channel_tokens import ChannelTokens, PublisherTokens
from loa_metrics.engagement import TikTokStats, ZaloStats
from loa_publisher.decide import DISCONNECTED
from loa_publisher.ledger import Ledger, PostState
from tests.support.emulators.facebook import FacebookEmulator
from tests.support.emulators.oauth import click_consent
from tests.support.emulators.tiktok import TikTokEmulator
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.emulators.zalo import ZaloEmulator
from tests.support.ingest import IngestProcess, run_ingest
from tests.support.kafka import read_topic
from tests.support.publisher_process import PublisherProcess
from tests.support.publishing import event_for, metadata, stored_rendition
from tests.support.stats_emulators import TikTokStatsEmulator, ZaloStatsEmulator

SERVICE_TOKEN = new_token()
TOKEN_NAMES = ("refresh_token", "user_token", "page_token")  # what a connection stores (the app's own are settings)
PROFILES = {"youtube": "youtube", "tiktok": "tiktok", "facebook": "youtube", "zalo": "zalo"}


@dataclass
class World:
    ingest: IngestProcess
    admin: dict[str, str]  # a ward admin of p1
    other: dict[str, str]  # a ward admin of p2
    youtube: YouTubeEmulator
    tiktok: TikTokEmulator
    facebook: FacebookEmulator
    zalo: ZaloEmulator
    issued: set[str]  # every token the run saw issued, for the log check

    def name(self, platform: str) -> str:
        return f"p1-{platform}"

    def channel(self, platform: str) -> dict[str, object]:
        answer = httpx.get(f"{self.ingest.url}/channels/{self.name(platform)}", headers=self.admin)
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["channel"])

    def connect(self, platform: str, decision: str = "allow", as_ward: str = "p1") -> httpx.Response:
        """The ward admin's browser: connect → the platform's consent page → back to ingest's callback."""
        with httpx.Client(timeout=30.0) as browser:
            started = browser.get(f"{self.ingest.url}/channels/{self.name(platform)}/connect", headers=self.admin)
            assert started.status_code == 302, started.text
            back = click_consent(browser, started.headers["Location"], decision)
            assert str(back).startswith(f"{self.ingest.url}/oauth/callback?")
            return browser.get(str(back), headers=self.admin if as_ward == "p1" else self.other)

    def credentials(self, platform: str) -> dict[str, str]:
        answer = httpx.get(
            f"{self.ingest.url}/internal/credentials/{self.name(platform)}",
            headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
        )
        assert answer.status_code == 200, answer.text
        secrets = dict(answer.json()["secrets"])
        # Identifiers (client_id, client_key, app_id) are public; the rest are secrets.
        self.issued.update(v for k, v in secrets.items() if k not in ("client_id", "client_key", "app_id"))
        return secrets

    def stored_column(self) -> str:
        with sqlite3.connect(self.ingest.root / "data" / "ingest.sqlite3") as db:
            return " ".join(row[0] for row in db.execute("SELECT tokens FROM channel_credentials"))


@pytest.fixture(scope="module")
def world(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("connect")
    with (
        YouTubeEmulator(root / "yt") as youtube,
        TikTokEmulator(root / "tt") as tiktok,
        FacebookEmulator(root / "fb") as facebook,
        ZaloEmulator(root / "zl") as zalo,
    ):
        # Secrets long and unique enough that finding one in a log means it leaked.
        youtube.client_secret = f"google-client-secret-{new_id()}"
        tiktok.client_secret = f"tiktok-client-secret-{new_id()}"
        facebook.app_secret = f"facebook-app-secret-{new_id()}"
        zalo.secret_key = f"zalo-secret-key-{new_id()}"
        env = {
            "LOA_SERVICE_TOKEN_HASHES": hash_token(SERVICE_TOKEN),
            "LOA_YOUTUBE_CLIENT_ID": youtube.client_id,
            "LOA_YOUTUBE_CLIENT_SECRET": youtube.client_secret,
            "LOA_YOUTUBE_AUTHORIZE_URL": f"{youtube.base_url}/o/oauth2/v2/auth",
            "LOA_YOUTUBE_TOKEN_URL": f"{youtube.base_url}/token",
            "LOA_TIKTOK_CLIENT_KEY": tiktok.client_key,
            "LOA_TIKTOK_CLIENT_SECRET": tiktok.client_secret,
            "LOA_TIKTOK_AUTHORIZE_URL": f"{tiktok.base_url}/v2/auth/authorize/",
            "LOA_TIKTOK_TOKEN_URL": f"{tiktok.base_url}/v2/oauth/token/",
            "LOA_FACEBOOK_APP_ID": facebook.app_id,
            "LOA_FACEBOOK_AUTHORIZE_URL": f"{facebook.base_url}/v25.0/dialog/oauth",
            "LOA_FACEBOOK_GRAPH_URL": f"{facebook.base_url}/v25.0",
            "LOA_ZALO_APP_ID": zalo.app_id,
            "LOA_ZALO_SECRET_KEY": zalo.secret_key,
            "LOA_ZALO_AUTHORIZE_URL": f"{zalo.base_url}/v4/oa/permission",
            "LOA_ZALO_TOKEN_URL": f"{zalo.base_url}/v4/oa/access_token",
        }
        # One secret from a file, as a Docker or Kubernetes secret is mounted.
        (root / "fb-secret").write_text(facebook.app_secret + "\n")
        env["LOA_FACEBOOK_APP_SECRET_FILE"] = str(root / "fb-secret")
        with run_ingest(root / "ingest", kafka_broker.bootstrap, env) as ingest:
            for emulator in (youtube, tiktok, facebook, zalo):
                emulator.consent.register_redirect(f"{ingest.url}/oauth/callback")
            tokens = {}
            for ward in ("p1", "p2"):
                made = httpx.post(
                    f"{ingest.url}/tokens", headers=ingest.headers(), json={"role": "ward_admin", "ward": ward}
                )
                assert made.status_code == 201, made.text
                tokens[ward] = ingest.headers(made.json()["token"])
            options = {
                "youtube": {"base_url": youtube.base_url, "token_url": f"{youtube.base_url}/token"},
                "tiktok": {"base_url": tiktok.base_url},
                "facebook": {"base_url": facebook.base_url, "app_id": facebook.app_id, "page_id": facebook.page_id},
                "zalo": {"base_url": zalo.base_url, "token_url": f"{zalo.base_url}/v4/oa/access_token"},
            }
            for platform, profile in PROFILES.items():
                added = httpx.post(
                    f"{ingest.url}/channels",
                    headers=tokens["p1"],
                    json={
                        "name": f"p1-{platform}",
                        "platform": platform,
                        "profiles": [profile],
                        "options": options[platform],
                        "approval_required": False,
                    },
                )
                assert added.status_code == 201, added.text
            yield World(ingest, tokens["p1"], tokens["p2"], youtube, tiktok, facebook, zalo, set())


def test_each_platform_connects_and_its_tokens_are_stored_encrypted(world: World) -> None:
    for platform in PROFILES:
        assert world.channel(platform)["state"] == "disconnected"
        done = world.connect(platform)
        assert done.status_code == 200, done.text
        channel = world.channel(platform)
        assert channel["state"] == "connected" and channel["connection_id"]
        secrets = world.credentials(platform)
        column = world.stored_column()
        tokens = {name: value for name, value in secrets.items() if name in TOKEN_NAMES}
        assert tokens and column and not [name for name, value in tokens.items() if value in column]
    assert world.credentials("youtube")["refresh_token"] == world.youtube.refresh_token
    assert world.facebook.page_token_valid(world.credentials("facebook")["page_token"])


def test_refused_callbacks_change_nothing(world: World) -> None:
    before = world.channel("youtube")

    def refused(response: httpx.Response, words: str) -> None:
        assert response.status_code == 400, response.text
        detail = response.json()["detail"]
        assert words in detail and " / " in detail  # English / Vietnamese
        assert world.channel("youtube") == before

    refused(world.connect("youtube", "deny"), "access_denied")
    refused(world.connect("youtube", as_ward="p2"), "another ward")
    with httpx.Client(timeout=30.0) as browser:
        started = browser.get(f"{world.ingest.url}/channels/p1-youtube/connect", headers=world.admin)
        back = click_consent(browser, started.headers["Location"])
        forged = str(back).replace(f"state={back.params['state']}", "state=forged-state")
        refused(browser.get(forged, headers=world.admin), "not known")
        with sqlite3.connect(world.ingest.root / "data" / "ingest.sqlite3") as db:  # time passes: the state expires
            db.execute("UPDATE oauth_states SET expires_at = 0 WHERE used_at IS NULL")
        refused(browser.get(str(back), headers=world.admin), "expired")
        refused(browser.get(str(back), headers=world.admin), "already used")
    # The service keeps serving: a real sign-in still works.
    assert world.connect("youtube").status_code == 200


def send(bootstrap: str, prefix: str, event: object) -> None:
    async def go() -> None:
        await ensure_topics(bootstrap, prefix, (RENDITIONS_READY,))
        producer = EventProducer(bootstrap, prefix)
        try:
            await producer.send(RENDITIONS_READY, event)  # type: ignore[arg-type]
        finally:
            await producer.stop()

    asyncio.run(go())


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s\n{logs()}")
        time.sleep(0.1)


def test_posts_go_out_with_the_connected_credentials_rotation_survives_a_restart_and_a_revoked_sign_in_waits(
    world: World, kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    bootstrap, prefix = kafka_broker.bootstrap, world.ingest.prefix
    if world.channel("zalo")["state"] != "connected":
        assert world.connect("zalo").status_code == 200
    for platform in PROFILES:
        assert world.channel(platform)["state"] == "connected"
    publisher = PublisherProcess(
        tmp_path / "publisher",
        bootstrap=bootstrap,
        prefix=prefix,
        channels=[],  # every channel from the registry ingest writes
        token=new_token(),
        env={"LOA_INGEST_URL": world.ingest.url, "LOA_SERVICE_TOKEN": SERVICE_TOKEN, "LOA_STATUS_POLL_S": "0.2"},
    )
    storage = LocalStorage(publisher.root / "storage")
    published_topic = POSTS_PUBLISHED.full_name(prefix)

    def logs() -> str:
        return f"{publisher.log_tail()}\n--- ingest ---\n{world.ingest.log()[-4000:]}"

    def publish(platforms: tuple[str, ...]) -> str:
        footage_id = new_id()
        names = tuple(world.name(p) for p in platforms)
        renditions = {PROFILES[p]: stored_rendition(storage, 300_000, PROFILES[p], footage_id) for p in platforms}
        send(bootstrap, prefix, event_for(footage_id, metadata(names), *renditions.values()))
        return footage_id

    def posted(footage_id: str) -> list[str]:
        records = read_topic(bootstrap, published_topic, timeout_s=1)
        return sorted(
            p.channel for p in (PostPublished.from_bytes(r.value) for r in records) if p.footage_id == footage_id
        )

    publisher.start()
    try:
        first = publish(tuple(PROFILES))
        wait_for("four posts", lambda: len(posted(first)) == 4, 120, logs)
        assert len(world.youtube.videos) == 1 and len(world.tiktok.videos) == 1
        assert len(world.facebook.videos) == 1 and len(world.zalo.articles) == 1
        spent = world.zalo.spent_refresh_tokens.copy()
        assert spent, "Zalo's refresh token rotated"
        world.issued.update(spent | {world.zalo.refresh_token, world.tiktok.refresh_token})

        # A restart: the rotated Zalo token (the first one is dead now) is read from the ledger, encrypted there.
        publisher.stop()
        world.zalo.revoke_tokens()  # access tokens expired meanwhile: the restarted publisher must refresh
        publisher.start()
        second = publish(("zalo",))
        wait_for("the post after a restart", lambda: posted(second) == ["p1-zalo"], 120, logs)
        assert world.credentials("zalo")["refresh_token"] == world.zalo.refresh_token  # ingest told as well
        world.issued.add(world.zalo.refresh_token)

        # The OA revokes Loa's permission: the refresh is refused, the channel shows disconnected, the post waits.
        world.zalo.refresh_token = "revoked-" + new_id()
        world.zalo.revoke_tokens()
        third = publish(("zalo",))
        wait_for("the channel disconnected", lambda: world.channel("zalo")["state"] == "disconnected", 120, logs)
        ledger = Ledger.open(publisher.root / "data" / "publisher-ledger.sqlite3")
        try:

            def waiting() -> bool:
                entry = ledger.get(third, "p1-zalo", "zalo")
                return entry is not None and entry.state is PostState.SCHEDULED and entry.error == DISCONNECTED

            wait_for("the post waiting", waiting, 60, logs)
        finally:
            ledger.close()
        assert read_topic(bootstrap, POSTS_FAILED.full_name(prefix), timeout_s=1) == []
        # A ward admin connects it again: the waiting post goes out with the new connection.
        assert world.connect("zalo").status_code == 200
        wait_for("the waiting post", lambda: posted(third) == ["p1-zalo"], 120, logs)
        world.issued.update(world.credentials("zalo").values())
    finally:
        publisher.stop()

    # No secret of the run in any log line: the operator's key, app secrets, service and API tokens, every token
    # the platforms issued.
    key_file = world.ingest.root / "secret-key"
    secrets = {
        *key_file.read_text().split(),
        SERVICE_TOKEN,
        world.admin["Authorization"].removeprefix("Bearer "),
        world.youtube.client_secret,
        world.tiktok.client_secret,
        world.facebook.app_secret,
        world.zalo.secret_key,
        *(publisher.root / "secret-key").read_text().split(),
        *world.issued,
        *world.youtube.minted,
        *world.tiktok.minted,
        *world.zalo.minted,
        *world.facebook.page_tokens,
        *world.facebook.user_tokens,
    }
    assert len(secrets) > 15
    for log_path in (world.ingest.root / "ingest.log", publisher.log_path):
        text = log_path.read_text(errors="replace")
        assert text.strip(), f"{log_path} is empty"
        leaked = [s[:6] + "…" for s in secrets if s and s in text]
        assert leaked == [], f"{log_path.name} holds secrets starting {leaked}"


def test_metrics_polls_connected_tiktok_and_zalo_with_the_publishers_tokens_and_the_rotation_stays_the_publishers(
    world: World, kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    """TikTok and Zalo rotate the refresh token on every refresh (the emulators accept only the newest), so metrics
    never refreshes them: it asks the publisher (/internal/access_tokens, the service token), which refreshes once
    however many ask at once, through the same refresher its uploads use. Metrics polls both with those tokens; the
    publisher's next uploads, after the access tokens expired, refresh with the rotated token it kept and go out; the
    channels stay connected. Nobody but a service gets a token, and only for a connected TikTok or Zalo channel of
    the ward named."""
    bootstrap, prefix = kafka_broker.bootstrap, world.ingest.prefix
    for platform in ("tiktok", "zalo"):
        if world.channel(platform)["state"] != "connected":
            assert world.connect(platform).status_code == 200
    # Access tokens issued earlier expired: the publisher must refresh before it can hand one out.
    world.tiktok.revoke_tokens()
    world.zalo.revoke_tokens()
    publisher = PublisherProcess(
        tmp_path / "publisher",
        bootstrap=bootstrap,
        prefix=prefix,
        channels=[],
        token=new_token(),
        env={
            "LOA_INGEST_URL": world.ingest.url,
            "LOA_SERVICE_TOKEN": SERVICE_TOKEN,
            "LOA_SERVICE_TOKEN_HASHES": hash_token(SERVICE_TOKEN),  # metrics holds the same service token
            "LOA_STATUS_POLL_S": "0.2",
        },
    )
    storage = LocalStorage(publisher.root / "storage")
    channels = {c.name: c for c in (Channel.model_validate(world.channel(p)) for p in ("tiktok", "zalo"))}

    def logs() -> str:
        return f"{publisher.log_tail()}\n--- ingest ---\n{world.ingest.log()[-4000:]}"

    def ask(channel: str, token: str | None, **params: str) -> httpx.Response:
        headers = {"Authorization": token} if token else {}
        return httpx.get(f"{publisher.url}/internal/access_tokens/{channel}", params=params, headers=headers)

    async def metrics_round(tts: TikTokStatsEmulator, zls: ZaloStatsEmulator) -> tuple[list[str], dict[str, int]]:
        async with httpx.AsyncClient(timeout=60.0) as http:
            from_publisher = PublisherTokens(publisher.url, SERVICE_TOKEN, http)
            asked = await asyncio.gather(
                *(from_publisher.access_token(c, str(c.connection_id)) for c in channels.values() for _ in range(3))
            )
            creds = await ChannelTokens(channels, None, None, http, publisher=from_publisher).refresh()
            followers = {
                "tiktok": await TikTokStats(http, tts.base_url).followers(creds["p1-tiktok"], channels["p1-tiktok"]),
                "zalo": await ZaloStats(http, zls.base_url).followers(creds["p1-zalo"], channels["p1-zalo"]),
            }
            return list(asked), followers

    with TikTokStatsEmulator(tmp_path / "tts") as tts, ZaloStatsEmulator(tmp_path / "zls") as zls:
        # One platform each: the statistics endpoints accept what the token endpoint issued.
        tts.valid_tokens, zls.valid_tokens = world.tiktok.valid_tokens, world.zalo.valid_tokens
        tts.followers, zls.followers = 1200, 3400
        publisher.start()
        try:
            service = f"Bearer {SERVICE_TOKEN}"
            wait_for("the registry read", lambda: ask("p9-tiktok", service).status_code == 404, 60, logs)
            refusals = {
                "no token": ask("p1-tiktok", None),
                "a made-up token": ask("p1-tiktok", f"Bearer {new_token()}"),
                "a ward admin's token": ask("p1-tiktok", world.admin["Authorization"]),
                "another ward's": ask("p1-tiktok", service, ward="p2"),
                "a YouTube channel": ask("p1-youtube", service),
                "an unknown channel": ask("p9-tiktok", service),
                "a replaced connection": ask("p1-zalo", service, connection_id="replaced-connection"),
            }
            assert {why: r.status_code for why, r in refusals.items()} == {
                "no token": 401,
                "a made-up token": 403,
                "a ward admin's token": 403,
                "another ward's": 404,
                "a YouTube channel": 404,
                "an unknown channel": 404,
                "a replaced connection": 409,
            }
            for answer in refusals.values():
                assert " / " in answer.json()["detail"] and "access_token" not in answer.json()

            refreshed = world.tiktok.refresh_calls, world.zalo.refresh_calls
            asked, followers = asyncio.run(metrics_round(tts, zls))
            assert followers == {"tiktok": 1200, "zalo": 3400}
            # Six asks at once, one refresh per connection: everyone got the same token.
            assert (world.tiktok.refresh_calls, world.zalo.refresh_calls) == (refreshed[0] + 1, refreshed[1] + 1)
            assert len(set(asked[:3])) == 1 and len(set(asked[3:])) == 1
            assert world.credentials("zalo")["refresh_token"] == world.zalo.refresh_token  # ingest told of it
            assert world.credentials("tiktok")["refresh_token"] == world.tiktok.refresh_token

            # The tokens expire; the publisher's next uploads refresh with the rotated refresh token it kept.
            world.tiktok.revoke_tokens()
            world.zalo.revoke_tokens()
            footage_id = new_id()
            renditions = [stored_rendition(storage, 300_000, p, footage_id) for p in ("tiktok", "zalo")]
            send(bootstrap, prefix, event_for(footage_id, metadata(("p1-tiktok", "p1-zalo")), *renditions))

            def posted() -> list[str]:
                records = read_topic(bootstrap, POSTS_PUBLISHED.full_name(prefix), timeout_s=1)
                published = (PostPublished.from_bytes(r.value) for r in records)
                return sorted(p.channel for p in published if p.footage_id == footage_id)

            wait_for("both posts", lambda: posted() == ["p1-tiktok", "p1-zalo"], 120, logs)
            assert world.channel("tiktok")["state"] == world.channel("zalo")["state"] == "connected"
            assert (world.tiktok.refresh_calls, world.zalo.refresh_calls) == (refreshed[0] + 2, refreshed[1] + 2)
            # Metrics' next round gets the publisher's new tokens.
            again, followers = asyncio.run(metrics_round(tts, zls))
            assert followers == {"tiktok": 1200, "zalo": 3400}
            assert again[0] != asked[0] and again[3] != asked[3] and len(set(again[:3])) == len(set(again[3:])) == 1
            assert (world.tiktok.refresh_calls, world.zalo.refresh_calls) == (refreshed[0] + 2, refreshed[1] + 2)
        finally:
            publisher.stop()
    issued = {*world.tiktok.minted, *world.zalo.minted, world.tiktok.refresh_token, world.zalo.refresh_token}
    text = publisher.log_path.read_text(errors="replace")
    assert text.strip() and [s[:6] for s in issued if s in text] == []
