"""The publisher signs each post's cut once, before its upload (real c2pa-python on a generated MP4, local storage,
a key source in process): the adapter uploads the signed copy, a retry reuses it, and a cut that cannot be signed is
not published but said on posts.failed in both languages, the private key in no message."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loa_core import provenance
from loa_core.channels import Channel
from loa_core.contracts import (
    POSTS_FAILED,
    POSTS_PUBLISHED,
    PostFailed,
    PostPublished,
    Rendition,
    RenditionsReady,
    layout,
    new_id,
)
from loa_core.contracts.provenance import TrustList, WardSigningKey
from loa_core.hashing import sha256_file
from loa_core.provenance import Signed
from loa_core.storage import LocalStorage
from loa_publisher.adapters import PermanentError, RetryableError
from loa_publisher.ledger import Ledger, PostState
from loa_publisher.publish import Publisher
from loa_publisher.signing import CutSigner, NoKeys
from tests.support.media import make_clip
from tests.unit.test_publisher_publish import Clock, FakeAdapter, FakeProducer

SOURCE_SHA = "a" * 64


class Keys:
    """Ingest's answer, in process: the ward's key issued by a root made for the test."""

    def __init__(self) -> None:
        self.root = provenance.new_root("test root")
        self.pair = provenance.issue_ward(self.root, "p1", "Phường 1")
        self.asked = 0

    @property
    def trust(self) -> provenance.Trust:
        return provenance.Trust(provenance.roots_of([self.root.chain_pem]))

    async def key(self, ward: str) -> WardSigningKey:
        self.asked += 1
        return WardSigningKey.model_validate(
            {"ward": ward, "ward_name": "Phường 1", "serial": self.pair.serial, "chain_pem": self.pair.chain_pem,
             "key_pem": self.pair.key_pem, "trust": TrustList(roots_pem=self.trust.roots_pem)}
        )  # fmt: skip


@pytest.fixture(scope="module")
def cut(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("cut") / "cut.mp4", width=180, height=320, duration_s=1.0)


def stored(storage: LocalStorage, cut: Path, footage_id: str) -> Rendition:
    key = layout.rendition_key(footage_id, "tiktok")
    storage.put_file(key, cut)
    return Rendition(profile="tiktok", key=key, width=180, height=320, duration_s=1.0,
                     size_bytes=cut.stat().st_size, video_codec="h264", audio_codec="aac",
                     sha256=sha256_file(cut), edits=("trimmed", "reframed", "loudness"))  # fmt: skip


def make(tmp_path: Path, adapter: FakeAdapter, keys: Keys | NoKeys) -> tuple[Publisher, FakeProducer, Ledger, Clock]:
    clock = Clock()
    ledger = Ledger.open(tmp_path / "ledger.sqlite3", clock=clock)
    producer = FakeProducer()
    storage = LocalStorage(tmp_path / "storage")
    publisher = Publisher(
        channels={"tt": Channel(name="tt", platform="tiktok", profiles=("tiktok",))},
        adapters={"tiktok": adapter},
        ledger=ledger,
        producer=producer,  # type: ignore[arg-type]
        clock=clock,
        signer=CutSigner(storage, keys, tmp_path / "scratch", clock=clock),  # type: ignore[arg-type]
    )
    return publisher, producer, ledger, clock


def event(storage: LocalStorage, cut: Path) -> RenditionsReady:
    footage_id = new_id()
    return RenditionsReady.model_validate(
        {"footage_id": footage_id, "ward": "p1", "source_sha256": SOURCE_SHA,
         "metadata": {"title": "Hội nghị tiếp xúc cử tri", "channels": ["tt"], "event_date": "2026-11-20",
                      "trim_start_s": 2.0},
         "renditions": [stored(storage, cut, footage_id).model_dump()]}
    )  # fmt: skip


async def test_the_uploaded_cut_is_the_signed_copy_and_a_retry_reuses_it(tmp_path: Path, cut: Path) -> None:
    keys = Keys()
    adapter = FakeAdapter(RetryableError("503 from the platform"), "v1")
    publisher, producer, ledger, clock = make(tmp_path, adapter, keys)
    storage = LocalStorage(tmp_path / "storage")
    ready = event(storage, cut)

    await publisher.handle(ready)  # signed, then the upload fails transiently: held
    first = adapter.requests[0].rendition
    assert first.key == layout.signed_key(ready.footage_id, "tt", "tiktok")
    assert first.sha256 == sha256_file(storage.root / first.key) != ready.renditions[0].sha256
    verdict = provenance.read(storage.root / first.key, keys.trust)
    assert isinstance(verdict, Signed), verdict
    assert verdict.claims.ward == "p1" and verdict.claims.channel == "tt"
    assert verdict.claims.title == "Hội nghị tiếp xúc cử tri" and verdict.claims.event_date == "2026-11-20"
    assert verdict.claims.source_sha256 == SOURCE_SHA and verdict.claims.footage_id == ready.footage_id
    assert verdict.claims.published_at == clock.now.isoformat()
    actions = [(a["action"], a.get("parameters", {}).get("loa:edit")) for a in verdict.actions]
    assert actions == [("c2pa.created", None), ("c2pa.edited", "trimmed"), ("c2pa.cropped", "reframed"),
                       ("c2pa.edited", "loudness"), ("c2pa.published", None)]  # fmt: skip

    clock.now += timedelta(minutes=10)
    await publisher.run_due()  # the retry: the same signed bytes, not a second signature
    assert ledger.get(ready.footage_id, "tt", "tiktok").state is PostState.POSTED  # type: ignore[union-attr]
    assert adapter.requests[1].rendition == first
    assert keys.asked == 1
    # The announcement names the bytes the platform received: a copy downloaded from the post hashes to them.
    (announced,) = [e for topic, e in producer.sent if topic == POSTS_PUBLISHED.name]
    assert isinstance(announced, PostPublished) and announced.sha256 == first.sha256
    assert provenance.read(storage.root / first.key, keys.trust) == verdict


async def test_a_cut_that_cannot_be_signed_is_not_published_and_said_so(
    tmp_path: Path, cut: Path, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = FakeAdapter("never")
    publisher, producer, ledger, _ = make(tmp_path, adapter, NoKeys())
    ready = event(LocalStorage(tmp_path / "storage"), cut)
    with pytest.raises(PermanentError, match="could not be signed"):
        await publisher.handle(ready)
    assert adapter.requests == []  # nothing went to the platform
    entry = ledger.get(ready.footage_id, "tt", "tiktok")
    assert entry is not None and entry.state is PostState.FAILED
    failed = [e for topic, e in producer.sent if topic == POSTS_FAILED.name]
    assert len(failed) == 1 and isinstance(failed[0], PostFailed) and failed[0].retryable
    assert "could not be signed" in failed[0].reason and "Không ký được" in failed[0].reason
    assert "LOA_SERVICE_TOKEN" in failed[0].reason


async def test_an_expired_ward_key_stops_the_post_and_no_key_is_said(
    tmp_path: Path, cut: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = Keys()
    start = datetime.now(UTC) - timedelta(days=30)
    keys.pair = provenance.issue_ward(keys.root, "p1", "Phường 1", not_before=start, valid_for=timedelta(days=1))
    adapter = FakeAdapter("never")
    publisher, producer, _, _ = make(tmp_path, adapter, keys)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentError, match="could not be signed"):
        await publisher.handle(event(LocalStorage(tmp_path / "storage"), cut))
    assert adapter.requests == []
    failed = [e for topic, e in producer.sent if topic == POSTS_FAILED.name]
    reason = failed[0].reason  # type: ignore[attr-defined]
    assert "not valid now" in reason and "rotate the ward's key" in reason
    body = "".join(keys.pair.key_pem.splitlines()[1:-1])
    for text in (reason, caplog.text):
        assert body[:32] not in text and "PRIVATE KEY" not in text
