"""The inbox over HTTP (what ingest relays to its page with the caller's credential): a ward's items newest first
with their threads, one item, and the ward's triage rules and response-time target (read by everyone of the ward,
changed by its admin). Every answer is confined to the caller's ward; another ward's item is 404.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, status

from loa_core.auth import Caller
from loa_core.contracts import DEFAULT_WARD, ChannelName, Id, InboxItem, InboxList, WardId
from loa_core.contracts.feedback import Topic
from loa_metrics.inbox import Filters, Inbox
from loa_metrics.triage import Rules


def inbox_router(inbox: Inbox, viewer: Callable[..., object], clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(tags=["inbox"])
    Viewer = Annotated[Caller, Depends(viewer)]

    def reach(who: Caller, ward: str | None) -> str | None:
        if ward is not None and not who.sees(ward):  # another ward is not even confirmed to exist
            raise HTTPException(404, f"No ward {ward} in your reach. / Không có phường {ward} trong phạm vi của bạn.")
        return ward if ward is not None else who.ward_filter()

    def own_ward(who: Caller, ward: str | None) -> str:
        found = reach(who, ward)
        return found if found is not None else (who.ward or DEFAULT_WARD)

    @router.get("/inbox", summary="A ward's comments and messages, newest first, with their threads")
    async def items(
        who: Viewer,
        state: Annotated[Literal["open", "handled", "all"], Query()] = "all",
        overdue: Annotated[bool, Query()] = False,
        assignee: Annotated[str | None, Query(max_length=200)] = None,
        topic: Annotated[Topic | None, Query()] = None,
        channel: Annotated[ChannelName | None, Query()] = None,
        ward: Annotated[WardId | None, Query(description="One ward's inbox (a district admin's choice)")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> InboxList:
        scope = reach(who, ward)
        now = clock()
        filters = Filters(scope, state, overdue, assignee, topic, channel)
        found = inbox.items(filters, now, limit, offset)
        rules = inbox.rules(own_ward(who, ward))
        open_, late = inbox.counts(scope, now)
        return InboxList(
            items=tuple(found),
            limit=limit,
            offset=offset,
            topics=rules.topics(),
            departments={rule.topic: rule.department for rule in rules.rules},
            target_hours=rules.target_hours,
            open=open_,
            overdue=late,
        )

    @router.get("/inbox/rules", summary="A ward's triage rules and response-time target")
    async def rules(
        who: Viewer, ward: Annotated[WardId | None, Query(description="a district admin: one ward's")] = None
    ) -> Rules:
        return inbox.rules(own_ward(who, ward))

    @router.put("/inbox/rules", summary="Change a ward's triage rules and response-time target (its ward admin)")
    async def set_rules(
        who: Viewer,
        body: Annotated[Rules, Body()],
        ward: Annotated[WardId | None, Query(description="a district admin: one ward's")] = None,
    ) -> Rules:
        if not who.allows("ward_admin"):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "Only a ward admin changes the ward's triage rules. / Chỉ quản trị phường được sửa quy tắc phân loại.",
            )
        target = own_ward(who, ward)
        inbox.set_rules(target, body, who.account or f"token:{who.id}", clock())
        return inbox.rules(target)

    @router.get("/inbox/{item_id}", summary="One item of a ward's inbox with its thread")
    async def item(item_id: Id, who: Viewer) -> InboxItem:
        found = inbox.item(item_id, clock())
        if found is None or not who.sees(found.ward):
            raise HTTPException(404, "No such item in your ward. / Không tìm thấy mục này trong phường của bạn.")
        return found

    return router


def utc_clock() -> datetime:
    return datetime.now(UTC)
