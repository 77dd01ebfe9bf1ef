"""Provenance: C2PA manifests on what Loa publishes, behind one module (c2pa-python lives here, as ffmpeg lives in
loa_core.media), and the keys and certificates that sign them.

Certificates (`cryptography`), after the C2PA certificate profile (C2PA 2.1, "X.509 certificates"; c2pa-rs's
profile check):

- the installation's (or district's) root CA: a self-signed v3 certificate, BasicConstraints CA (critical, path
  length 0), KeyUsage keyCertSign and cRLSign (critical), a SubjectKeyIdentifier;
- one signing certificate per ward issued by that root: BasicConstraints not a CA (critical), KeyUsage
  digitalSignature only (critical), ExtendedKeyUsage id-kp-documentSigning (1.3.6.1.5.5.7.3.36, RFC 9336; never
  anyExtendedKeyUsage), the Subject and Authority key identifiers. The ward's id is the subject's
  organizationalUnitName, its name the commonName. ES256 (ECDSA P-256, SHA-256) throughout.

A ward whose key is rotated gets a new certificate; the old one stays valid, so what it signed still verifies. A
revoked certificate (its serial in the revoked list, `Trust.revoked`) no longer makes anything authentic.

`sign` embeds a manifest (a C2PA actions assertion and Loa's own `vn.loa.provenance` assertion naming the ward, the
channel, the title, the event date, when it was published and the source footage's sha256) into an MP4; `read`
answers, against the installation's roots only (never the SDK's built-in list), `Signed` (valid and trusted, by a
certificate of the ward the manifest names), `Invalid` with the reason, or `Absent`. Nothing invalid is ever
`Signed`. A private key is never part of a repr, a message or a log line.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

log = logging.getLogger(__name__)

# The custom assertion every Loa manifest carries (reverse-DNS label, as C2PA asks of entity-specific assertions).
ASSERTION = "vn.loa.provenance"
ACTIONS = "c2pa.actions.v2"
CLAIM_GENERATOR = "loa"
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning (RFC 9336)
ROOT_VALID_DAYS = 20 * 365
WARD_VALID_DAYS = 3 * 365
# Certificates start a little before they are made: a verifier whose clock is behind still accepts a fresh one.
BACKDATE = dt.timedelta(minutes=10)
MP4 = "video/mp4"


class ProvenanceError(Exception):
    """A key, a certificate or a signature could not be made or used. Its message never holds a key."""


# ---------------------------------------------------------------------------------------------------- keys, certs


@dataclass(frozen=True)
class KeyPair:
    """A certificate chain (leaf first, PEM) and its private key (PEM, PKCS#8). The key never shows in a repr."""

    chain_pem: str
    key_pem: str = field(repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.chain_pem.encode("ascii"))

    @property
    def serial(self) -> str:
        return serial_hex(self.certificate)

    def __str__(self) -> str:
        return f"KeyPair(serial={self.serial})"


def serial_hex(cert: x509.Certificate) -> str:
    """A certificate's serial as the lower-case hex the C2PA reader reports (no leading zeros)."""
    return format(cert.serial_number, "x")


def pem_of(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    raw = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return raw.decode("ascii")


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Loa")]
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]))
    return x509.Name(attributes)


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.UTC)


