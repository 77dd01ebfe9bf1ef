"""loa_core.provenance: the certificates' C2PA profile, signing and reading back, and every way a manifest must be
reported invalid (tampered bytes, a swapped manifest, another ward's key, an untrusted root, an expired or revoked
certificate). Real c2pa-python on small generated MP4s."""

from __future__ import annotations

import datetime as dt
import logging
import struct
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from loa_core import provenance
from loa_core.provenance import (
    Absent,
    Action,
    Invalid,
    KeyPair,
    ProvenanceError,
    Reason,
    Signed,
    Trust,
    issue_ward,
    new_root,
    read,
    sign,
)
from tests.support.media import make_clip

SOURCE_SHA = "5" * 64


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("provenance")
    return (
        make_clip(folder / "a.mp4", width=160, height=90, duration_s=1.0),
        make_clip(folder / "b.mp4", width=160, height=90, duration_s=1.2),
    )


@pytest.fixture(scope="module")
def root() -> KeyPair:
    return new_root("Loa test root")


@pytest.fixture(scope="module")
def trust(root: KeyPair) -> Trust:
    return Trust(provenance.roots_of([root.chain_pem]))


@pytest.fixture(scope="module")
def ward_a(root: KeyPair) -> KeyPair:
    return issue_ward(root, "phuong-1", "Phường 1")


def signed(src: Path, dst: Path, key: KeyPair, trust: Trust, *, ward: str = "phuong-1") -> Path:
    sign(
        src,
        dst,
        key=key,
        trust=trust,
        ward=ward,
        ward_name="Phường 1",
        channel="ward-tiktok",
        title="Lễ kỷ niệm",
        event_date=dt.date(2026, 9, 2),
        published_at=dt.datetime(2026, 9, 3, 8, 0, tzinfo=dt.UTC),
        source_sha256=SOURCE_SHA,
        actions=[
            provenance.created("cut from the ward's footage"),
            Action(provenance.TRIMMED, "trimmed", {"start_s": 1.0, "end_s": 31.0}),
            Action(provenance.REFRAMED, "reframed to 9:16"),
            Action(provenance.PUBLISHED),
        ],
        footage_id="f" * 32,
        profile="tiktok",
    )
    return dst


def test_the_certificates_follow_the_c2pa_profile(root: KeyPair, ward_a: KeyPair) -> None:
    ca, leaf = x509.load_pem_x509_certificates(ward_a.chain_pem.encode())[::-1]
    assert provenance.profile_problems(ca, ca=True) == []
    assert provenance.profile_problems(leaf, ca=False) == []
    assert leaf.version is x509.Version.v3 and leaf.issuer == ca.subject
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    ekus = list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert provenance.DOCUMENT_SIGNING in ekus and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ekus
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert leaf.not_valid_before_utc < dt.datetime.now(dt.UTC) < leaf.not_valid_after_utc
    assert leaf.not_valid_after_utc <= ca.not_valid_after_utc
    # The CA itself may not sign manifests; a certificate without digitalSignature is refused on import.
    assert provenance.profile_problems(ca, ca=False)
    with pytest.raises(ProvenanceError, match="C2PA profile"):
        provenance.check_pair(root, ca=False)
    provenance.check_pair(ward_a, ca=False)


def test_an_imported_key_must_belong_to_its_certificate(root: KeyPair, ward_a: KeyPair) -> None:
    other = issue_ward(root, "phuong-2", "Phường 2")
    with pytest.raises(ProvenanceError, match="does not belong") as refused:
        provenance.check_pair(KeyPair(ward_a.chain_pem, other.key_pem), ca=False)
    assert "PRIVATE KEY" not in str(refused.value)
    assert other.key_pem not in repr(other) and other.key_pem not in str(other)


