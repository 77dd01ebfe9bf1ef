"""The citizens' inbox over HTTP: read a ward's comments and messages (relayed from metrics, which keeps the inbox),
and act on one: assign it to a person, tag its topic, mark it handled (or reopen it), hide it on the platform (or
show it again), reply to it. Each act is recorded in the audit log (loa_ingest/audit.py, whose row is also the
outbox) and sent as a `FeedbackAction` on feedback.actions: metrics applies it to the inbox, the publisher does the
platform's part of a reply, a hide or an unhide once per action id (its ledger) and says how it went on
feedback.done.

What the act is about comes from metrics, asked with the caller's own credential (as the status relay does): an item
of another ward is metrics' 404, so the relay can never widen the ward, and the action names exactly the item
(channel, platform id, thread) metrics holds, never what a client claims.

Who may (the roles of contracts.auth, viewer < editor < approver < ward admin):
- viewers read the inbox;
- editors assign, tag, mark handled and reopen (the ward's own bookkeeping, nothing goes out), and reply on a channel
  without approval (answering citizens quickly is the point; on such a channel an editor could post a video's text
  itself too);
- approvers reply on a channel that requires approval (words in the ward's name, as for a post's text there,
  loa_ingest/actions_api.py), and hide or show a comment again on any channel: hiding a citizen's words is
  moderation of public speech in the ward's name, a call for the person who approves what the ward says.

A platform whose API cannot do it (contracts.feedback.FEEDBACK_ABILITIES: no hiding on Zalo, nothing on TikTok) is
refused with a bilingual 422 saying where a person does it by hand.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from typing import Annotated, Any, Final, Literal, Protocol

from fastapi import APIRouter, Body, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from loa_core.auth import Caller
from loa_core.contracts import ChannelName, ChannelState, FeedbackAction, Id, InboxItem, InboxList
from loa_core.contracts.feedback import MAX_REPLY, Ability, ActionKind, Topic, can
from loa_ingest.accounts import People
from loa_ingest.approval_api import Decided, Requires, decided, decided_by, refusal
from loa_ingest.audit import AuditLog
from loa_ingest.channels import ChannelStore
from loa_ingest.signin import relayed_credential
from loa_ingest.status import StatusRefused, StatusUnavailable

ItemId = Id  # an inbox item's id (contracts.feedback.feedback_item_id)

# Where a person does by hand what a platform's API cannot (shown with the refusal and on the page).
MANUAL_FEEDBACK_URLS: Final[dict[str, str]] = {
    "zalo": "https://oa.zalo.me",
    "tiktok": "https://www.tiktok.com/tiktokstudio/comment",
    "facebook": "https://business.facebook.com/latest/inbox",
    "youtube": "https://studio.youtube.com",
}
_WHAT: Final[dict[Ability, tuple[str, str]]] = {
    "reply": ("reply to its comments or messages", "trả lời bình luận hoặc tin nhắn"),
    "hide": ("hide comments", "ẩn bình luận"),
    "comments": ("read comments", "đọc bình luận"),
    "messages": ("read messages", "đọc tin nhắn"),
}


class InboxSource(Protocol):
    """Where the inbox is read, with the caller's credential (loa_ingest.status.StatusRelay: metrics)."""

    async def inbox(self, params: dict[str, Any], caller_token: str) -> InboxList: ...

    async def inbox_item(self, item_id: str, caller_token: str) -> InboxItem: ...

    async def inbox_rules(self, caller_token: str, rules: dict[str, Any] | None = None) -> dict[str, Any]: ...


class Assign(BaseModel):
    assignee: str | None = Field(
        default=None, min_length=1, max_length=200, description="an account of the item's ward; null: nobody"
    )


class Tag(BaseModel):
    topic: Topic = Field(description="the topic, e.g. dien, ha-tang, moi-truong")


class Reply(BaseModel):
    # No NUL: PostgreSQL text refuses it.
    text: str = Field(min_length=1, max_length=MAX_REPLY, pattern=r"^[^\x00]*$", description="the reply, as posted")


def manual_place(platform: str) -> str | None:
    return MANUAL_FEEDBACK_URLS.get(platform)


def cannot(platform: str, ability: Ability) -> HTTPException:
    what_en, what_vi = _WHAT[ability]
    where = manual_place(platform)
    if where is None:
        return refusal(422, f"{platform} offers no API to {what_en}.", f"{platform} không có API để {what_vi}.")
    return refusal(
        422,
        f"{platform} offers no API to {what_en}: do it by hand in the {platform} app or at {where}.",
        f"{platform} không có API để {what_vi}: hãy làm trực tiếp trong ứng dụng {platform} hoặc tại {where}.",
    )


def who_may(action: ActionKind, approval_required: bool) -> Literal["editor", "approver"]:
    """The least role that may do `action` on an item of a channel (see the module's docstring)."""
    if action in ("hide", "unhide") or (action == "reply" and approval_required):
        return "approver"
    return "editor"


async def read(answer: Any) -> Any:
    """Metrics' answer, its refusal passed on, no answer a bilingual 502."""
    try:
        return await answer
    except StatusUnavailable as exc:
        raise refusal(
            status.HTTP_502_BAD_GATEWAY,
            "The inbox (metrics) is not answering; try again shortly.",
            "Hộp thư (dịch vụ metrics) chưa trả lời; hãy thử lại sau.",
        ) from exc
    except StatusRefused as exc:
        code = exc.status_code if 400 <= exc.status_code < 500 else status.HTTP_502_BAD_GATEWAY
        raise HTTPException(code, exc.detail) from exc