def new_root(
    name: str = "Loa provenance root", *, now: dt.datetime | None = None, days: int = ROOT_VALID_DAYS
) -> KeyPair:
    """A new installation (or district) root CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = _now(now) - BACKDATE
    subject = _name(name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(pem_of(cert), _key_pem(key))


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def issue_ward(
    ca: KeyPair,
    ward: str,
    ward_name: str,
    *,
    now: dt.datetime | None = None,
    valid_for: dt.timedelta = dt.timedelta(days=WARD_VALID_DAYS),
    not_before: dt.datetime | None = None,
) -> KeyPair:
    """A new key and signing certificate for `ward`, issued by `ca` (the chain: the ward's, then the CA's)."""
    ca_cert = ca.certificate
    ca_key = _load_key(ca.key_pem)
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before if not_before is not None else _now(now) - BACKDATE
    end = min(start + valid_for, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(ward_name or ward, unit=ward))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(pem_of(cert) + ca.chain_pem, _key_pem(key))


def _load_key(key_pem: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeError):
        raise ProvenanceError(
            "the private key is not an unencrypted PEM key / khóa riêng không phải khóa PEM"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ProvenanceError("the private key is not an ECDSA P-256 key (ES256) / khóa riêng không phải ECDSA P-256")
    return key


def certificates(chain_pem: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
    except (ValueError, UnicodeError):
        raise ProvenanceError("not a PEM certificate chain / không phải chuỗi chứng thư PEM") from None
    return certs


def profile_problems(cert: x509.Certificate, *, ca: bool) -> list[str]:
    """What keeps `cert` from the C2PA profile of a signing certificate (ca=False) or of its CA (ca=True)."""
    problems = []
    if cert.version is not x509.Version.v3:
        problems.append("not an X.509 v3 certificate")
    exts = cert.extensions
    try:
        usage = exts.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return [*problems, "no KeyUsage extension"]
    if not usage.critical:
        problems.append("KeyUsage is not critical")
    try:
        constraints = exts.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if ca:
        if not is_ca or not usage.value.key_cert_sign:
            problems.append("not a CA certificate that may sign certificates (BasicConstraints CA, keyCertSign)")
        return problems
    if is_ca:
        problems.append("a CA certificate cannot sign manifests")
    if not usage.value.digital_signature:
        problems.append("KeyUsage lacks digitalSignature")
    try:
        ekus = list(exts.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        ekus = []
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in ekus:
        problems.append("ExtendedKeyUsage holds anyExtendedKeyUsage")
    if not {DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION} & set(ekus):
        problems.append("ExtendedKeyUsage has neither id-kp-documentSigning nor id-kp-emailProtection")
    if not isinstance(cert.public_key(), ec.EllipticCurvePublicKey):
        problems.append("the key is not an ECDSA key (ES256)")
    return problems


def check_pair(pair: KeyPair, *, ca: bool) -> None:
    """Refuse (ProvenanceError) an imported pair: its key must match its certificate, and the certificate fit the
    C2PA profile and be valid now."""
    certs = certificates(pair.chain_pem)
    if not certs:
        raise ProvenanceError("no certificate in the chain / chuỗi không có chứng thư nào")
    key = _load_key(pair.key_pem)
    leaf = certs[0]
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ProvenanceError("the private key does not belong to the certificate / khóa riêng không khớp chứng thư")
    if problems := profile_problems(leaf, ca=ca):
        raise ProvenanceError(
            "the certificate does not follow the C2PA profile: " + "; ".join(problems) + " / chứng thư không theo "
            "hồ sơ C2PA"
        )
    now = dt.datetime.now(dt.UTC)
    if not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc:
        raise ProvenanceError("the certificate is not valid now / chứng thư không còn (hoặc chưa) hiệu lực")


def chain_root(chain_pem: str) -> x509.Certificate | None:
    """The self-signed certificate at the end of a chain, if it has one (a trust anchor)."""
    certs = certificates(chain_pem)
    last = certs[-1] if certs else None
    return last if last is not None and last.issuer == last.subject else None


# ---------------------------------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class Action:
    """One C2PA action (the spec's standard names: c2pa.created, c2pa.edited, c2pa.cropped, c2pa.resized,
    c2pa.color_adjustments, c2pa.published, ...), with what Loa did in words."""

    action: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    digital_source_type: str | None = None  # required on c2pa.created (an IPTC digital source type URI)

    def to_c2pa(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action}
        if self.digital_source_type:
            out["digitalSourceType"] = self.digital_source_type
        params = dict(self.parameters)
        if self.description:
            params["description"] = self.description
        if params:
            out["parameters"] = params
        return out


# The first action must be c2pa.created or c2pa.opened (C2PA 2.x). A cut's manifest is the first of its own chain
# (the raw footage's is a sidecar, see `sign_sidecar`): it is created, from a camera's capture.
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
CREATED = "c2pa.created"


def created(description: str) -> Action:
    return Action(CREATED, description, digital_source_type=DIGITAL_CAPTURE)


# How Loa's edits are named as C2PA actions (C2PA 2.1 "Actions": the standard list has no "trimmed").
EDITED = "c2pa.edited"
TRIMMED = EDITED  # a span cut from the footage (parameters: start_s, end_s)
REFRAMED = "c2pa.cropped"  # reframed to another aspect ratio (9:16 from 16:9)
RESIZED = "c2pa.resized"
SUBTITLES = "c2pa.edited"  # burned-in subtitles ("c2pa.placed" is for an ingredient placed into the asset)
LOGO = "c2pa.edited"  # the ward's logo drawn over the picture
LOUDNESS = "c2pa.edited"  # loudness normalised (EBU R128); C2PA has no audio-levels action
COLOUR = "c2pa.color_adjustments"
TRANSCODED = "c2pa.transcoded"
PUBLISHED = "c2pa.published"


# Each edit transcode records (contracts.events.Edit) as a C2PA action, with what it was in words.
EDIT_ACTIONS: dict[str, tuple[str, str]] = {
    "trimmed": (TRIMMED, "trimmed: a span of the footage kept"),
    "reframed": (REFRAMED, "reframed to the platform's aspect ratio"),
    "resized": (RESIZED, "scaled to the platform's size"),
    "subtitles": (SUBTITLES, "subtitles burned in"),
    "logo": (LOGO, "the ward's logo drawn over the picture"),
    "intro": (EDITED, "the channel's intro put before the footage"),
    "outro": (EDITED, "the channel's outro put after the footage"),
    "loudness": (LOUDNESS, "loudness normalised (EBU R128)"),
}


def actions_for(
    edits: Iterable[str],
    *,
    trim_start_s: float | None = None,
    trim_end_s: float | None = None,
    width: int | None = None,
    height: int | None = None,
    channel: str,
) -> list[Action]:
    """A cut's C2PA actions (pure): created from the ward's capture, each edit transcode made, then published on
    `channel`. Unknown edit words (a newer transcode) are kept as c2pa.edited with the word."""
    actions = [created("cut by Loa from the ward's footage")]
    for edit in edits:
        name, words = EDIT_ACTIONS.get(edit, ("c2pa.edited", edit))
        parameters: dict[str, Any] = {"loa:edit": edit}
        if edit == "trimmed":
            parameters |= {k: v for k, v in (("start_s", trim_start_s), ("end_s", trim_end_s)) if v is not None}
        if edit in ("reframed", "resized") and width and height:
            parameters |= {"width": width, "height": height}
        actions.append(Action(name, words, parameters))
    actions.append(Action(PUBLISHED, f"published on channel {channel}", {"loa:channel": channel}))
    return actions


@dataclass(frozen=True)
class Claims:
    """What Loa's manifest says about a published video (the `vn.loa.provenance` assertion)."""

    ward: str
    ward_name: str
    channel: str
    title: str
    event_date: str | None
    published_at: str
    source_sha256: str
    footage_id: str | None = None
    profile: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Claims:
        def text(name: str) -> str:
            value = data.get(name)
            return value if isinstance(value, str) else ""

        def optional(name: str) -> str | None:
            value = data.get(name)
            return value if isinstance(value, str) else None

        return cls(
            ward=text("ward"),
            ward_name=text("ward_name"),
            channel=text("channel"),
            title=text("title"),
            event_date=optional("event_date"),
            published_at=text("published_at"),
            source_sha256=text("source_sha256"),
            footage_id=optional("footage_id"),
            profile=optional("profile"),
        )


