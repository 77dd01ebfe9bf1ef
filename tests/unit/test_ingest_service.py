"""IngestService.accept with a real clip, real ffprobe and local storage; Kafka replaced by an in-process fake.

The same file is one footage whatever happens between recording it and announcing it, and a second upload with
other details is refused without changing anything. The real broker and a real crash are in
tests/integration/test_ingest_announce_crash.py.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from loa_core.contracts import FootageMetadata, FootageUploaded, TopicSpec
from loa_core.hashing import sha256_file
from loa_core.kafka import EventProducer
from loa_core.storage import LocalStorage
from loa_ingest.duplicates import AlreadyUploaded, already_uploaded, changed_details
from loa_ingest.service import IngestService
from loa_ingest.settings import IngestSettings
from loa_ingest.state import open_state
from loa_ingest.tus import TusUploads
from tests.support.media import make_clip


class FakeProducer(EventProducer):
    """Records every event handed to it; fails the sends it is told to."""

    def __init__(self) -> None:
        super().__init__("kafka.invalid:9092")
        self.sent: list[FootageUploaded] = []
        self.attempted: list[FootageUploaded] = []
        self.failures = 0

    async def send(self, spec: TopicSpec, event: object) -> None:
        assert isinstance(event, FootageUploaded)
        self.attempted.append(event)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the broker is not answering")
        self.sent.append(event)


META = FootageMetadata(title="Lễ chào cờ đầu tháng", channels=("local",))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "chao-co.mp4", width=320, height=180, duration_s=1.0)


def service_in(root: Path, producer: FakeProducer) -> IngestService:
    settings = IngestSettings(data_dir=root / "data", storage_root=root / "storage")
    catalog = open_state(root / "ingest.sqlite3", root / "tus").catalog
    return IngestService(settings, LocalStorage(root / "storage"), producer, catalog)


def spooled(service: IngestService, source: Path, name: str) -> Path:
    """A copy of the clip where an upload leaves it: the spool, which accepting may move into storage."""
    path = service.spool_dir / name
    shutil.copyfile(source, path)
    return path


async def test_a_failed_send_keeps_the_footage_id_for_the_retry(tmp_path: Path, source: Path) -> None:
    producer = FakeProducer()
    service = service_in(tmp_path, producer)
    sha = sha256_file(source)
    producer.failures = 1
    spool = spooled(service, source, "first.part")
    with pytest.raises(ConnectionError):
        await service.accept(spool, sha, source.stat().st_size, META, "default")
    (attempt,) = producer.attempted
    assert spool.exists(), "the bytes are given back for the retry"
    assert not (tmp_path / "storage" / attempt.media.key).exists(), "no stray object"

    retried = await service.accept(spool, sha, source.stat().st_size, META, "default")
    assert retried.footage_id == attempt.footage_id and not retried.duplicate
    assert [e.event_id for e in producer.sent] == [attempt.event_id], "the same event, not a second footage"
    assert sha256_file(tmp_path / "storage" / attempt.media.key) == sha


class HeldProducer(FakeProducer):
    """Holds each send until told to go on: an announcement caught in the middle."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = asyncio.Event()
        self.go_on = asyncio.Event()

    async def send(self, spec: TopicSpec, event: object) -> None:
        self.sending.set()
        await self.go_on.wait()
        await super().send(spec, event)


