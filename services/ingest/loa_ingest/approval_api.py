"""Approval over HTTP: an approver approves (optionally with changed text) or rejects a post to one of its ward's
channels; an editor changes a post's text before it goes out (`edited`: posted as is on a channel without approval,
approved again on one with it); everyone reads its ward's audit log, as JSON or as CSV for a spreadsheet.

The request names exactly what the approver was shown: the sha256 of each cut the channel gets (the status view
lists them, `RenditionView.sha256`) and the text (changed here, or the footage's own, `FootageView.text_sha256`).
Ingest records that, not what it would look up when the click arrives: a cut made again between watching and
clicking must not be approved unseen. The publisher releases the post only for exactly these (contracts.decisions).
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from loa_core.auth import Caller, Role
from loa_core.contracts import (
    DEFAULT_WARD,
    Channel,
    ChannelName,
    ChannelState,
    FeedbackAction,
    FootageId,
    PostAction,
    PostDecision,
    PostSchedule,
    PostText,
    ProfileName,
    Sha256,
    WardId,
)
from loa_ingest.audit import AuditLog, Recorded, audit_csv
from loa_ingest.channels import ChannelStore

Requires = Callable[[Role], Callable[..., Awaitable[Caller]]]
Cuts = dict[ProfileName, Sha256]
Frame = Annotated[int, Field(ge=1, le=9)] | None


class Approval(BaseModel):
    cuts: Cuts = Field(description="profile → sha256 of each cut of the channel the approver watched")
    text: PostText | None = Field(default=None, description="the post's text, when the approver changed it")
    text_sha256: Sha256 | None = Field(default=None, description="the footage's own text seen (without `text`)")
    frame: Frame = Field(default=None, description="the still picked (candidate frame N), when one was")


class Rejection(BaseModel):
    # No NUL: PostgreSQL text refuses it.
    reason: str = Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*$", description="why, shown to the editor")
    cuts: Cuts
    text_sha256: Sha256


class TextEdit(BaseModel):
    text: PostText = Field(description="the post's new title, description and hashtags")
    frame: Frame = Field(default=None, description="the still picked: candidate frame N (thumbnail-N, cover-N)")


class Decided(BaseModel):
    """A decision (or an action on a published post: `action`) as the audit log shows it."""

    decision: PostDecision | None = None
    action: PostAction | None = None
    schedule: PostSchedule | None = None  # a reschedule or a cancel (contracts.schedule)
    feedback: FeedbackAction | None = None  # an act on an inbox item (contracts.feedback)
    sent: bool  # whether it is known to be on posts.decisions / posts.actions (else it is sent shortly)


def decided(entry: Recorded) -> Decided:
    if isinstance(entry.entry, FeedbackAction):
        return Decided(feedback=entry.entry, sent=entry.sent)
    if isinstance(entry.entry, PostAction):
        return Decided(action=entry.entry, sent=entry.sent)
    if isinstance(entry.entry, PostSchedule):
        return Decided(schedule=entry.entry, sent=entry.sent)
    return Decided(decision=entry.entry, sent=entry.sent)


def refusal(code: int, english: str, vietnamese: str) -> HTTPException:
    return HTTPException(code, f"{english} / {vietnamese}")


def decided_by(who: Caller) -> str:
    """Who decided, as the log keeps it: the account, or the token's id (never the token) when it has none."""
    return who.account or f"token:{who.id}"


