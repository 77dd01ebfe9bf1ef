"""Checking a video, for `loa verify` and the public verification page: what a file says about itself (its sha256,
its C2PA manifest through loa_core.provenance, its fingerprint), and the answer in Vietnamese and English.

Metrics holds the published cuts and answers a VerifyRequest (contracts.verification); this module makes the request
and says the answer. The rule that matters: a manifest that is present but invalid is never reported as authentic,
even when the picture resembles a post.
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from loa_core import provenance
from loa_core.contracts.verification import Answer, CutMatch, ManifestState, PostLink, Verification, VerifyRequest
from loa_core.fingerprint import clock, fingerprint_file
from loa_core.hashing import sha256_file
from loa_core.media import MediaError

# Dates are said in Vietnam's time (UTC+7 all year).
VIETNAM = timezone(timedelta(hours=7), "ICT")
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
# What `loa verify` exits with: 0 only for the two answers a script may rely on.
EXIT_CODES: dict[Answer, int] = {"signed": 0, "matches": 0, "no_match": 1, "invalid": 2}
EXIT_NOT_CHECKED = 3  # the file could not be read, or the service could not be asked


class NotAVideo(ValueError):
    """The file is not a video that can be checked (ffmpeg could not decode it)."""


@dataclass(frozen=True)
class Inspection:
    """What the file says: the request for metrics, and the manifest's verdict (None: only a hash was given)."""

    request: VerifyRequest
    manifest: provenance.Verdict | None


def is_sha256(text: str) -> bool:
    return bool(SHA256.match(text.strip()))


def inspect_hash(text: str, via: Literal["page", "cli"]) -> Inspection:
    return Inspection(VerifyRequest(sha256=text.strip().lower(), manifest="unknown", via=via), None)


def read_manifest(path: Path, trust: provenance.Trust | None) -> provenance.Verdict:
    """The manifest's verdict. Without any trusted root (no key made yet), a manifest can only be untrusted."""
    if trust is None or not trust.roots_pem:
        found = provenance.read(path, _nobody())
        if isinstance(found, provenance.Absent):
            return found
        return provenance.Invalid(provenance.Reason.UNTRUSTED, getattr(found, "claims", None))
    return provenance.read(path, trust)


def manifest_state(verdict: provenance.Verdict | None) -> tuple[ManifestState, str | None]:
    """The manifest's state as the request carries it, and the ward it names (if any)."""
    if verdict is None:
        return "unknown", None
    if isinstance(verdict, provenance.Signed):
        return "signed", verdict.claims.ward or None
    if isinstance(verdict, provenance.Invalid):
        ward = verdict.claims.ward if verdict.claims is not None else None
        return "invalid", ward or None
    return "absent", None


async def inspect_file(
    path: Path, trust: provenance.Trust | None, via: Literal["page", "cli"], *, timeout_s: float = 600.0
) -> Inspection:
    """Read the file's sha256, manifest and fingerprint (blocking parts in threads). NotAVideo if it is none."""
    sha256 = await asyncio.to_thread(sha256_file, path)
    verdict = await asyncio.to_thread(read_manifest, path, trust)
    try:
        fingerprint = await fingerprint_file(path, timeout_s=timeout_s)
    except (MediaError, TimeoutError) as exc:
        raise NotAVideo(str(exc)) from exc
    if not len(fingerprint.full):
        raise NotAVideo("no video frames")
    state, ward = manifest_state(verdict)
    ward = ward if ward and re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", ward) else None
    request = VerifyRequest(
        sha256=sha256, fingerprint=fingerprint.to_text(), manifest=state, manifest_ward=ward, via=via
    )
    return Inspection(request, verdict)


# --- Saying it -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Said:
    """The answer as people read it: a headline and details in each language, the posts' links, the exit code."""

    answer: Answer
    vi: str
    en: str
    detail_vi: str
    detail_en: str
    links: tuple[PostLink, ...]
    exit_code: int


def vietnam_day(moment: datetime | str | None) -> date | None:
    """The day a moment falls on in Vietnam (what people read as a post's date)."""
    if moment is None or moment == "":
        return None
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # noqa: UP017 (the stored times are UTC)
    return when.astimezone(VIETNAM).date()


def _vi_date(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else "(không rõ ngày)"


def _en_date(day: date | None) -> str:
    return day.isoformat() if day else "(date unknown)"


def _span(match: CutMatch) -> str:
    return f"{clock(match.span_start_s)}–{clock(match.span_end_s)}"


def _post_detail(match: CutMatch) -> tuple[str, str]:
    how_vi = "trùng từng byte với bản đã đăng" if match.exact else f"hình ảnh khớp {match.score:.0%} số khung hình"
    how_en = "byte for byte the published file" if match.exact else f"{match.score:.0%} of the frames compared agree"
    return (
        f"Bài “{match.title}” của phường {match.ward} ({how_vi}).",
        f"The post “{match.title}” of ward {match.ward} ({how_en}).",
    )


def explain(verification: Verification, manifest: provenance.Verdict | None) -> Said:
    """The answer in words (pure). The manifest's own verdict decides `signed` and `invalid`; metrics' match adds
    the posts."""
    match = verification.match
    links = match.links if match else ()
    answer = verification.answer
    if answer == "signed" and isinstance(manifest, provenance.Signed):
        claims = manifest.claims
        name = manifest.signer or claims.ward_name or claims.ward
        day = vietnam_day(claims.published_at)
        return Said(
            answer,
            f"Đã được {name} ký ngày {_vi_date(day)}, chưa bị sửa đổi.",
            f"Signed by {name} on {_en_date(day)}, unchanged.",
            f"Bài “{claims.title}”, kênh {claims.channel}.",
            f"The post “{claims.title}”, channel {claims.channel}.",
            links,
            EXIT_CODES[answer],
        )
    if answer == "invalid" or isinstance(manifest, provenance.Invalid):
        en_reason, vi_reason = (
            provenance.REASONS[manifest.reason]
            if isinstance(manifest, provenance.Invalid)
            else ("not valid", "không hợp lệ")
        )
        vi = f"Không xác thực: bản kê khai C2PA {vi_reason}."
        en = f"Not authentic: the C2PA manifest is {en_reason}."
        if match is not None:
            day = vietnam_day(match.published_at)
            vi += f" Hình ảnh giống bài đăng ngày {_vi_date(day)} (đoạn {_span(match)})."
            en += f" The picture resembles the post of {_en_date(day)} (at {_span(match)})."
        return Said("invalid", vi, en, "", "", links, EXIT_CODES["invalid"])
    if match is not None:
        day = vietnam_day(match.published_at)
        detail_vi, detail_en = _post_detail(match)
        return Said(
            "matches",
            f"Khớp với bài đăng của phường ngày {_vi_date(day)}, đoạn {_span(match)}.",
            f"Matches the ward's post of {_en_date(day)} at {_span(match)}.",
            detail_vi,
            detail_en,
            links,
            EXIT_CODES["matches"],
        )
    return Said(
        "no_match",
        "Không khớp: đây không phải video do phường đăng.",
        "No match: this is not a video published by the ward.",
        "",
        "",
        (),
        EXIT_CODES["no_match"],
    )


@functools.cache
def _nobody() -> provenance.Trust:
    """A root whose key is thrown away: reading against it makes any manifest untrusted (the reader needs at least
    one anchor, and none was made yet)."""
    return provenance.Trust(provenance.roots_of([provenance.new_root("Loa: no root yet").chain_pem]))