@dataclass(frozen=True)
class SignedFile:
    """What `sign` made: the manifest's label and the signing certificate's serial."""

    manifest_label: str
    serial: str
    size: int


@dataclass(frozen=True)
class Trust:
    """What a reader trusts: the installation's roots (PEM), and the serials of revoked certificates."""

    roots_pem: tuple[str, ...]
    revoked: frozenset[str] = frozenset()

    def settings(self) -> dict[str, Any]:
        # Only Loa's roots: trust_anchors replaces the SDK's list. verify_trust makes "untrusted" a failure.
        return {
            "trust": {"trust_anchors": "".join(self.roots_pem)},
            "verify": {"verify_trust": True, "verify_after_reading": True, "ocsp_fetch": False,
                       "remote_manifest_fetch": False},
        }  # fmt: skip

    def context(self) -> Any:
        return c2pa.Context.from_dict(self.settings())


def _iso(value: dt.datetime | dt.date | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


def _manifest(claims: Claims, actions: Sequence[Action], mime: str) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": "1"}],
        "title": claims.title,
        "format": mime,
        "assertions": [
            {"label": ACTIONS, "data": {"actions": [a.to_c2pa() for a in actions]}},
            {"label": ASSERTION, "data": claims.to_json()},
        ],
    }


def _usable(key: KeyPair) -> str:
    """The signing certificate's serial, once it is known valid now (ProvenanceError, bilingual, if not)."""
    cert = key.certificate
    serial = serial_hex(cert)
    if not cert.not_valid_before_utc <= now() < cert.not_valid_after_utc:
        until = cert.not_valid_after_utc.isoformat()
        raise ProvenanceError(
            f"the signing certificate {serial} is not valid now (valid until {until}): rotate the ward's key / chứng "
            f"thư ký {serial} không còn hiệu lực (đến {until}): hãy thay khóa của phường"
        )
    return serial