def approval_router(channels: ChannelStore, log: AuditLog, requires: Requires) -> APIRouter:
    router = APIRouter(tags=["approval"])
    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    Approver = Annotated[Caller, Depends(requires("approver"))]
    Editor = Annotated[Caller, Depends(requires("editor"))]

    def channel_of(who: Caller, name: str) -> Channel:
        stored = channels.get(name)
        if stored is None or stored.channel.state == ChannelState.REMOVED or not who.sees(stored.channel.ward):
            raise refusal(404, "No such channel in your ward.", "Không tìm thấy kênh này trong phường của bạn.")
        return stored.channel

    async def decide(
        who: Caller,
        footage_id: str,
        name: str,
        decision: Literal["approved", "rejected"],
        cuts: Cuts,
        text: PostText | None,
        text_sha256: str | None,
        reason: str | None,
        frame: int | None = None,
    ) -> Decided:
        channel = channel_of(who, name)
        if not channel.approval_required:
            raise refusal(
                409,
                f"Channel {name} posts without approval; a ward admin can turn approval on.",
                f"Kênh {name} đăng không cần duyệt; quản trị phường có thể bật chế độ duyệt.",
            )
        if set(cuts) != set(channel.profiles):
            raise refusal(
                422,
                f"Name the sha256 of each cut channel {name} gets: {', '.join(channel.profiles)}.",
                f"Hãy nêu sha256 của từng bản dựng kênh {name} nhận: {', '.join(channel.profiles)}.",
            )
        if text is not None:
            text_sha256 = text.sha256()
        if text_sha256 is None:
            raise refusal(
                422,
                "Say which text you approve: the changed text, or the text_sha256 of the footage's own text.",
                "Hãy nêu nội dung được duyệt: nội dung đã sửa, hoặc text_sha256 của nội dung gốc.",
            )
        event = PostDecision(
            footage_id=footage_id,
            ward=channel.ward,
            channel=name,
            decision=decision,
            by=decided_by(who),
            reason=reason,
            cuts=cuts,
            text=text,
            text_sha256=text_sha256,
            frame=frame,
        )
        return decided(await log.record(event))

    @router.post(
        "/posts/{footage_id}/{channel}/approve",
        status_code=201,
        summary="Approve a post to a channel that requires approval (approvers of its ward), optionally changing its"
        " text",
    )
    async def approve(
        footage_id: FootageId, channel: ChannelName, who: Approver, body: Annotated[Approval, Body()]
    ) -> Decided:
        return await decide(
            who, footage_id, channel, "approved", body.cuts, body.text, body.text_sha256, None, body.frame
        )

    @router.post(
        "/posts/{footage_id}/{channel}/reject",
        status_code=201,
        summary="Reject a post to a channel that requires approval, with the reason the editor sees",
    )
    async def reject(
        footage_id: FootageId, channel: ChannelName, who: Approver, body: Annotated[Rejection, Body()]
    ) -> Decided:
        if not body.reason.strip():
            raise refusal(422, "A rejection needs a reason.", "Từ chối cần nêu lý do.")
        return await decide(who, footage_id, channel, "rejected", body.cuts, None, body.text_sha256, body.reason)

    @router.post(
        "/posts/{footage_id}/{channel}/text",
        status_code=201,
        summary="Change a post's text before it goes out (editors of its ward): a channel without approval posts it,"
        " one with approval waits for an approver to approve it",
    )
    async def edit_text(
        footage_id: FootageId, channel: ChannelName, who: Editor, body: Annotated[TextEdit, Body()]
    ) -> Decided:
        event = PostDecision(
            footage_id=footage_id,
            ward=channel_of(who, channel).ward,
            channel=channel,
            decision="edited",
            by=decided_by(who),
            text=body.text,
            text_sha256=body.text.sha256(),
            frame=body.frame,
        )
        return decided(await log.record(event))

    def entries(who: Caller, ward: str | None, footage_id: str | None, limit: int, offset: int) -> list[Recorded]:
        if ward is not None and not who.sees(ward):
            raise refusal(
                403, "You see only your own ward's decisions.", "Bạn chỉ xem được quyết định của phường mình."
            )
        reach = ward if ward is not None else (None if who.is_district else (who.ward or DEFAULT_WARD))
        return log.listed(reach, footage_id=footage_id, limit=limit, offset=offset)

    Ward = Annotated[WardId | None, Query(description="a district admin: one ward's only")]
    Footage = Annotated[FootageId | None, Query()]
    Limit = Annotated[int, Query(ge=1, le=100_000)]
    Offset = Annotated[int, Query(ge=0)]

    @router.get(
        "/audit",
        summary="Approvers' decisions and actions on posts, oldest first (your ward's; a district admin: every ward's)",
    )
    async def audit(
        who: Viewer, ward: Ward = None, footage_id: Footage = None, limit: Limit = 1000, offset: Offset = 0
    ) -> list[Decided]:
        return [decided(e) for e in entries(who, ward, footage_id, limit, offset)]

    @router.get(
        "/audit.csv",
        summary="The same decisions as CSV (UTF-8 with BOM, so a spreadsheet shows Vietnamese)",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def audit_export(
        who: Viewer, ward: Ward = None, footage_id: Footage = None, limit: Limit = 100_000, offset: Offset = 0
    ) -> Response:
        body = "\ufeff" + audit_csv(entries(who, ward, footage_id, limit, offset))
        return Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="loa-audit.csv"'},
        )

    return router
