"""A real cut published by the publisher process carries a C2PA manifest that c2pa-python's Reader validates
against the installation's root: ingest as a process keeps the keys (made on first use), the publisher fetches the
ward's key with its service token, signs once, and uploads the signed copy to the YouTube emulator and the local
target. After the ward's key is revoked, the same published file no longer reads as authentic."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loa_core import provenance
from loa_core.auth import hash_token, new_token
from loa_core.channels import Channel
from loa_core.contracts import (
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    PostPublished,
    Rendition,
    RenditionsReady,
    layout,
    new_id,
)
from loa_core.hashing import sha256_file
from loa_core.kafka import EventProducer
from loa_core.provenance import Invalid, Reason, Signed
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.ingest import IngestProcess, run_ingest
from tests.support.kafka import read_topic
from tests.support.media import make_clip
from tests.support.publisher_process import PublisherProcess

SERVICE_TOKEN = new_token()
SOURCE_SHA = "c" * 64


@pytest.fixture
def ingest(kafka_broker: KafkaBroker, tmp_path: Path) -> Iterator[IngestProcess]:
    env = {"LOA_SERVICE_TOKEN_HASHES": hash_token(SERVICE_TOKEN)}
    with run_ingest(tmp_path / "ingest", kafka_broker.bootstrap, env) as process:
        yield process


def trust(ingest: IngestProcess) -> provenance.Trust:
    answer = httpx.get(f"{ingest.url}/internal/provenance/trust", headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return provenance.Trust(tuple(body["roots_pem"]), frozenset(body["revoked"]))


def test_a_published_cut_carries_a_manifest_the_reader_validates_against_the_root(
    ingest: IngestProcess, kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    with YouTubeEmulator(tmp_path / "yt") as youtube:
        channels = [
            Channel(name="p1-yt", platform="youtube", profiles=("youtube",), ward="p1",
                    options={"base_url": youtube.base_url, "token_url": f"{youtube.base_url}/token"}),
            Channel(name="p1-local", platform="local", profiles=("youtube",), ward="p1"),
        ]  # fmt: skip
        publisher = PublisherProcess(
            tmp_path / "publisher",
            bootstrap=kafka_broker.bootstrap,
            prefix=topic_prefix,
            channels=channels,
            token=new_token(),
            env={
                "LOA_SIGN_CUTS": "true",
                "LOA_INGEST_URL": ingest.url,
                "LOA_SERVICE_TOKEN": SERVICE_TOKEN,
                "LOA_SECRET_P1_YT_CLIENT_ID": youtube.client_id,
                "LOA_SECRET_P1_YT_CLIENT_SECRET": youtube.client_secret,
                "LOA_SECRET_P1_YT_REFRESH_TOKEN": youtube.refresh_token,
            },
        )
        storage = LocalStorage(publisher.root / "storage")
        footage_id = new_id()
        cut = make_clip(tmp_path / "cut.mp4", width=320, height=180, duration_s=2.0)
        key = layout.rendition_key(footage_id, "youtube")
        storage.put_file(key, cut)
        rendition = Rendition(profile="youtube", key=key, width=320, height=180, duration_s=2.0,
                              size_bytes=cut.stat().st_size, video_codec="h264", audio_codec="aac",
                              sha256=sha256_file(cut), edits=("trimmed", "loudness"))  # fmt: skip
        event = RenditionsReady.model_validate(
            {"footage_id": footage_id, "ward": "p1", "source_sha256": SOURCE_SHA,
             "renditions": [rendition.model_dump()],
             "metadata": {"title": "Lễ kỷ niệm 80 năm", "channels": ["p1-yt", "p1-local"], "event_date": "2026-09-02",
                          "trim_start_s": 1.5}}
        )  # fmt: skip
        publisher.start()
        try:

            async def send() -> None:
                producer = EventProducer(kafka_broker.bootstrap, topic_prefix)
                try:
                    await producer.send(RENDITIONS_READY, event)
                finally:
                    await producer.stop()

            asyncio.run(send())
            records = read_topic(
                kafka_broker.bootstrap,
                POSTS_PUBLISHED.full_name(topic_prefix),
                lambda rs: len({PostPublished.from_bytes(r.value).channel for r in rs}) == 2,
                timeout_s=120,
            )
        finally:
            publisher.stop()
        posts = {p.channel: p for p in (PostPublished.from_bytes(r.value) for r in records)}
        anchors = trust(ingest)
        on_youtube = youtube.videos[posts["p1-yt"].post_id].path
        local = Path(httpx.URL(posts["p1-local"].url).path)
        for channel, path in (("p1-yt", on_youtube), ("p1-local", local)):
            verdict = provenance.read(path, anchors)
            assert isinstance(verdict, Signed), (channel, verdict, publisher.log_tail())
            assert verdict.claims.ward == "p1" and verdict.claims.channel == channel
            assert verdict.claims.title == "Lễ kỷ niệm 80 năm" and verdict.claims.source_sha256 == SOURCE_SHA
            assert verdict.claims.event_date == "2026-09-02" and verdict.signer == "p1"  # no account names p1
            assert [a["action"] for a in verdict.actions][-1] == "c2pa.published"
            # The uploaded bytes are the signed copy kept in storage for retries, signed once per post.
            kept = json.loads((storage.root / layout.signed_record_key(footage_id, channel, "youtube")).read_text())
            assert sha256_file(path) == kept["sha256"] == posts[channel].sha256 and kept["serial"] == verdict.serial
        assert publisher.log_text().count("signed by ward p1") == 2
        # The private key is in ingest's database encrypted, and in no log.
        with sqlite3.connect(ingest.root / "data" / "ingest.sqlite3") as db:
            assert all("PRIVATE KEY" not in row[0] for row in db.execute("SELECT key_pem FROM provenance_certs"))
        for text in (publisher.log_text(), ingest.log()):
            assert "PRIVATE KEY" not in text

        # The ward's key is revoked (`loa provenance revoke`): its posts no longer read as authentic.
        revoked = provenance.Trust(anchors.roots_pem, frozenset({verdict.serial}))
        after = provenance.read(on_youtube, revoked)
        assert isinstance(after, Invalid) and after.reason is Reason.REVOKED