def _signed_with(
    key: KeyPair, trust: Trust, manifest: dict[str, Any], mime: str, source: Any, dest: Any, *, embed: bool
) -> bytes:
    """The C2PA SDK's signing, its errors as ProvenanceError (the key never in the message)."""
    try:
        context = trust.context()
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, key.chain_pem.encode(), key.key_pem.encode(), None)
        )
        try:
            builder = c2pa.Builder(manifest, context=context)
            if not embed:
                builder.set_no_embed()
            return bytes(builder.sign(signer, mime, source, dest))
        finally:
            signer.close()
            context.close()
    except c2pa.C2paError as exc:
        # The SDK's words name the failure (a format, a certificate), never the key we passed.
        raise ProvenanceError(f"C2PA signing failed: {_redacted(str(exc), key)}") from None


def sign(
    src_path: Path,
    dst_path: Path,
    *,
    key: KeyPair,
    trust: Trust,
    ward: str,
    ward_name: str,
    channel: str,
    title: str,
    event_date: dt.date | str | None,
    published_at: dt.datetime | str,
    source_sha256: str,
    actions: Sequence[Action],
    footage_id: str | None = None,
    profile: str | None = None,
) -> SignedFile:
    """Write `src_path` (an MP4) to `dst_path` with a signed C2PA manifest embedded. Blocking: run it in a thread.
    ProvenanceError when it cannot be signed (its message never holds the key)."""
    claims = Claims(
        ward=ward,
        ward_name=ward_name,
        channel=channel,
        title=title,
        event_date=_iso(event_date),
        published_at=_iso(published_at) or "",
        source_sha256=source_sha256,
        footage_id=footage_id,
        profile=profile,
    )
    serial = _usable(key)
    tmp = dst_path.with_name(f".{dst_path.name}.{os.getpid()}.signing")
    try:
        with src_path.open("rb") as source, tmp.open("w+b") as dest:
            raw = _signed_with(key, trust, _manifest(claims, actions, MP4), MP4, source, dest, embed=True)
        tmp.replace(dst_path)
    except ProvenanceError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ProvenanceError(f"C2PA signing failed: {exc.strerror or exc}") from None
    label = _manifest_label(raw)
    log.info("signed %s for ward %s (certificate %s)", dst_path.name, ward, serial)
    return SignedFile(manifest_label=label, serial=serial, size=dst_path.stat().st_size)


def sign_sidecar(
    src_path: Path,
    *,
    key: KeyPair,
    trust: Trust,
    ward: str,
    ward_name: str,
    title: str,
    event_date: dt.date | str | None,
    received_at: dt.datetime | str,
    source_sha256: str,
    footage_id: str,
    mime: str = MP4,
) -> bytes:
    """A signed manifest for the raw footage, kept beside it (a sidecar, `.c2pa`): the footage's bytes stay as the
    media team sent them (their sha256 is the footage's identity). Blocking. ProvenanceError if it cannot be signed
    (a container C2PA does not bind, an unusable key)."""
    claims = Claims(ward=ward, ward_name=ward_name, channel="", title=title, event_date=_iso(event_date),
                    published_at=_iso(received_at) or "", source_sha256=source_sha256, footage_id=footage_id,
                    profile="source")  # fmt: skip
    actions = [created("received by Loa from the ward's media team")]
    _usable(key)
    try:
        with src_path.open("rb") as source:
            return _signed_with(key, trust, _manifest(claims, actions, mime), mime, source, io.BytesIO(), embed=False)
    except OSError as exc:
        raise ProvenanceError(f"C2PA signing failed: {exc.strerror or exc}") from None


def _manifest_label(raw: bytes) -> str:
    """The manifest's urn from its signed bytes (best effort: only for logs and the ledger)."""
    start = raw.find(b"urn:c2pa:")
    if start < 0:
        start = raw.find(b"urn:uuid:")
    return raw[start : start + 45].decode("ascii", "replace") if start >= 0 else ""


