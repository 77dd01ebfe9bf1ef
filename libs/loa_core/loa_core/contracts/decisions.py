"""Approval: an approver's decision on one footage's post to one channel, and exactly what it decided on.

A channel with `Channel.approval_required` posts nothing until an approver of its ward decides. The decision pins
what was seen: the sha256 of every cut the channel gets (`cuts`, by profile) and the sha256 of the post text
(`text_sha256`). The publisher releases a post only when the newest decision for its (footage, channel) approves
exactly the cut it is about to send and the text it is about to use, so an approved post whose cut or text changes
waits for a new approval; a rejection fails the post for good (a person makes a new post).

The text approved is `text` when the approver changed it (the publisher then posts that text, within the
platform's limits), otherwise the footage's own text as the media team wrote it (`PostText.of(metadata)`), which the
channel's templates turn into the platform's post.

An editor's change of the text before publishing is a decision too, `edited` (schema version 2), with the new
`text`: on a channel without approval the publisher posts it; on one that requires approval it is the newest
decision, so it replaces any approval (the post waits again) and the approver sees it as the draft.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, ClassVar, Final, Literal

from pydantic import Field, StringConstraints, model_validator

from loa_core.contracts.base import DEFAULT_WARD, ChannelName, Contract, Event, FootageId, ProfileName, WardId
from loa_core.contracts.events import FootageMetadata, Title

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# v2 added "edited": an editor changed the text (no approval; on an approval channel it asks for one again).
Decision = Literal["approved", "rejected", "edited"]


class PostText(Contract):
    """A post's words: title, description and hashtags (Vietnamese as typed; NFC is the publisher's business)."""

    title: Title
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    hashtags: tuple[Annotated[str, StringConstraints(min_length=1, max_length=100)], ...] = ()

    @classmethod
    def of(cls, metadata: FootageMetadata) -> PostText:
        """The footage's own text: what a channel's templates render when nobody changed it."""
        return cls(title=metadata.title, description=metadata.description, hashtags=metadata.tags)

    def sha256(self) -> str:
        """The text's fingerprint: sha256 of its canonical JSON (sorted keys, UTF-8), the same in every service."""
        canonical = json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class PostDecision(Event):
    """An approver approved or rejected one footage's post to one channel, or an editor changed its text
    (`edited`). Key: footage_id.

    `by` is the person's account id (never a token). Every decision is also in ingest's audit log.
    """

    SCHEMA_VERSION: ClassVar[int] = 2  # v2: decision "edited" (v1 records read unchanged)

    footage_id: FootageId
    ward: WardId = DEFAULT_WARD
    channel: ChannelName
    decision: Decision
    by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    # Why it was rejected, shown to the editor (required for a rejection).
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    # The cuts decided on: profile → sha256 of the rendition file (`Rendition.sha256`); an edit may name none.
    cuts: dict[ProfileName, Sha256] = Field(default_factory=dict)
    # The text decided on: `text` when the approver changed it, else the footage's own (`PostText.of`).
    text: PostText | None = None
    text_sha256: Sha256
    # The still a person picked for the post: candidate frame N (the footage's `thumbnail-N` and `cover-N` images);
    # None: the default pick. Where the platform takes one, the publisher sends it.
    frame: Annotated[int, Field(ge=1, le=9)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PostDecision:
        if self.decision == "rejected" and not (self.reason or "").strip():
            raise ValueError("a rejection needs a reason")
        if self.decision == "edited" and self.text is None:
            raise ValueError("an edit needs the text")
        if self.decision != "edited" and not self.cuts:
            raise ValueError("an approval or a rejection names the cuts decided on")
        if self.text is not None and self.text.sha256() != self.text_sha256:
            raise ValueError("text_sha256 is not the sha256 of text")
        return self

    def covers(self, *, profile: str, cut_sha256: str | None, own_text_sha256: str | None) -> bool:
        """Whether this decision was made on exactly this cut and this text: the approver's changed text, or else
        the footage's own as it is now (`own_text_sha256`: `PostText.of(metadata).sha256()`). An edit covers nothing:
        nobody approved it yet."""
        if self.decision == "edited":
            return False
        if cut_sha256 is None or self.cuts.get(profile) != cut_sha256:
            return False
        return self.text is not None or self.text_sha256 == own_text_sha256


@dataclass(frozen=True)
class Approval:
    """What the approvers said about exactly one post: `needed` (its channel requires approval), `approved` (the
    newest decision approves exactly its cut and text), `rejection` (the newest decision rejects exactly them: why).
    The publisher acts on it; metrics shows it."""

    needed: bool = False
    approved: bool = False
    rejection: str | None = None

    @property
    def awaiting(self) -> bool:
        return self.needed and not self.approved and self.rejection is None


NOT_NEEDED: Final = Approval()


def approval_of(
    required: bool,
    decision: PostDecision | None,
    *,
    profile: str,
    cut_sha256: str | None,
    own_text_sha256: str | None,
) -> Approval:
    """The approval of one post from its channel's rule and the newest decision on its (footage, channel) (pure).

    A decision counts only for the cut and the text it was made on: one on another cut or text (the cut was made
    again, the text changed) leaves the post awaiting a new decision, whether it approved or rejected; so does an
    editor's newer edit."""
    if not required:
        return NOT_NEEDED
    if decision is None or not decision.covers(profile=profile, cut_sha256=cut_sha256, own_text_sha256=own_text_sha256):
        return Approval(needed=True)
    if decision.decision == "approved":
        return Approval(needed=True, approved=True)
    return Approval(needed=True, rejection=decision.reason or "")


def chosen_text(decision: PostDecision | None, approval: Approval) -> PostText | None:
    """The words a person chose for the post, which it posts instead of the footage's own through the channel's
    templates (pure): the newest decision's text (an editor's edit, an approver's change), unless the channel
    requires an approval that does not cover the post (then nothing goes out anyway)."""
    if decision is None or (approval.needed and not approval.approved):
        return None
    return decision.text


def chosen_frame(decision: PostDecision | None, approval: Approval) -> int | None:
    """The candidate frame a person picked for the post's still, by the same rule as `chosen_text` (pure)."""
    if decision is None or (approval.needed and not approval.approved):
        return None
    return decision.frame
