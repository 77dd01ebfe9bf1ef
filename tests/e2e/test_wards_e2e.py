"""Wards, people and channels end to end (issue 14): the whole stack as processes (Kafka, ingest, transcode,
publisher, metrics) with the YouTube and TikTok emulators as HTTP servers that ingest's OAuth sign-in and the
publisher talk to; two wards and their people made through the real API.

- a channel added while the stack runs reaches the publisher within 5 s (its registry log line);
- ward 2 sees none of ward 1's channels;
- no secret the run configured or created appears in any log line of the run or in any record on any of its topics.

One stack for the module: the tests run in file order and share what the first ones made (the secrets check last).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from loa_core.auth import new_token
from loa_dev.kafka import KafkaBroker
from loa_dev.stack import Stack
from tests.support.emulators.tiktok import TikTokEmulator
from tests.support.emulators.youtube import YouTubeEmulator

pytestmark = pytest.mark.e2e
WARD_1, WARD_2 = "phuong-1", "phuong-2"


@dataclass
class Run:
    """The module's stack, its emulators, and every secret the run configured or was given."""

    stack: Stack
    youtube: YouTubeEmulator
    tiktok: TikTokEmulator
    tokens: dict[str, str] = field(default_factory=dict)  # who -> API token
    secrets: dict[str, str] = field(default_factory=dict)  # what -> value

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
        issued["youtube refresh token"] = self.youtube.refresh_token
        issued["tiktok refresh token"] = self.tiktok.refresh_token
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
        "LOA_PUBLIC_URL": stack.url("ingest"),
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
    """A ward admin of each ward and a district admin, through the real API."""
    with run.api("district") as district:
        for who, ward in (("admin-1", WARD_1), ("admin-2", WARD_2)):
            made = district.post("/tokens", json={"role": "ward_admin", "label": who, "ward": ward})
            assert made.status_code == 201, made.text
            run.tokens[who] = run.keep(f"{who}'s API token", made.json()["token"])
            assert made.json()["ward"] == ward


def _channel(run: Run, who: str, name: str, platform: str, base_url: str) -> dict[str, Any]:
    options: dict[str, str] = {"base_url": base_url}
    if platform == "youtube":
        options["token_url"] = f"{base_url}/token"
    with run.api(who) as api:
        added = api.post(
            "/channels",
            json={"name": name, "platform": platform, "options": options, "approval_required": False},
        )
    assert added.status_code == 201, added.text
    return added.json()


def test_a_channel_added_while_the_stack_runs_reaches_the_publisher_within_5_s(run: Run) -> None:
    log = run.stack.logs_dir / "publisher.log"
    added = time.monotonic()
    view = _channel(run, "admin-1", "p1-youtube", "youtube", run.youtube.base_url)
    # loa_core.channel_registry logs each record it applies.
    line = re.compile(rf"channel p1-youtube: revision {view['revision']}\b")
    while not line.search(log.read_text(errors="replace")):
        assert time.monotonic() - added < 5.0, "the publisher did not learn the channel in 5 s:\n" + run.stack.log_tail(
            "publisher"
        )
        time.sleep(0.02)
    print(f"channel reached the publisher in {time.monotonic() - added:.3f} s")


def test_a_ward_sees_only_its_own_channels(run: Run) -> None:
    _channel(run, "admin-1", "p1-tiktok", "tiktok", run.tiktok.base_url)
    _channel(run, "admin-2", "p2-local", "local", "")
    with run.api("admin-1") as one, run.api("admin-2") as two, run.api("district") as district:
        own = {c["channel"]["name"] for c in one.get("/channels").json()}
        assert {"p1-youtube", "p1-tiktok"} <= own and "p2-local" not in own
        listed = two.get("/channels")
        assert listed.status_code == 200, listed.text
        assert {c["channel"]["name"] for c in listed.json()} == {"p2-local"}
        for name in ("p1-youtube", "p1-tiktok"):
            assert two.get(f"/channels/{name}").status_code == 404
        everyone = {c["channel"]["name"]: c["channel"]["ward"] for c in district.get("/channels").json()}
        assert {"p1-youtube": WARD_1, "p1-tiktok": WARD_1, "p2-local": WARD_2}.items() <= everyone.items()


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


def test_no_secret_appears_in_any_log_line_or_record(run: Run) -> None:
    secrets = {**run.secrets, **run.emulator_secrets()}
    assert all(len(value) >= 12 for value in secrets.values()), secrets.keys()
    logs = sorted(run.stack.logs_dir.glob("*.log"))
    assert {p.stem for p in logs} >= set(run.stack.services)
    records = asyncio.run(_every_record(run.stack.kafka_bootstrap or "", run.stack.topic_prefix))
    assert records  # the run wrote on its topics
    leaks = [
        f"{what} in {path.name}"
        for path in logs
        for what, value in secrets.items()
        if value in path.read_text("utf-8", "replace")
    ]
    leaks += [f"{what} in a record" for what, value in secrets.items() if any(value.encode() in r for r in records)]
    assert leaks == []
