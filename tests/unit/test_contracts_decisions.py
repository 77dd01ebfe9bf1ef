"""An approver's decision pins exactly the cut and the text it was made on (contracts.decisions)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loa_core.contracts import FootageMetadata, PostDecision, PostText

FOOTAGE = "3b1f5c0e2d9a4e6f8a7b6c5d4e3f2a1b"
CUT = "a" * 64
OTHER_CUT = "b" * 64
METADATA = FootageMetadata(
    title="Lễ ra mắt kênh TikTok phường", description="Phường 1", tags=("Phường Một",), channels=("yt",)
)


def _decision(**fields: object) -> PostDecision:
    values: dict[str, object] = {
        "footage_id": FOOTAGE,
        "channel": "yt",
        "decision": "approved",
        "by": "acc-1",
        "cuts": {"youtube": CUT},
        "text_sha256": PostText.of(METADATA).sha256(),
    }
    return PostDecision.model_validate({**values, **fields})


def test_the_text_fingerprint_is_canonical_and_keeps_vietnamese() -> None:
    text = PostText(title="Đại hội Đảng bộ phường", description="Nhiệm kỳ 2025–2030", hashtags=("#ĐạiHội",))
    again = PostText.model_validate({"hashtags": ["#ĐạiHội"], "description": "Nhiệm kỳ 2025–2030", "title": text.title})
    assert text.sha256() == again.sha256()
    assert text.sha256() != PostText(title="Dai hoi Dang bo phuong", description=text.description).sha256()
    assert PostText.of(METADATA) == PostText(title=METADATA.title, description="Phường 1", hashtags=("Phường Một",))


def test_a_decision_covers_exactly_the_cut_and_text_it_was_made_on() -> None:
    decision, own = _decision(), PostText.of(METADATA).sha256()
    assert decision.covers(profile="youtube", cut_sha256=CUT, own_text_sha256=own)
    assert not decision.covers(profile="youtube", cut_sha256=OTHER_CUT, own_text_sha256=own)
    assert not decision.covers(profile="youtube", cut_sha256=None, own_text_sha256=own)
    assert not decision.covers(profile="tiktok", cut_sha256=CUT, own_text_sha256=own)
    changed = METADATA.model_copy(update={"title": "Lễ ra mắt kênh Zalo phường"})
    assert not decision.covers(profile="youtube", cut_sha256=CUT, own_text_sha256=PostText.of(changed).sha256())


def test_an_approval_with_changed_text_covers_that_text_whatever_the_footage_says() -> None:
    text = PostText(title="Tiêu đề đã sửa", hashtags=("#Phường1",))
    decision = _decision(text=text.model_dump(), text_sha256=text.sha256())
    changed = METADATA.model_copy(update={"title": "Khác"})
    assert decision.covers(profile="youtube", cut_sha256=CUT, own_text_sha256=PostText.of(changed).sha256())


def test_a_rejection_needs_a_reason_and_the_text_its_fingerprint() -> None:
    with pytest.raises(ValidationError, match="needs a reason"):
        _decision(decision="rejected", reason="  ")
    assert _decision(decision="rejected", reason="Sai tên").reason == "Sai tên"
    with pytest.raises(ValidationError, match="not the sha256 of text"):
        _decision(text={"title": "Tiêu đề đã sửa"})
    with pytest.raises(ValidationError):
        _decision(cuts={})