def _redacted(message: str, key: KeyPair) -> str:
    body = "".join(line for line in key.key_pem.splitlines() if not line.startswith("-----"))
    for piece in (key.key_pem, body, *key.key_pem.splitlines()[1:-1]):
        if piece and len(piece) > 16:
            message = message.replace(piece, "[redacted]")
    return message


# ---------------------------------------------------------------------------------------------------- reading


class Reason(StrEnum):
    TAMPERED = "tampered"  # the bytes or the manifest changed after signing (or a manifest from another file)
    UNTRUSTED = "untrusted"  # not signed by a certificate of the installation's roots
    REVOKED = "revoked"
    EXPIRED = "expired"  # the certificate was not valid when checked
    OTHER_WARD = "other_ward"  # the manifest names a ward, but another ward's certificate signed it
    MALFORMED = "malformed"  # a manifest is there but cannot be read, or it is not Loa's


REASONS = {
    Reason.TAMPERED: ("altered after signing", "đã bị sửa sau khi ký"),
    Reason.UNTRUSTED: ("signed by a key this installation does not trust", "được ký bằng khóa không được tin cậy"),
    Reason.REVOKED: ("signed with a revoked key", "được ký bằng khóa đã bị thu hồi"),
    Reason.EXPIRED: ("signed with an expired certificate", "được ký bằng chứng thư đã hết hạn"),
    Reason.OTHER_WARD: ("signed with another ward's key than the ward it names",
                        "được ký bằng khóa của phường khác với phường ghi trong đó"),
    Reason.MALFORMED: ("carries a damaged or foreign manifest", "mang bản kê khai hỏng hoặc không phải của Loa"),
}  # fmt: skip


@dataclass(frozen=True)
class Signed:
    """A valid manifest from a trusted, unrevoked certificate of the ward it names: the video is unchanged."""

    claims: Claims
    actions: tuple[dict[str, Any], ...]
    serial: str
    signer: str  # the certificate's common name (the ward's name)
    manifest_label: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    kind: str = "signed"

    @property
    def authentic(self) -> bool:
        return True


@dataclass(frozen=True)
class Invalid:
    """A manifest is there and must not be believed. `claims` is what it says (None when unreadable), `codes` the
    C2PA validation codes that failed."""

    reason: Reason
    claims: Claims | None
    codes: tuple[str, ...] = ()
    serial: str | None = None
    kind: str = "invalid"

    @property
    def authentic(self) -> bool:
        return False

    def message(self) -> str:
        en, vi = REASONS[self.reason]
        return f"The manifest is invalid: {en}. / Bản kê khai không hợp lệ: {vi}."


@dataclass(frozen=True)
class Absent:
    """No C2PA manifest at all."""

    kind: str = "absent"

    @property
    def authentic(self) -> bool:
        return False


Verdict = Signed | Invalid | Absent

# C2PA validation codes (C2PA 2.1, "Validation"), by what they mean here.
_EXPIRED_CODES = ("signingCredential.expired",)
_REVOKED_CODES = ("signingCredential.ocsp.revoked",)
_UNTRUSTED_CODES = ("signingCredential.untrusted", "signingCredential.invalid")


def read(source: Path | bytes, trust: Trust, *, sidecar: bytes | None = None, mime: str = MP4) -> Verdict:
    """The verdict on an MP4 (a path, or its bytes), from its embedded manifest or the `sidecar` one given.
    Blocking: run it in a thread."""
    stream: io.BufferedIOBase
    stream = source.open("rb") if isinstance(source, Path) else io.BytesIO(source)
    context = trust.context()
    try:
        with stream:
            try:
                reader = c2pa.Reader(mime, stream, sidecar, context=context)
            except c2pa.C2paError.ManifestNotFound:
                return Absent()
            except c2pa.C2paError as exc:
                # Not a container the SDK reads (random bytes, a truncated file): a manifest is only said to be
                # there, damaged, when its JUMBF box is.
                stream.seek(0)
                if not _has_jumbf(stream):
                    return Absent()
                log.info("unreadable C2PA data: %s", exc)
                return Invalid(Reason.MALFORMED, None)
            try:
                return _verdict(reader, trust.revoked)
            finally:
                reader.close()
    finally:
        context.close()