def test_a_signed_cut_reads_back_signed_with_what_it_says(
    clips: tuple[Path, Path], ward_a: KeyPair, trust: Trust, tmp_path: Path
) -> None:
    verdict = read(signed(clips[0], tmp_path / "cut.mp4", ward_a, trust), trust)
    assert isinstance(verdict, Signed), verdict
    assert verdict.authentic
    assert verdict.claims.ward == "phuong-1" and verdict.claims.channel == "ward-tiktok"
    assert verdict.claims.title == "Lễ kỷ niệm" and verdict.claims.event_date == "2026-09-02"
    assert verdict.claims.published_at == "2026-09-03T08:00:00+00:00"
    assert verdict.claims.source_sha256 == SOURCE_SHA and verdict.claims.profile == "tiktok"
    assert [a["action"] for a in verdict.actions] == ["c2pa.created", "c2pa.edited", "c2pa.cropped", "c2pa.published"]
    assert verdict.serial == ward_a.serial and verdict.signer == "Phường 1"
    # The same bytes read from memory say the same.
    assert read((tmp_path / "cut.mp4").read_bytes(), trust) == verdict


def test_a_video_without_a_manifest_is_absent(clips: tuple[Path, Path], trust: Trust) -> None:
    verdict = read(clips[0], trust)
    assert isinstance(verdict, Absent) and not verdict.authentic
    # Bytes that are no video at all carry no manifest either; a damaged one still says a manifest is there.
    assert isinstance(read(bytes(range(256)) * 40, trust), Absent)
    assert isinstance(read(b"", trust), Absent)
    broken = read(b"\0\0\0\x10jumbc2pa" + bytes(5000), trust)
    assert isinstance(broken, Invalid) and broken.reason is Reason.MALFORMED


def test_one_changed_byte_in_the_video_is_tampering(
    clips: tuple[Path, Path], ward_a: KeyPair, trust: Trust, tmp_path: Path
) -> None:
    data = bytearray(signed(clips[0], tmp_path / "cut.mp4", ward_a, trust).read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 200] ^= 0x01  # one bit of the picture
    verdict = read(bytes(data), trust)
    assert isinstance(verdict, Invalid) and verdict.reason is Reason.TAMPERED, verdict
    assert not verdict.authentic
    assert verdict.claims is not None and verdict.claims.ward == "phuong-1"  # what it claims, for "resembles ..."
    assert "altered after signing" in verdict.message() and "đã bị sửa" in verdict.message()


def _boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """The top-level MP4 boxes: (type, start, end)."""
    out, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
        end = len(data) if size == 0 else at + size
        out.append((kind, at, end))
        at = end
    return out


def _manifest_box(data: bytes) -> tuple[int, int]:
    return next((start, end) for kind, start, end in _boxes(data) if kind == b"uuid" and b"c2pa" in data[start:end])


def test_a_manifest_swapped_onto_another_video_is_tampering(
    clips: tuple[Path, Path], ward_a: KeyPair, trust: Trust, tmp_path: Path
) -> None:
    first = signed(clips[0], tmp_path / "first.mp4", ward_a, trust).read_bytes()
    second = signed(clips[1], tmp_path / "second.mp4", ward_a, trust).read_bytes()
    (s1, e1), (s2, e2) = _manifest_box(first), _manifest_box(second)
    swapped = second[:s2] + first[s1:e1] + second[e2:]  # the second video under the first one's manifest
    assert isinstance(read(second, trust), Signed)
    verdict = read(swapped, trust)
    assert isinstance(verdict, Invalid) and verdict.reason is Reason.TAMPERED, verdict


def test_a_manifest_signed_with_another_wards_key_is_invalid(
    clips: tuple[Path, Path], root: KeyPair, trust: Trust, tmp_path: Path
) -> None:
    ward_b = issue_ward(root, "phuong-2", "Phường 2")
    # Ward 2's valid, trusted key signs a manifest that names ward 1.
    verdict = read(signed(clips[0], tmp_path / "cut.mp4", ward_b, trust, ward="phuong-1"), trust)
    assert isinstance(verdict, Invalid) and verdict.reason is Reason.OTHER_WARD, verdict
    assert verdict.serial == ward_b.serial


def test_a_key_from_another_root_is_untrusted(clips: tuple[Path, Path], trust: Trust, tmp_path: Path) -> None:
    stranger = new_root("Not Loa")
    forged = signed(clips[0], tmp_path / "cut.mp4", issue_ward(stranger, "phuong-1", "Phường 1"),
                    Trust(provenance.roots_of([stranger.chain_pem])))  # fmt: skip
    verdict = read(forged, trust)
    assert isinstance(verdict, Invalid) and verdict.reason is Reason.UNTRUSTED, verdict


