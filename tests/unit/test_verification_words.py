"""loa_core.verification.explain: the three answers in both languages, an invalid manifest never authentic, dates
said in Vietnam's time, and the exit codes scripts rely on."""

from __future__ import annotations

from datetime import UTC, date, datetime

from loa_core import provenance
from loa_core.contracts.verification import CutMatch, PostLink, Verification
from loa_core.verification import explain, vietnam_day

MATCH = CutMatch(
    ward="phuong-1",
    footage_id="f" * 32,
    profile="youtube",
    title="Lễ kỷ niệm",
    published_at=datetime(2026, 11, 20, 18, 30, tzinfo=UTC),  # 01:30 on the 21st in Vietnam
    exact=False,
    span_start_s=35.0,
    span_end_s=70.0,
    score=0.9,
    links=(
        PostLink(channel="yt", platform="youtube", profile="youtube", url="https://y.example/v", published_at=None),
    ),
)
CLAIMS = provenance.Claims(
    ward="phuong-1", ward_name="Phường 1", channel="yt", title="Lễ kỷ niệm", event_date=None,
    published_at="2026-09-03T08:00:00+00:00", source_sha256="5" * 64,
)  # fmt: skip


def test_a_match_is_said_with_its_vietnamese_day_and_span() -> None:
    said = explain(Verification(answer="matches", match=MATCH), provenance.Absent())
    assert said.vi == "Khớp với bài đăng của phường ngày 21/11/2026, đoạn 00:35–01:10."
    assert said.en == "Matches the ward's post of 2026-11-21 at 00:35–01:10."
    assert said.links == MATCH.links and said.exit_code == 0
    assert vietnam_day("2026-11-20T16:59:59+00:00") == date(2026, 11, 20)


def test_an_invalid_manifest_is_never_authentic_even_when_the_picture_matches() -> None:
    tampered = provenance.Invalid(provenance.Reason.TAMPERED, CLAIMS)
    said = explain(Verification(answer="invalid", match=MATCH), tampered)
    assert said.answer == "invalid" and said.exit_code == 2
    assert said.en == (
        "Not authentic: the C2PA manifest is altered after signing. The picture resembles the post of 2026-11-21 "
        "(at 00:35–01:10)."
    )
    assert "đã bị sửa sau khi ký" in said.vi and "giống bài đăng ngày 21/11/2026" in said.vi
    # Even if metrics were asked with another state, the manifest's own verdict decides.
    assert explain(Verification(answer="matches", match=MATCH), tampered).answer == "invalid"


def test_signed_and_no_match_and_their_exit_codes() -> None:
    signed = provenance.Signed(CLAIMS, (), "1a", "Phường 1", "urn:c2pa:x", datetime.now(UTC), datetime.now(UTC))
    said = explain(Verification(answer="signed"), signed)
    assert (said.vi, said.en, said.exit_code) == (
        "Đã được Phường 1 ký ngày 03/09/2026, chưa bị sửa đổi.",
        "Signed by Phường 1 on 2026-09-03, unchanged.",
        0,
    )
    none = explain(Verification(answer="no_match"), None)
    assert (none.en, none.exit_code) == ("No match: this is not a video published by the ward.", 1)
