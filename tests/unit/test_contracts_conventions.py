"""The conventions beside the events: ids, the footage-status vocabulary, the storage layout, topic routing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import TypeAdapter, ValidationError

from loa_core.contracts import (
    ALL_TOPICS,
    CHANNEL_REGISTRY,
    DEAD_LETTER,
    FEEDBACK_ACTIONS,
    FEEDBACK_DONE,
    FEEDBACK_RECEIVED,
    FOOTAGE_STATUSES,
    FOOTAGE_UPLOADED,
    IN_PROGRESS,
    LIVE_CHUNKS,
    POSTS_ACTIONS,
    POSTS_CHANGED,
    POSTS_DECISIONS,
    POSTS_FAILED,
    POSTS_SCHEDULE,
    RENDITIONS_READY,
    SERVICES,
    SETTLED,
    TRANSCODE_CHUNKS,
    TRANSCODE_PROGRESS,
    FootageId,
    FootageStatus,
    UndeclaredTopic,
    check_consumes,
    check_produces,
    consumer_groups,
    is_footage_id,
    layout,
    new_id,
    topics_consumed_by,
    topics_produced_by,
)
from loa_core.storage import validate_key

FID = "3b1f5c0e2d9a4e6f8a7b6c5d4e3f2a1b"
NOT_IDS = ["", "3b1f", FID.upper(), FID + "0", "../" + FID[3:], FID[:-1] + "/", "g" * 32]


# --- ids -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", NOT_IDS)
def test_footage_id_refuses_what_loa_never_generates(bad: str) -> None:
    assert not is_footage_id(bad)
    with pytest.raises(ValidationError):
        TypeAdapter(FootageId).validate_python(bad)


def test_footage_id_accepts_generated_ids() -> None:
    fresh = new_id()
    assert is_footage_id(fresh)
    assert TypeAdapter(FootageId).validate_python(fresh) == fresh


def test_footage_id_is_a_fastapi_path_parameter_too() -> None:
    api = FastAPI()

    @api.get("/footage/{footage_id}")
    async def one(footage_id: FootageId) -> dict[str, str]:
        return {"footage_id": footage_id}

    client = TestClient(api)
    assert client.get(f"/footage/{FID}").json() == {"footage_id": FID}
    assert client.get(f"/footage/{FID.upper()}").status_code == 422
    parameter = api.openapi()["paths"]["/footage/{footage_id}"]["get"]["parameters"][0]
    assert parameter["schema"]["pattern"] == r"^[0-9a-f]{32}$"


def test_footage_id_in_an_annotated_query_keeps_its_pattern() -> None:
    adapter = TypeAdapter(Annotated[FootageId | None, "doc"])
    assert adapter.validate_python(None) is None
    with pytest.raises(ValidationError):
        adapter.validate_python("x")


# --- statuses ------------------------------------------------------------------------------------------------


def test_statuses_are_the_words_the_status_api_has_always_spoken_in_pipeline_order() -> None:
    assert [s.value for s in FOOTAGE_STATUSES] == [
        "unknown",
        "uploaded",
        "transcoded",
        "publishing",
        "published",
        "failed",
    ]
    assert FootageStatus("published") == "published"  # a StrEnum compares and serializes as its word


def test_every_status_is_either_in_progress_settled_or_unknown() -> None:
    assert IN_PROGRESS.isdisjoint(SETTLED)
    assert set(FOOTAGE_STATUSES) == IN_PROGRESS | SETTLED | {FootageStatus.UNKNOWN}


# --- storage layout ------------------------------------------------------------------------------------------


def test_keys_of_a_footage() -> None:
    assert layout.source_key(FID) == f"raw/{FID}/source"
    assert layout.rendition_key(FID, "tiktok") == f"renditions/{FID}/tiktok.mp4"
    assert layout.image_key(FID, "cover") == f"renditions/{FID}/cover.jpg"
    assert layout.manifest_key(FID) == f"renditions/{FID}/manifest.json"
    attempt = "a" * 32
    assert layout.staging_key(FID, attempt, layout.rendition_key(FID, "tiktok")) == (
        f"staging/transcode/{FID}/{attempt}/tiktok.mp4"
    )


def test_keys_of_a_livestream() -> None:
    assert layout.segment_key(FID, 7) == f"live/{FID}/seg00007.ts"
    assert layout.segment_key(FID, 12345, "mp4") == f"live/{FID}/seg12345.mp4"
    assert layout.archive_key(FID) == f"live/{FID}/archive.mp4"


def _every_key(owner: str) -> list[str]:
    return [
        layout.source_key(owner),
        layout.rendition_key(owner, "youtube"),
        layout.image_key(owner, "thumbnail"),
        layout.manifest_key(owner),
        layout.staging_key(owner, owner, "x/y.mp4"),
        layout.segment_key(owner, 1),
        layout.archive_key(owner),
        layout.tus_part_key(owner, 4096, owner),
    ]


def test_every_key_is_a_valid_storage_key_inside_one_declared_area() -> None:
    prefixes = [a.prefix for a in layout.AREAS]
    for key in _every_key(FID):
        assert validate_key(key) == key
        assert sum(key.startswith(p) for p in prefixes) == 1, key
        assert FID in key.split("/")
    assert {a.writer for a in layout.AREAS} <= set(SERVICES)


def test_branding_keys_are_named_by_ward_channel_kind_and_content() -> None:
    digest = "ab" * 32
    key = layout.branding_key("phuong-1", "p1-youtube", "logo", digest, "png")
    assert key == f"branding/phuong-1/p1-youtube/logo-{digest[:16]}.png"
    assert validate_key(key) == key
    assert [a.writer for a in layout.AREAS if key.startswith(a.prefix)] == ["ingest"]
    for bad in (
        ("..", "c", "logo", digest, "png"),
        ("w", "a/b", "logo", digest, "png"),
        ("w", "c", "x", digest, "png"),
    ):
        with pytest.raises(ValueError, match="not a"):
            layout.branding_key(*bad)
    with pytest.raises(ValueError, match="not a branding file"):
        layout.branding_key("w", "c", "logo", "../" + digest, "png")


def test_a_footage_listing_sees_only_its_own_renditions() -> None:
    other = "0" * 32
    assert not layout.rendition_key(other, "tiktok").startswith(layout.renditions_prefix(FID))
    assert layout.rendition_key(FID, "tiktok").startswith(layout.renditions_prefix(FID))


@pytest.mark.parametrize("bad", NOT_IDS)
def test_a_key_is_never_built_from_something_that_is_not_an_id(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Loa id"):
        _every_key(bad)


# --- topic routing -------------------------------------------------------------------------------------------


def test_every_producer_and_consumer_is_a_known_service_and_every_topic_has_a_producer() -> None:
    for spec in ALL_TOPICS:
        assert spec.producers, spec.name
        assert set(spec.producers) | set(spec.consumers) <= set(SERVICES), spec.name


def test_the_routing_of_the_pipeline() -> None:
    # Transcode also reads its own chunk requests: the group shares a long footage's chunks (contracts/chunks.py);
    # and a live's chunks from the archiver while it goes on (contracts/live.py).
    assert topics_consumed_by("transcode") == (FOOTAGE_UPLOADED, TRANSCODE_CHUNKS, LIVE_CHUNKS)
    publisher = (RENDITIONS_READY, POSTS_DECISIONS, POSTS_ACTIONS, POSTS_SCHEDULE, FEEDBACK_ACTIONS)
    assert topics_consumed_by("publisher") == publisher
    assert topics_consumed_by("ingest") == ()
    assert set(topics_produced_by("transcode")) == {RENDITIONS_READY, TRANSCODE_PROGRESS, TRANSCODE_CHUNKS, DEAD_LETTER}
    assert topics_produced_by("archiver") == (FOOTAGE_UPLOADED, LIVE_CHUNKS)
    assert consumer_groups() == {
        "transcode": (FOOTAGE_UPLOADED, TRANSCODE_CHUNKS, LIVE_CHUNKS),
        "publisher": publisher,
        "metrics": topics_consumed_by("metrics"),
    }
    assert TRANSCODE_PROGRESS not in topics_consumed_by("metrics")
    assert topics_produced_by("ingest") == (
        FOOTAGE_UPLOADED,
        POSTS_DECISIONS,
        POSTS_ACTIONS,
        POSTS_SCHEDULE,
        FEEDBACK_ACTIONS,
        CHANNEL_REGISTRY,
    )
    assert FEEDBACK_ACTIONS in topics_consumed_by("metrics") and FEEDBACK_DONE in topics_consumed_by("metrics")
    assert POSTS_CHANGED in topics_produced_by("publisher") and POSTS_CHANGED in topics_consumed_by("metrics")
    # The publisher does the platform's part of replies and hiding, and says what it did on feedback.done.
    assert FEEDBACK_DONE in topics_produced_by("publisher")
    # Metrics collects the citizens' feedback (poller and webhooks) and projects it: it is both ends of the topic.
    assert FEEDBACK_RECEIVED in topics_produced_by("metrics") and FEEDBACK_RECEIVED in topics_consumed_by("metrics")
    assert set(topics_produced_by("metrics")) == {FEEDBACK_RECEIVED, DEAD_LETTER}


def test_every_consumer_may_dead_letter() -> None:
    """A consumer dead-letters what it cannot process, so it must be a declared producer of the dead letters."""
    for service in consumer_groups():
        assert service in DEAD_LETTER.producers, service


def test_an_undeclared_subscription_or_send_is_refused_naming_the_fix() -> None:
    check_consumes("metrics", POSTS_FAILED)
    check_produces("publisher", POSTS_FAILED)
    with pytest.raises(UndeclaredTopic, match=r"transcode subscribes to posts\.failed.*declare it"):
        check_consumes("transcode", POSTS_FAILED)
    with pytest.raises(UndeclaredTopic, match=r"metrics sends on footage\.uploaded"):
        check_produces("metrics", FOOTAGE_UPLOADED)


async def test_a_services_producer_refuses_a_topic_it_does_not_produce_before_touching_kafka() -> None:
    from loa_core.kafka import EventProducer
    from tests.unit.test_contracts import _examples

    event = FOOTAGE_UPLOADED.event.model_validate(_examples(FOOTAGE_UPLOADED)[0])
    # No broker behind this address: the refusal must come before any connection is tried.
    producer = EventProducer("127.0.0.1:1", service="metrics")
    with pytest.raises(UndeclaredTopic, match=r"metrics sends on footage\.uploaded"):
        await producer.send(FOOTAGE_UPLOADED, event)


def test_the_places_that_cannot_import_the_contracts_speak_the_same_status_words() -> None:
    """The upload page (JavaScript) and the Prometheus rules copy the status words: they must not drift."""
    root = Path(__file__).resolve().parents[2]
    words = {s.value for s in FOOTAGE_STATUSES}
    page = (root / "services/ingest/loa_ingest/web/index.html").read_text("utf-8")
    select = re.search(r'<select name="status">(.*?)</select>', page, re.S)
    assert select
    options = set(re.findall(r'<option value="([a-z]+)"', select[1]))
    assert options == words - {FootageStatus.UNKNOWN}  # "unknown" is never a useful filter
    script = (root / "services/ingest/loa_ingest/web/app.js").read_text("utf-8")
    percent = re.search(r"const STAGE_PERCENT = \{([^}]*)\}", script)
    final = re.search(r"const FINAL = new Set\(\[([^\]]*)\]\)", script)
    assert percent and final
    assert words <= set(re.findall(r"([a-z]+):", percent[1]))
    assert set(re.findall(r'"([a-z]+)"', final[1])) & words == {s.value for s in SETTLED}
    for word in words:
        assert script.count(f"st_{word}:") == 2, f"the page names status {word} in both languages"
    rules = (root / "deploy/prometheus/rules/loa-recording.yml").read_text("utf-8")
    in_progress = re.search(r'loa_footage\{status=~"([a-z|]+)"\}', rules)
    assert in_progress and set(in_progress[1].split("|")) == {s.value for s in IN_PROGRESS}
