"""Metrics' verification room: the projector keeps every cut's sha256 and fingerprint from renditions.ready, a check
finds the published cut a file is (by its bytes, or by its picture at a span), answers by the manifest's state, and
counts the checks per ward for the report upward."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from loa_core.auth import hash_token
from loa_core.channel_registry import ChannelRegistry
from loa_core.contracts import Channel, Rendition, RenditionsReady, layout, new_id
from loa_core.contracts.verification import Verification, VerifyRequest, answer_of
from loa_core.fingerprint import Fingerprint
from loa_metrics import metrics
from loa_metrics.api import create_api
from loa_metrics.projection import Projection, open_projection
from loa_metrics.settings import MetricsSettings
from tests.support.metrics_events import metadata, published, uploaded

YT = Channel(name="yt", platform="youtube", profiles=("youtube",))
TOKEN = "verification-token"


def cut(footage_id: str, hashes: np.ndarray, sha256: str, ward: str = "default") -> RenditionsReady:
    return RenditionsReady(
        footage_id=footage_id,
        ward=ward,
        metadata=metadata(title="Lễ ra mắt", channels=("yt",)),
        renditions=(
            Rendition(
                profile="youtube",
                key=layout.rendition_key(footage_id, "youtube"),
                width=1920,
                height=1080,
                duration_s=len(hashes) / 2,
                size_bytes=500,
                video_codec="h264",
                audio_codec="aac",
                sha256=sha256,
                fingerprint=Fingerprint(full=hashes).to_text(),
            ),
        ),
    )


def hashes(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 2**63, size=n, dtype=np.int64).astype(np.uint64)


def publish(projection: Projection, footage_id: str, frames: np.ndarray, sha256: str) -> None:
    projection.events.footage_uploaded(uploaded(footage_id, channels=("yt",)))
    projection.events.renditions_ready(cut(footage_id, frames, sha256))
    projection.events.post_published(
        published(footage_id, "youtube", channel="yt", platform="youtube", post_id=f"v-{footage_id[:6]}")
    )


def test_a_check_finds_the_published_cut_by_bytes_or_picture_and_says_the_span(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "projection.sqlite3", ChannelRegistry([YT]))
    room = projection.verifications
    post, other = new_id(), new_id()
    post_frames = hashes(1, 140)
    publish(projection, post, post_frames, "a" * 64)
    publish(projection, other, hashes(2, 100), "b" * 64)
    # Transcoded but never posted: proves nothing.
    never = new_id()
    projection.events.renditions_ready(cut(never, hashes(3, 60), "c" * 64))

    exact = room.check(VerifyRequest(sha256="a" * 64, manifest="absent"))
    assert exact.answer == "matches" and exact.match is not None
    assert (exact.match.footage_id, exact.match.exact, exact.match.span_end_s) == (post, True, 70.0)
    assert [link.url for link in exact.match.links] == [f"https://example.invalid/{post}/youtube"]

    excerpt = Fingerprint(full=post_frames[70:110]).to_text()  # 00:35-00:55 of the post
    by_picture = room.check(VerifyRequest(fingerprint=excerpt, manifest="absent"))
    assert by_picture.match is not None
    assert (by_picture.match.footage_id, by_picture.match.exact) == (post, False)
    assert (by_picture.match.span_start_s, by_picture.match.span_end_s) == (35.0, 55.0)
    assert by_picture.match.title == "Lễ ra mắt" and by_picture.match.links[0].platform == "youtube"

    assert room.check(VerifyRequest(sha256="c" * 64)).answer == "no_match"
    assert room.check(VerifyRequest(fingerprint=Fingerprint(full=hashes(3, 60)).to_text())).answer == "no_match"
    assert room.check(VerifyRequest(fingerprint=Fingerprint(full=hashes(9, 60)).to_text())).answer == "no_match"

    # A manifest present but invalid is said so, with the resemblance; a valid one is signed.
    tampered = room.check(VerifyRequest(fingerprint=excerpt, manifest="invalid"))
    assert tampered.answer == "invalid" and tampered.match is not None and tampered.match.footage_id == post
    assert room.check(VerifyRequest(sha256="a" * 64, manifest="signed")).answer == "signed"


def test_cuts_announced_after_the_first_check_are_found(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "projection.sqlite3", ChannelRegistry([YT]))
    room = projection.verifications
    first = new_id()
    publish(projection, first, hashes(4, 60), "d" * 64)
    assert room.check(VerifyRequest(fingerprint=Fingerprint(full=hashes(4, 60)[:30]).to_text())).match is not None
    late_frames = hashes(5, 60)
    late = new_id()
    publish(projection, late, late_frames, "e" * 64)
    found = room.check(VerifyRequest(fingerprint=Fingerprint(full=late_frames[20:50]).to_text()))
    assert found.match is not None and found.match.footage_id == late
    # A redone transcode replaces the cut's fingerprint.
    redone = hashes(6, 60)
    projection.events.renditions_ready(cut(late, redone, "f" * 64))
    found = room.check(VerifyRequest(fingerprint=Fingerprint(full=redone[:40]).to_text()))
    assert found.match is not None and found.match.footage_id == late
    assert room.check(VerifyRequest(fingerprint=Fingerprint(full=late_frames[20:50]).to_text())).match is None


def test_checks_are_counted_per_ward_answer_and_origin(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "projection.sqlite3", ChannelRegistry([YT]))
    room = projection.verifications
    post = new_id()
    publish(projection, post, hashes(7, 60), "1" * 64)
    before = metrics.VERIFICATIONS.labels(ward="default", answer="matches")._value.get()
    room.check(VerifyRequest(sha256="1" * 64, via="cli"))
    room.check(VerifyRequest(sha256="1" * 64, via="cli"))
    room.check(VerifyRequest(sha256="2" * 64, via="page"))
    assert metrics.VERIFICATIONS.labels(ward="default", answer="matches")._value.get() == before + 2
    counts = room.counts(None)
    assert [(r["ward"], r["answer"], r["via"], r["count"]) for r in counts["rows"]] == [
        ("default", "matches", "cli", 2),
        ("none", "no_match", "page", 1),
    ]
    assert counts["total"] == 3
    assert room.counts("default")["total"] == 2

    api = create_api(
        MetricsSettings(api_token_hashes=hash_token(TOKEN)),
        projection.views,
        projection.engagement,
        verifications=room,
    )
    client = TestClient(api)
    # No sign-in to check; a token to read the counts.
    answer = client.post("/verify", json={"sha256": "1" * 64})
    assert answer.status_code == 200 and Verification.model_validate(answer.json()).answer == "matches"
    assert client.post("/verify", json={"fingerprint": "pf1:2:%%%:-"}).status_code == 422
    assert client.get("/verifications").status_code == 401
    read = client.get("/verifications", headers={"Authorization": f"Bearer {TOKEN}"})
    # The damaged one was refused, not counted.
    assert read.status_code == 200 and read.json()["total"] == 4


def test_the_answer_follows_the_manifest_before_the_picture() -> None:
    assert answer_of("signed", False) == "signed"
    assert answer_of("invalid", True) == "invalid"
    assert answer_of("absent", True) == "matches"
    assert answer_of("unknown", False) == "no_match"


def test_the_verification_examples_decode() -> None:
    examples = resources.files("loa_core.contracts") / "examples"
    for raw in json.loads((examples / "verification.request.v1.json").read_text("utf-8")):
        VerifyRequest.model_validate(raw)
    answers = [
        Verification.model_validate(raw)
        for raw in json.loads((examples / "verification.answer.v1.json").read_text("utf-8"))
    ]
    assert {a.answer for a in answers} == {"no_match", "matches"}


def test_the_public_post_list_shows_published_posts_with_their_seal(tmp_path: Path) -> None:
    from loa_core.contracts import ChangeState, PostChanged

    projection = open_projection(tmp_path / "projection.sqlite3", ChannelRegistry([YT]))
    sealed, unsealed, taken_down = new_id(), new_id(), new_id()
    publish(projection, sealed, hashes(8, 40), "3" * 64)
    projection.events.footage_uploaded(uploaded(unsealed, channels=("yt",)))
    projection.events.post_published(published(unsealed, "youtube", channel="yt", platform="youtube", post_id="u"))
    publish(projection, taken_down, hashes(9, 40), "4" * 64)
    state: ChangeState = "unpublished"
    projection.events.post_changed(
        PostChanged(
            footage_id=taken_down,
            channel="yt",
            platform="youtube",
            profile="youtube",
            post_id="x",
            action_id=new_id(),
            state=state,
            how="delete",
        )
    )
    listed = projection.verifications.public_posts(None, 10).items
    assert {(p.footage_id, p.sealed) for p in listed} == {(sealed, True), (unsealed, False)}
    assert projection.verifications.public_posts("default", 1).items[0].title == "Lễ ra mắt"
    assert projection.verifications.public_posts("another-ward", 10).items == ()

    client = TestClient(
        create_api(
            MetricsSettings(api_token_hashes=hash_token(TOKEN)),
            projection.views,
            projection.engagement,
            verifications=projection.verifications,
        )
    )
    answer = client.get("/verify/posts", params={"ward": "default"})  # no sign-in: public facts
    assert answer.status_code == 200 and len(answer.json()["items"]) == 2


def test_a_posts_uploaded_file_is_found_by_its_own_hash(tmp_path: Path) -> None:
    """The publisher uploads a signed copy of the cut (other bytes): its sha256, carried on posts.published, finds
    the post too."""
    projection = open_projection(tmp_path / "projection.sqlite3", ChannelRegistry([YT]))
    post = new_id()
    projection.events.footage_uploaded(uploaded(post, channels=("yt",)))
    projection.events.renditions_ready(cut(post, hashes(10, 30), "5" * 64))
    announced = published(post, "youtube", channel="yt", platform="youtube", post_id="s1")
    projection.events.post_published(announced.model_copy(update={"sha256": "6" * 64}))
    found = projection.verifications.check(VerifyRequest(sha256="6" * 64))
    assert found.answer == "matches" and found.match is not None
    assert (found.match.footage_id, found.match.exact, found.match.span_end_s) == (post, True, 15.0)
    assert projection.verifications.check(VerifyRequest(sha256="7" * 64)).answer == "no_match"