def _has_jumbf(stream: Any, chunk: int = 1 << 20) -> bool:
    """Whether a JUMBF superbox ("jumb") is anywhere in the stream, read in blocks (a box may span two)."""
    tail = b""
    while block := stream.read(chunk):
        if b"jumb" in tail + block:
            return True
        tail = block[-3:]
    return False


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _verdict(reader: Any, revoked: frozenset[str]) -> Verdict:
    try:
        store = json.loads(reader.json())
        cr = json.loads(reader.crjson())
    except (c2pa.C2paError, ValueError):
        return Invalid(Reason.MALFORMED, None)
    label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(label) if isinstance(label, str) else None
    if not isinstance(manifest, dict):
        return Invalid(Reason.MALFORMED, None)
    assertions = {a.get("label"): a.get("data") for a in manifest.get("assertions", []) if isinstance(a, dict)}
    data = assertions.get(ASSERTION)
    claims = Claims.from_json(data) if isinstance(data, dict) else None
    actions_data = assertions.get(ACTIONS)
    actions = tuple(actions_data.get("actions", [])) if isinstance(actions_data, dict) else ()
    cert = _certificate_info(cr, label)
    serial = cert.serial
    failed = _failure_codes(store.get("validation_results"))
    state = store.get("validation_state")
    if failed or state != "Trusted":
        return Invalid(_reason(failed, state), claims, failed, serial)
    if claims is None or serial is None or cert.not_after is None or cert.not_before is None:
        return Invalid(Reason.MALFORMED, claims, (), serial)
    if serial in revoked:
        return Invalid(Reason.REVOKED, claims, (), serial)
    # Without a trusted timestamp nothing proves the signature predates the certificate's end (C2PA: the
    # certificate is then checked at validation time); c2pa-rs checks it only at signing.
    if not cert.not_before <= now() < cert.not_after:
        return Invalid(Reason.EXPIRED, claims, (), serial)
    if cert.subject.get("OU") != claims.ward:
        return Invalid(Reason.OTHER_WARD, claims, (), serial)
    return Signed(claims, actions, serial, cert.subject.get("CN", ""), label, cert.not_before, cert.not_after)


def _reason(failed: tuple[str, ...], state: object) -> Reason:
    if any(code in _EXPIRED_CODES for code in failed):
        return Reason.EXPIRED
    if any(code in _REVOKED_CODES for code in failed):
        return Reason.REVOKED
    if any(code.startswith(("assertion.", "claimSignature.mismatch", "manifest.")) for code in failed):
        return Reason.TAMPERED
    if any(code in _UNTRUSTED_CODES for code in failed) or state == "Valid":
        return Reason.UNTRUSTED
    return Reason.TAMPERED


def _failure_codes(results: object) -> tuple[str, ...]:
    codes: list[str] = []
    if isinstance(results, dict):
        for part in ("activeManifest",):
            section = results.get(part)
            if isinstance(section, dict):
                codes += [str(item.get("code")) for item in section.get("failure", []) if isinstance(item, dict)]
        for delta in results.get("ingredientDeltas", []) or []:
            section = delta.get("validationDeltas", {}) if isinstance(delta, dict) else {}
            codes += [str(item.get("code")) for item in section.get("failure", []) if isinstance(item, dict)]
    return tuple(codes)


@dataclass(frozen=True)
class _Certificate:
    subject: dict[str, str]
    serial: str | None
    not_before: dt.datetime | None
    not_after: dt.datetime | None


def _certificate_info(cr: dict[str, Any], label: object) -> _Certificate:
    """The signing certificate as the reader's crJSON describes it."""
    for manifest in cr.get("manifests", []):
        if isinstance(manifest, dict) and manifest.get("label") == label:
            info = manifest.get("signature", {}).get("certificateInfo", {})
            serial = info.get("serialNumber")
            subject = info.get("subject", {})
            validity = info.get("validity", {})
            return _Certificate(
                {str(k): str(v) for k, v in subject.items()} if isinstance(subject, dict) else {},
                (serial.lower().lstrip("0") or "0") if isinstance(serial, str) else None,
                _when(validity.get("notBefore")) if isinstance(validity, dict) else None,
                _when(validity.get("notAfter")) if isinstance(validity, dict) else None,
            )
    return _Certificate({}, None, None, None)


def _when(value: object) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def roots_of(chains: Iterable[str]) -> tuple[str, ...]:
    """The distinct self-signed roots at the ends of these chains, as PEM."""
    seen: dict[bytes, str] = {}
    for chain in chains:
        root = chain_root(chain)
        if root is not None:
            seen.setdefault(root.fingerprint(hashes.SHA256()), pem_of(root))
    return tuple(seen.values())