async def test_a_second_upload_of_a_file_being_announced_waits_and_never_loses_the_source(
    tmp_path: Path, source: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two uploads of one file on two replicas (two services on one database and one storage). The first has stored
    the source and is sending its announcement when the second arrives: the second neither stores nor announces it
    while the first is on it, but waits. The first's send fails, so it takes back the source it stored; the second
    then finishes the footage with its own bytes. Announced once, with its source. (Before, the second announced the
    footage with the first's stored source, which the first then deleted.)"""
    caplog.set_level(logging.INFO, logger="loa_ingest.service")
    held = HeldProducer()
    held.failures = 1
    first = service_in(tmp_path, held)
    other = FakeProducer()
    second = service_in(tmp_path, other)
    sha, size = sha256_file(source), source.stat().st_size
    first_spool = spooled(first, source, "a.part")
    failing = asyncio.create_task(first.accept(first_spool, sha, size, META, "default"))
    await held.sending.wait()
    waiting = asyncio.create_task(second.accept(spooled(second, source, "b.part"), sha, size, META, "default"))
    while not waiting.done() and "waiting for its outcome" not in caplog.text:
        await asyncio.sleep(0.01)
    assert other.attempted == [], "nothing announced while the first upload is on it"

    held.go_on.set()
    with pytest.raises(ConnectionError):
        await failing
    accepted = await waiting
    (attempt,) = held.attempted
    assert first_spool.exists(), "the first took back what it stored"
    assert accepted.footage_id == attempt.footage_id and not accepted.duplicate
    assert [e.event_id for e in other.sent] == [attempt.event_id]
    assert sha256_file(tmp_path / "storage" / attempt.media.key) == sha, "the announced footage has its source"


async def test_a_recorded_announcement_is_sent_at_start_with_its_ids(tmp_path: Path, source: Path) -> None:
    """What a crash between the send and its record leaves: the next start sends the recorded event again."""
    crashed = FakeProducer()
    service = service_in(tmp_path, crashed)
    accepted = await service.accept(spooled(service, source, "a.part"), sha256_file(source), 1, META, "default")
    (announced,) = crashed.sent
    with sqlite3.connect(tmp_path / "ingest.sqlite3") as db:
        db.execute("UPDATE footage SET announced=0")  # the process died before recording the send

    restarted = FakeProducer()
    service = service_in(tmp_path, restarted)
    assert await service.announce_pending() == 1
    assert [(e.footage_id, e.event_id) for e in restarted.sent] == [(accepted.footage_id, announced.event_id)]
    assert await service.announce_pending() == 0, "sent once, then recorded"
    again = await service.accept(spooled(service, source, "b.part"), sha256_file(source), 1, META, "default")
    assert again.footage_id == accepted.footage_id and again.duplicate
    assert len(restarted.sent) == 1


async def test_a_recorded_announcement_without_its_source_waits_for_the_upload(tmp_path: Path, source: Path) -> None:
    producer = FakeProducer()
    service = service_in(tmp_path, producer)
    producer.failures = 1
    spool = spooled(service, source, "a.part")
    with pytest.raises(ConnectionError):
        await service.accept(spool, sha256_file(source), 1, META, "default")
    assert await service.announce_pending() == 0, "its source went back to the spool: nothing to announce yet"
    assert producer.sent == []


async def test_the_same_file_with_other_details_is_refused_and_nothing_changes(tmp_path: Path, source: Path) -> None:
    producer = FakeProducer()
    service = service_in(tmp_path, producer)
    sha = sha256_file(source)
    first = await service.accept(spooled(service, source, "a.part"), sha, 1, META, "default")
    later = datetime.now(UTC) + timedelta(days=1)
    other = META.model_copy(update={"title": "Chào cờ (bản sửa)", "publish_at": {"local": later}})
    with pytest.raises(AlreadyUploaded) as refused:
        await service.accept(spooled(service, source, "b.part"), sha, 1, other, "default")
    assert refused.value.footage_id == first.footage_id
    message = str(refused.value)
    assert first.footage_id in message and "Lễ chào cờ đầu tháng" in message
    assert "these new details were not applied: title, publish time" in message
    assert "các thông tin mới sau không được áp dụng: tiêu đề, giờ đăng" in message
    same = await service.accept(spooled(service, source, "c.part"), sha, 1, META, "default")
    assert same.footage_id == first.footage_id and same.duplicate
    assert [e.metadata for e in producer.sent] == [META], "announced once, with the first details"


async def test_a_file_catalogued_before_details_were_kept_is_refused_unless_told_nothing(
    tmp_path: Path, source: Path
) -> None:
    """Catalogs written before the outbox kept no event: an upload with details cannot be told apart, so it is
    refused with the footage id rather than dropped silently."""
    with sqlite3.connect(tmp_path / "ingest.sqlite3") as db:
        db.execute(
            "CREATE TABLE footage (sha256 TEXT PRIMARY KEY, footage_id TEXT NOT NULL, created_at TEXT "
            "NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        db.execute("INSERT INTO footage (sha256, footage_id) VALUES (?, ?)", (sha256_file(source), "a" * 32))
    service = service_in(tmp_path, FakeProducer())
    with pytest.raises(AlreadyUploaded) as refused:
        await service.accept(spooled(service, source, "a.part"), sha256_file(source), 1, META, "default")
    assert refused.value.footage_id == "a" * 32
    assert "details sent with this upload were not applied" in str(refused.value)
    assert service.catalog.pending() == []


def test_changed_details_names_only_what_differs() -> None:
    other = META.model_copy(update={"channels": ("local", "yt"), "tags": ("phường",)})
    assert changed_details(META, other) == ["tags", "channels"]
    assert changed_details(META, META) == []
    message = str(already_uploaded("b" * 32, META, ["channels"]))
    assert "not applied: channels" in message and "không được áp dụng: kênh đăng" in message
    assert f"loa status {'b' * 32}" in message


async def test_the_tus_locks_of_uploads_no_request_holds_are_swept(tmp_path: Path) -> None:
    state = open_state(tmp_path / "ingest.sqlite3", None)
    tus = TusUploads(
        cast(IngestService, None), state.uploads, lambda f, c: ("default", FootageMetadata()), max_size=1, expiry_s=60
    )
    # Uploads this replica once took a PATCH of, then finished on another replica: nothing here ever ends them.
    idle, held = tus._lock("finished-elsewhere"), tus._lock("being-written")
    await held.acquire()
    assert idle is not held and await tus.expire_due() == 0
    assert tus._locks == {"being-written": held}
    state.close()
