"""Checking whether a video is the ward's (`loa verify`, the public verification page): what is asked of metrics,
which keeps the fingerprint and sha256 of every published cut, and what it answers. A response contract, versioned
like contracts.views.

The three answers people get (loa_core.verification words them):
- `signed`: a valid C2PA manifest of a ward: the file is unchanged since the ward signed it;
- `matches`: no valid manifest, but the picture (or the exact bytes) is a post of the ward's, at a span of it;
- `no_match`: neither;
and `invalid`: a manifest is there but must not be believed (tampered, untrusted, revoked, expired): never reported
as authentic, even when the picture resembles a post (the match is then said as a resemblance).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from loa_core.contracts.base import ChannelName, Contract, FootageId, ProfileName, Versioned, WardId
from loa_core.contracts.decisions import Sha256

ManifestState = Literal["signed", "invalid", "absent", "unknown"]  # unknown: only a hash was given
Answer = Literal["signed", "matches", "no_match", "invalid"]
# A fingerprint as loa_core.fingerprint writes it (Fingerprint.to_text): 2 fps, 16 bytes a frame in base64; the
# cap is ~2 hours of a landscape cut.
FingerprintText = Annotated[str, StringConstraints(min_length=1, max_length=400_000)]


def answer_of(manifest: ManifestState, matched: bool) -> Answer:
    """The answer from what the manifest said and whether a post matched (pure): a valid manifest wins, an invalid
    one is said whatever the picture shows."""
    if manifest == "signed":
        return "signed"
    if manifest == "invalid":
        return "invalid"
    return "matches" if matched else "no_match"


class VerifyRequest(Versioned):
    """What the page or `loa verify` found in the file: its sha256, its fingerprint, and its manifest's state (with
    the ward a manifest names, valid or not). Only a hash: `sha256` alone, manifest `unknown`."""

    sha256: Sha256 | None = None
    fingerprint: FingerprintText | None = None
    manifest: ManifestState = "unknown"
    manifest_ward: WardId | None = None
    # Where the request came from, for the count the report reads: the public page, or the CLI.
    via: Literal["page", "cli"] = "page"


class PostLink(Contract):
    """One post of the matched footage, on one channel."""

    channel: ChannelName
    platform: str
    profile: ProfileName
    url: str | None
    published_at: datetime | None
    state: Literal["published", "edited", "unpublished"] = "published"


class CutMatch(Contract):
    """The published cut a file is (part of): `exact` when its bytes are the cut's (sha256), else a fingerprint match
    over [span_start_s, span_end_s) of the cut with `score` of its compared frames agreeing."""

    ward: WardId
    footage_id: FootageId
    profile: ProfileName
    title: str
    published_at: datetime | None  # the first post of this cut
    exact: bool
    span_start_s: float = Field(ge=0)
    span_end_s: float = Field(ge=0)
    score: float = Field(ge=0, le=1)
    links: tuple[PostLink, ...] = ()


class PublicPost(Contract):
    """A post the ward published, as anyone may see it (the public post list): `sealed` when its cut's fingerprint is
    kept, so a copy of it can be checked."""

    ward: WardId
    footage_id: FootageId
    title: str
    channel: ChannelName
    platform: str
    profile: ProfileName
    url: str | None
    published_at: datetime
    sealed: bool


class PublicPosts(Versioned):
    """The newest published posts (of one ward, or of every ward), newest first: metrics' GET /verify/posts."""

    items: tuple[PublicPost, ...]


class Verification(Versioned):
    """Metrics' answer to a VerifyRequest."""

    answer: Answer
    match: CutMatch | None = None
