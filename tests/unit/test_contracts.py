"""Every contract version's example payloads decode, and the contracts refuse what they should."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from pydantic import ValidationError

from loa_core.contracts import ALL_TOPICS, DEAD_LETTER, FOOTAGE_UPLOADED, FootageUploaded, TopicSpec

EXAMPLES = resources.files("loa_core.contracts") / "examples"


def _examples(spec: TopicSpec) -> list[dict[str, object]]:
    path = EXAMPLES / f"{spec.name}.v{spec.event.SCHEMA_VERSION}.json"
    return json.loads(path.read_text("utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("spec", ALL_TOPICS, ids=lambda s: s.name)
def test_every_example_decodes_and_round_trips(spec: TopicSpec) -> None:
    examples = _examples(spec)
    assert examples, f"{spec.name} ships no example"
    for raw in examples:
        event = spec.event.from_bytes(json.dumps(raw, ensure_ascii=False).encode())
        assert spec.event.from_bytes(event.to_bytes()) == event
        assert getattr(event, spec.key) is not None or spec is DEAD_LETTER


def test_every_topic_has_an_example_file() -> None:
    shipped = {p.name for p in EXAMPLES.iterdir() if p.name.endswith(".json")}
    declared = {f"{s.name}.v{s.event.SCHEMA_VERSION}.json" for s in ALL_TOPICS}
    assert declared <= shipped


def test_topic_names_are_unique() -> None:
    names = [s.name for s in ALL_TOPICS]
    assert len(names) == len(set(names))


def test_vietnamese_title_survives_the_wire() -> None:
    raw = _examples(FOOTAGE_UPLOADED)[0]
    event = FootageUploaded.from_bytes(json.dumps(raw, ensure_ascii=False).encode())
    again = FootageUploaded.from_bytes(event.to_bytes())
    assert again.metadata.title == "Lễ ra mắt kênh TikTok phường"


def test_events_are_frozen() -> None:
    event = FootageUploaded.model_validate(_examples(FOOTAGE_UPLOADED)[0])
    with pytest.raises(ValidationError):
        event.footage_id = "0" * 32  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 2}, "schema_version 2 is not supported"),
        ({"footage_id": "../etc/passwd"}, "String should match pattern"),
        ({"unexpected": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_events_are_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    raw = {**_examples(FOOTAGE_UPLOADED)[0], **change}
    with pytest.raises(ValueError, match=message):
        FootageUploaded.from_bytes(json.dumps(raw).encode())


def test_unknown_channel_name_shape_is_refused() -> None:
    raw = _examples(FOOTAGE_UPLOADED)[0]
    raw["metadata"] = {**raw["metadata"], "channels": ["Bad Name/.."]}  # type: ignore[dict-item]
    with pytest.raises(ValidationError):
        FootageUploaded.model_validate(raw)