class InboxDesk:
    """The acts on inbox items, one way for the API and the page: read the item from metrics with the caller's
    credential, check the role and what the platform can do, record and send the act."""

    def __init__(self, source: InboxSource, channels: ChannelStore, log: AuditLog, people: People) -> None:
        self.source = source
        self.channels = channels
        self.log = log
        self.people = people

    async def item(self, item_id: str, credentials: str) -> InboxItem:
        found: InboxItem = await read(self.source.inbox_item(item_id, credentials))
        return found

    async def listing(self, params: dict[str, Any], credentials: str) -> InboxList:
        found: InboxList = await read(self.source.inbox(params, credentials))
        return found

    async def act(self, item_id: str, who: Caller, credentials: str, action: ActionKind, **fields: Any) -> Decided:
        found = await self.item(item_id, credentials)
        stored = self.channels.get(found.channel)
        if not who.sees(found.ward) or stored is None or stored.channel.state == ChannelState.REMOVED:
            raise refusal(404, "No such item in your ward.", "Không tìm thấy mục này trong phường của bạn.")
        channel = stored.channel
        need = who_may(action, channel.approval_required)
        if not who.allows(need):
            why_en = "hiding a comment" if action in ("hide", "unhide") else f"channel {channel.name} needs approval"
            why_vi = "ẩn bình luận" if action in ("hide", "unhide") else f"kênh {channel.name} cần duyệt"
            raise refusal(
                403, f"Only an approver may do this ({why_en}).", f"Chỉ người duyệt được làm việc này ({why_vi})."
            )
        if action == "assign" and (assignee := fields["assignee"]) is not None:
            account = self.people.get(assignee)
            if account is None or account.disabled_at is not None or account.ward != found.ward:
                raise refusal(422, "No such person in the item's ward.", "Không có người này trong phường của mục.")
        if action == "reply" and not can(channel.platform, "reply"):
            raise cannot(channel.platform, "reply")
        if action in ("hide", "unhide") and (found.kind != "comment" or not can(channel.platform, "hide")):
            raise cannot(channel.platform, "hide")
        event = FeedbackAction(
            item_id=found.item_id,
            ward=found.ward,
            channel=found.channel,
            external_id=found.external_id,
            thread_id=found.thread_id,
            author_id=found.author_id,
            action=action,
            by=decided_by(who),
            **fields,
        )
        return decided(await self.log.record(event))


def inbox_router(desk: InboxDesk, requires: Requires) -> APIRouter:
    router = APIRouter(tags=["inbox"])
    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    Editor = Annotated[Caller, Depends(requires("editor"))]
    Credentials = Annotated[str, Depends(relayed_credential)]
    act = desk.act

    @router.get("/inbox", summary="The ward's comments and messages, newest first (relayed from metrics)")
    async def inbox(
        _: Viewer,
        credentials: Credentials,
        state: Annotated[Literal["open", "handled", "all"], Query()] = "all",
        overdue: Annotated[bool, Query(description="only those past the ward's response time")] = False,
        assignee: Annotated[str | None, Query(max_length=200)] = None,
        topic: Annotated[Topic | None, Query()] = None,
        channel: Annotated[ChannelName | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> InboxList:
        params = {
            "state": state,
            "overdue": "true" if overdue else None,
            "assignee": assignee,
            "topic": topic,
            "channel": channel,
            "limit": limit,
            "offset": offset,
        }
        return await desk.listing(params, credentials)

    @router.get("/inbox/{item_id}", summary="One item of the ward's inbox with its thread (relayed from metrics)")
    async def item(item_id: ItemId, _: Viewer, credentials: Credentials) -> InboxItem:
        return await desk.item(item_id, credentials)

    def summary(what: str, role: str) -> str:
        return f"{what} ({role} of the item's ward; audited, sent on feedback.actions)"

    @router.post("/inbox/{item_id}/assign", status_code=202, summary=summary("Assign an item to a person", "editors"))
    async def assign(
        item_id: ItemId, who: Editor, credentials: Credentials, body: Annotated[Assign, Body()]
    ) -> Decided:
        return await act(item_id, who, credentials, "assign", assignee=body.assignee)

    @router.post("/inbox/{item_id}/tag", status_code=202, summary=summary("Tag an item's topic", "editors"))
    async def tag(item_id: ItemId, who: Editor, credentials: Credentials, body: Annotated[Tag, Body()]) -> Decided:
        return await act(item_id, who, credentials, "tag", topic=body.topic)

    @router.post("/inbox/{item_id}/handled", status_code=202, summary=summary("Mark an item handled", "editors"))
    async def handled(item_id: ItemId, who: Editor, credentials: Credentials) -> Decided:
        return await act(item_id, who, credentials, "handled")

    @router.post("/inbox/{item_id}/reopen", status_code=202, summary=summary("Open a handled item again", "editors"))
    async def reopen(item_id: ItemId, who: Editor, credentials: Credentials) -> Decided:
        return await act(item_id, who, credentials, "reopen")

    @router.post(
        "/inbox/{item_id}/reply",
        status_code=202,
        summary=summary("Reply on the platform, once", "editors; approvers on a channel that requires approval"),
    )
    async def reply(item_id: ItemId, who: Editor, credentials: Credentials, body: Annotated[Reply, Body()]) -> Decided:
        return await act(item_id, who, credentials, "reply", text=body.text)

    @router.post(
        "/inbox/{item_id}/hide", status_code=202, summary=summary("Hide a comment on the platform", "approvers")
    )
    async def hide(item_id: ItemId, who: Editor, credentials: Credentials) -> Decided:
        return await act(item_id, who, credentials, "hide")

    @router.post(
        "/inbox/{item_id}/unhide", status_code=202, summary=summary("Show a hidden comment again", "approvers")
    )
    async def unhide(item_id: ItemId, who: Editor, credentials: Credentials) -> Decided:
        return await act(item_id, who, credentials, "unhide")

    return router
