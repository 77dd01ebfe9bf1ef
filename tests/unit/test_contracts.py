"""Every contract version's example payloads decode, the evolution rule holds, and the contracts refuse what they
should."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from loa_core.contracts import (
    ALL_TOPICS,
    DEAD_LETTER,
    FOOTAGE_UPLOADED,
    RENDITIONS_READY,
    FootageList,
    FootageMetadata,
    FootageUploaded,
    FootageView,
    InboxItem,
    InboxList,
    RenditionsReady,
    TopicSpec,
    UnsupportedSchemaVersion,
    Versioned,
)
from loa_core.contracts.verification import PublicPosts, Verification, VerifyRequest
from loa_core.streaming import process_record

EXAMPLES = resources.files("loa_core.contracts") / "examples"
_EXAMPLE_NAME = re.compile(r"^(?P<topic>.+)\.v(?P<version>[0-9]+)\.json$")
# The responses other services and the page read, versioned by the same rule; their examples sit beside the events'.
RESPONSES: dict[str, type[Versioned]] = {
    "footage.view": FootageView,
    "verification.request": VerifyRequest,
    "verification.answer": Verification,
    "verification.posts": PublicPosts,
    "inbox.item": InboxItem,
}


def _examples(spec: TopicSpec, version: int | None = None) -> list[dict[str, Any]]:
    """The example payloads of one version of a topic's event (by default the version written today)."""
    path = EXAMPLES / f"{spec.name}.v{version or spec.event.SCHEMA_VERSION}.json"
    return json.loads(path.read_text("utf-8"))  # type: ignore[no-any-return]


def _accepted_versions(contract: type[Versioned]) -> range:
    return range(contract.MIN_SCHEMA_VERSION, contract.SCHEMA_VERSION + 1)


