"""Fixing what went out, over HTTP: change the title and description of a published post, or take it down, on one
of the caller's ward's channels. Each request is recorded in the audit log (loa_ingest/audit.py, whose row is also the
outbox) and sent as a `PostAction` on posts.actions; the publisher acts on it exactly once through its ledger and
answers on posts.changed.

Who may: taking a post down is an editor's call (the media team must be able to pull a mistake within minutes, and
it puts nothing new in front of the public); changing the text puts new words out in the ward's name, so on a channel
that requires approval only an approver may, as for any text that goes out there (an editor may on a channel without
approval, where it could have published that text itself).

A failed post is retried through the publisher's own POST /posts/{id}/retry, relayed with the caller's credential
(loa_ingest/status.py): the publisher checks the role (editor) and the ward, so the relay can never widen either. A
footage ingest itself took in for another ward is 404 here already (one the archiver announced is left to the
publisher's check).

A platform whose API cannot do it (TikTok: no edit or delete in its Content Posting API) is refused with a bilingual
422 naming where a person does it by hand (contracts.actions.MANUAL_ACTION_URLS).
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException
from pydantic import BaseModel, Field

from loa_core.auth import Caller
from loa_core.channels import Channel
from loa_core.contracts import (
    MANUAL_ACTION_URLS,
    ActionKind,
    ChannelName,
    ChannelState,
    FootageId,
    PostAction,
    Unpublish,
    allows,
)
from loa_ingest.approval_api import Decided, Requires, decided, decided_by, refusal
from loa_ingest.audit import AuditLog
from loa_ingest.catalog import Catalog
from loa_ingest.channels import ChannelStore
from loa_ingest.signin import relayed_credential
from loa_ingest.status import Retried, StatusRefused, StatusRelay, StatusUnavailable


class Edit(BaseModel):
    # No NUL: PostgreSQL text refuses it. The platform's own limits are applied by the publisher (text.fit).
    title: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$", description="the new title")
    description: str = Field(default="", max_length=5000, pattern=r"^[^\x00]*$", description="the new description")


class TakeDown(BaseModel):
    how: Unpublish = Field(default="delete", description="delete it, or make it private (YouTube)")


def _cannot(platform: str, action: ActionKind, how: Unpublish | None) -> None:
    """422 when the platform's API cannot do it: where to do it by hand, when there is such a place."""
    if allows(platform, action, how):
        return
    what_en = "change a post's text" if action == "edit" else f"take a post down ({how})"
    what_vi = "sửa nội dung bài đã đăng" if action == "edit" else f"gỡ bài đã đăng ({how})"
    by_hand = MANUAL_ACTION_URLS.get(platform)
    if by_hand is None:
        raise refusal(422, f"{platform} offers no API to {what_en}.", f"{platform} không có API để {what_vi}.")
    raise refusal(
        422,
        f"{platform} offers no API to {what_en}: do it by hand in the {platform} app or at {by_hand}.",
        f"{platform} không có API để {what_vi}: hãy làm trực tiếp trong ứng dụng {platform} hoặc tại {by_hand}.",
    )


def actions_router(
    channels: ChannelStore,
    log: AuditLog,
    requires: Requires,
    relay: StatusRelay | None = None,
    catalog: Catalog | None = None,
) -> APIRouter:
    router = APIRouter(tags=["posts"])
    Editor = Annotated[Caller, Depends(requires("editor"))]
    Credentials = Annotated[str, Depends(relayed_credential)]

    @router.post(
        "/posts/{footage_id}/retry",
        summary="Post a footage's failed posts again (editors of its ward; relayed to the publisher)",
    )
    async def retry(footage_id: FootageId, who: Editor, credentials: Credentials) -> Retried:
        uploaded = catalog.uploaded(footage_id) if catalog is not None else None
        if uploaded is not None and not who.sees(uploaded.ward):
            raise refusal(404, "No such footage in your ward.", "Không tìm thấy video này trong phường của bạn.")
        if relay is None:
            raise refusal(503, "Retrying is not available here.", "Không thể thử lại ở đây.")
        try:
            return await relay.retry(footage_id, credentials)
        except StatusRefused as exc:
            raise HTTPException(exc.status_code if 400 <= exc.status_code < 500 else 502, exc.detail) from exc
        except StatusUnavailable as exc:
            raise refusal(
                502,
                "The publisher did not answer; try again shortly.",
                "Dịch vụ đăng bài không trả lời; hãy thử lại sau.",
            ) from exc

    def channel_of(who: Caller, name: str) -> Channel:
        stored = channels.get(name)
        if stored is None or stored.channel.state == ChannelState.REMOVED or not who.sees(stored.channel.ward):
            raise refusal(404, "No such channel in your ward.", "Không tìm thấy kênh này trong phường của bạn.")
        return stored.channel

    async def record(action: PostAction) -> Decided:
        return decided(await log.record(action))

    @router.post(
        "/posts/{footage_id}/{channel}/edit",
        status_code=202,
        summary="Change the title and description of a published post (an approver where the channel requires"
        " approval, else an editor of its ward)",
    )
    async def edit(footage_id: FootageId, channel: ChannelName, who: Editor, body: Annotated[Edit, Body()]) -> Decided:
        target = channel_of(who, channel)
        if target.approval_required and not who.allows("approver"):
            raise refusal(
                403,
                f"Channel {channel} requires approval: only an approver may change what it published.",
                f"Kênh {channel} cần duyệt: chỉ người duyệt được sửa nội dung đã đăng.",
            )
        _cannot(target.platform, "edit", None)
        action = PostAction(
            footage_id=footage_id,
            ward=target.ward,
            channel=channel,
            action="edit",
            by=decided_by(who),
            title=body.title,
            description=body.description,
        )
        return await record(action)

    @router.post(
        "/posts/{footage_id}/{channel}/unpublish",
        status_code=202,
        summary="Take a published post down: delete it, or make it private where the platform can (editors of its"
        " ward)",
    )
    async def unpublish(
        footage_id: FootageId, channel: ChannelName, who: Editor, body: Annotated[TakeDown, Body()]
    ) -> Decided:
        target = channel_of(who, channel)
        _cannot(target.platform, "unpublish", body.how)
        action = PostAction(
            footage_id=footage_id,
            ward=target.ward,
            channel=channel,
            action="unpublish",
            by=decided_by(who),
            how=body.how,
        )
        return await record(action)

    return router