def test_a_revoked_certificate_makes_nothing_authentic(
    clips: tuple[Path, Path], ward_a: KeyPair, trust: Trust, tmp_path: Path
) -> None:
    cut = signed(clips[0], tmp_path / "cut.mp4", ward_a, trust)
    other = issue_ward(provenance.new_root(), "x", "x")
    assert isinstance(read(cut, Trust(trust.roots_pem, frozenset({other.serial}))), Signed)
    verdict = read(cut, Trust(trust.roots_pem, frozenset({ward_a.serial})))
    assert isinstance(verdict, Invalid) and verdict.reason is Reason.REVOKED, verdict


def test_an_expired_certificate_is_invalid(
    clips: tuple[Path, Path], root: KeyPair, trust: Trust, tmp_path: Path
) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    brief = issue_ward(root, "phuong-1", "Phường 1", not_before=start, valid_for=dt.timedelta(minutes=1, seconds=3))
    cut = signed(clips[0], tmp_path / "cut.mp4", brief, trust)
    ends = brief.certificate.not_valid_after_utc
    while dt.datetime.now(dt.UTC) <= ends:  # wait for the certificate's end (a few seconds), not for a duration
        time.sleep(0.2)
    verdict = read(cut, trust)
    assert isinstance(verdict, Invalid) and verdict.reason is Reason.EXPIRED, verdict
    # Nor can an expired certificate sign.
    with pytest.raises(ProvenanceError, match="not valid now"):
        signed(clips[0], tmp_path / "again.mp4", brief, trust)


def test_a_rotated_wards_old_posts_still_verify(
    clips: tuple[Path, Path], root: KeyPair, ward_a: KeyPair, trust: Trust, tmp_path: Path
) -> None:
    old = signed(clips[0], tmp_path / "old.mp4", ward_a, trust)
    new_key = issue_ward(root, "phuong-1", "Phường 1")
    new = signed(clips[1], tmp_path / "new.mp4", new_key, trust)
    assert new_key.serial != ward_a.serial
    assert isinstance(read(old, trust), Signed) and isinstance(read(new, trust), Signed)


def test_a_failure_to_sign_never_shows_the_key(
    clips: tuple[Path, Path], ward_a: KeyPair, trust: Trust, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_video = tmp_path / "junk.mp4"
    not_a_video.write_bytes(b"\0\0\0\x08junk" * 100)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProvenanceError) as refused:
        signed(not_a_video, tmp_path / "out.mp4", ward_a, trust)
    body = "".join(ward_a.key_pem.splitlines()[1:-1])
    for text in (str(refused.value), repr(refused.value), caplog.text):
        assert body[:40] not in text and "PRIVATE KEY" not in text
    assert not (tmp_path / "out.mp4").exists()  # nothing half-written is left under the final name


def test_the_raw_footage_is_signed_beside_it_and_stays_as_sent(
    clips: tuple[Path, Path], ward_a: KeyPair, trust: Trust
) -> None:
    before = clips[0].read_bytes()
    sidecar = provenance.sign_sidecar(
        clips[0], key=ward_a, trust=trust, ward="phuong-1", ward_name="Phường 1", title="Lễ kỷ niệm",
        event_date="2026-09-02", received_at="2026-09-02T10:00:00+07:00", source_sha256=SOURCE_SHA,
        footage_id="f" * 32,
    )  # fmt: skip
    assert clips[0].read_bytes() == before  # its sha256, the footage's identity, is unchanged
    verdict = read(clips[0], trust, sidecar=sidecar)
    assert isinstance(verdict, Signed), verdict
    assert verdict.claims.profile == "source" and verdict.claims.footage_id == "f" * 32
    assert [a["action"] for a in verdict.actions] == ["c2pa.created"]
    changed = bytearray(before)
    changed[changed.find(b"mdat") + 300] ^= 0x01
    tampered = read(bytes(changed), trust, sidecar=sidecar)
    assert isinstance(tampered, Invalid) and tampered.reason is Reason.TAMPERED, tampered
    assert isinstance(read(clips[1], trust, sidecar=sidecar), Invalid)  # another video under this manifest