def _wire(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


@pytest.mark.parametrize("spec", ALL_TOPICS, ids=lambda s: s.name)
def test_examples_of_every_accepted_version_decode_and_round_trip(spec: TopicSpec) -> None:
    for version in _accepted_versions(spec.event):
        examples = _examples(spec, version)
        assert examples, f"{spec.name} v{version} ships no example"
        for raw in examples:
            assert raw["schema_version"] == version
            event = spec.event.from_bytes(_wire(raw))
            assert spec.event.from_bytes(event.to_bytes()) == event
            assert getattr(event, spec.key) is not None or spec is DEAD_LETTER
            if version == spec.event.SCHEMA_VERSION:
                # Reading ignores unknown fields, so a misspelt field in an example would pass unseen: the current
                # version's examples must also pass the strict (writing) validation.
                spec.event.model_validate(raw)


def test_every_example_file_is_a_version_a_reader_accepts() -> None:
    """Examples of a version no reader accepts any more are deleted with its reader, not left to rot."""
    by_name = {s.name: s.event for s in ALL_TOPICS} | RESPONSES
    shipped = [p.name for p in EXAMPLES.iterdir() if p.name.endswith(".json")]
    for name in shipped:
        match = _EXAMPLE_NAME.match(name)
        assert match, f"{name}: examples are named <topic or response>.v<N>.json"
        contract = by_name.get(match["topic"])
        assert contract is not None, f"{name}: no topic or response {match['topic']}"
        assert int(match["version"]) in _accepted_versions(contract), f"{name}: no reader accepts this version"
    assert {f"{n}.v{v}.json" for n, c in by_name.items() for v in _accepted_versions(c)} <= set(shipped)


def _view_examples(version: int) -> list[dict[str, Any]]:
    return json.loads((EXAMPLES / f"footage.view.v{version}.json").read_text("utf-8"))  # type: ignore[no-any-return]


def test_footage_view_examples_of_every_accepted_version_decode() -> None:
    for version in _accepted_versions(FootageView):
        examples = _view_examples(version)
        assert examples
        for raw in examples:
            view = FootageView.from_bytes(_wire(raw))
            assert FootageView.from_bytes(view.to_bytes()) == view
            if version == FootageView.SCHEMA_VERSION:
                FootageView.model_validate(raw)  # no misspelt field hides in the example
    listing = FootageList(items=tuple(FootageView.model_validate(r) for r in _view_examples(1)), limit=2, offset=0)
    assert FootageList.from_bytes(listing.to_bytes()) == listing


def test_inbox_item_examples_decode_and_a_list_of_them_round_trips() -> None:
    raw = json.loads((EXAMPLES / "inbox.item.v1.json").read_text("utf-8"))
    items = tuple(InboxItem.from_bytes(_wire(r)) for r in raw)
    for r, item in zip(raw, items, strict=True):
        InboxItem.model_validate(r)  # no misspelt field hides in the example
        assert InboxItem.from_bytes(item.to_bytes()) == item
    assert [r.state for i in items for r in i.replies] == ["posted", "failed"]
    listing = InboxList(items=items, limit=50, offset=0, topics=("dien", "ha-tang"), open=2, overdue=1)
    assert InboxList.from_bytes(listing.to_bytes()) == listing


def test_a_newer_metrics_fields_in_the_status_view_are_ignored_and_a_newer_shape_refused() -> None:
    raw = _view_examples(FootageView.SCHEMA_VERSION)[0]
    newer = {**raw, "thumbnail": "x.jpg", "errors": [{**e, "code": "E1"} for e in raw["errors"]]}
    newer["stages"] = {**raw["stages"], "archived": {"at": None}}
    assert FootageView.from_bytes(_wire(newer)) == FootageView.from_bytes(_wire(raw))
    with pytest.raises(UnsupportedSchemaVersion, match=r"reads versions 1\.\.1"):
        FootageView.from_bytes(_wire({**raw, "schema_version": FootageView.SCHEMA_VERSION + 1}))
    with pytest.raises(ValidationError, match="resolved"):
        FootageView.from_bytes(
            _wire({**raw, "errors": [{k: v for k, v in e.items() if k != "resolved"} for e in raw["errors"]]})
        )


def test_topic_names_are_unique() -> None:
    names = [s.name for s in ALL_TOPICS]
    assert len(names) == len(set(names))


def test_vietnamese_title_survives_the_wire() -> None:
    raw = _examples(FOOTAGE_UPLOADED)[0]
    event = FootageUploaded.from_bytes(_wire(raw))
    again = FootageUploaded.from_bytes(event.to_bytes())
    assert again.metadata.title == "Lễ ra mắt kênh TikTok phường"


def test_events_are_frozen() -> None:
    event = FootageUploaded.model_validate(_examples(FOOTAGE_UPLOADED)[0])
    with pytest.raises(ValidationError):
        event.footage_id = "0" * 32  # type: ignore[misc]


# --- the evolution rule --------------------------------------------------------------------------------------


def test_a_newer_producers_added_fields_are_ignored_at_every_level() -> None:
    """A producer one minor shape ahead (fields added, same schema_version) does not break a reader."""
    raw = _examples(RENDITIONS_READY)[1]
    newer = {
        **raw,
        "district": "quan-4",
        "metadata": {**raw["metadata"], "approval": {"by": "ward-admin"}},
        "renditions": [{**r, "hdr": False} for r in raw["renditions"]],
        "images": [{**i, "blurhash": "LEHV6nWB2yk8"} for i in raw["images"]],
    }
    event = RenditionsReady.from_bytes(_wire(newer))
    assert event == RenditionsReady.from_bytes(_wire(raw))
    assert "district" not in event.model_dump_json()


def test_stored_contract_data_is_read_by_the_same_rule() -> None:
    """What a service stored from a newer shape (ingest's pending upload metadata) still reads after a rollback."""
    stored = json.dumps({"title": "Lễ khai mạc", "channels": ["local"], "approval": {"by": "ward-admin"}})
    assert FootageMetadata.read_json(stored) == FootageMetadata(title="Lễ khai mạc", channels=("local",))
    with pytest.raises(ValidationError, match="has no field approval"):
        FootageMetadata.model_validate_json(stored)  # building, not reading: strict


@pytest.mark.parametrize("version", [0, 2, "1", None, True])
def test_a_version_outside_the_accepted_range_is_refused_with_the_range(version: object) -> None:
    raw = {**_examples(FOOTAGE_UPLOADED)[0], "schema_version": version}
    with pytest.raises(
        UnsupportedSchemaVersion, match=r"schema_version .* is not supported: this reader reads versions 1\.\.1"
    ):
        FootageUploaded.from_bytes(_wire(raw))


def test_a_version_outside_the_range_is_dead_lettered_by_the_consumer_path() -> None:
    import asyncio

    sent: list[Any] = []

    class Producer:
        async def send(self, spec: TopicSpec, event: Any) -> None:
            sent.append((spec, event))

    async def handler(event: FootageUploaded) -> None:
        raise AssertionError("a refused record must not reach the handler")

    raw = _wire({**_examples(FOOTAGE_UPLOADED)[0], "schema_version": 2})
    asyncio.run(
        process_record(
            raw,
            spec=FOOTAGE_UPLOADED,
            topic="footage.uploaded",
            partition=0,
            offset=3,
            service="transcode",
            handler=handler,
            producer=Producer(),  # type: ignore[arg-type]
        )
    )
    [(spec, letter)] = sent
    assert spec is DEAD_LETTER
    assert letter.error_type == "UnsupportedSchemaVersion"
    assert "schema_version 2 is not supported" in letter.reason
    assert letter.original_value == raw.decode()


class _FootageUploadedV2(FootageUploaded):
    """The next version of an event, as the rule says to ship it: reads 1..2, writes 2."""

    SCHEMA_VERSION: ClassVar[int] = 2
    MIN_SCHEMA_VERSION: ClassVar[int] = 1


def test_a_reader_of_the_next_version_still_decodes_the_previous_ones_examples() -> None:
    for raw in _examples(FOOTAGE_UPLOADED, 1):
        assert _FootageUploadedV2.from_bytes(_wire(raw)).schema_version == 1


def test_an_event_built_in_code_carries_the_version_its_class_writes() -> None:
    fields = {k: v for k, v in _examples(FOOTAGE_UPLOADED)[0].items() if k != "schema_version"}
    written = _FootageUploadedV2.model_validate(fields)
    assert written.schema_version == 2
    # ... which a reader still on version 1 refuses, with the reason, rather than misreading it.
    with pytest.raises(UnsupportedSchemaVersion, match="schema_version 2"):
        FootageUploaded.from_bytes(written.to_bytes())
    assert FootageUploaded.model_validate(fields).schema_version == 1


def test_writing_stays_strict_a_misspelled_field_is_an_error() -> None:
    raw = _examples(FOOTAGE_UPLOADED)[0]
    with pytest.raises(ValidationError, match="FootageUploaded has no field unexpected"):
        FootageUploaded.model_validate({**raw, "unexpected": 1})
    with pytest.raises(ValidationError, match="FootageMetadata has no field chanels"):
        FootageMetadata(title="t", channels=("local",), chanels=("youtube",))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"footage_id": "../etc/passwd"}, "String should match pattern"),
        ({"footage_id": "3B1F5C0E2D9A4E6F8A7B6C5D4E3F2A1B"}, "String should match pattern"),
        ({"media": {"key": "raw/x/source"}}, "Field required"),
    ],
)
def test_bad_events_are_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    raw = {**_examples(FOOTAGE_UPLOADED)[0], **change}
    with pytest.raises(ValueError, match=message):
        FootageUploaded.from_bytes(_wire(raw))


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_what_is_not_a_json_object_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        FootageUploaded.from_bytes(raw)


def test_unknown_channel_name_shape_is_refused() -> None:
    raw = _examples(FOOTAGE_UPLOADED)[0]
    raw["metadata"] = {**raw["metadata"], "channels": ["Bad Name/.."]}
    with pytest.raises(ValidationError):
        FootageUploaded.model_validate(raw)
