"""The ward's schedule: reschedule or cancel a post before it goes out (`changes_router`), and a calendar (month and
week, FullCalendar from npm) of its posts by channel, scheduled and published, fed by GET /schedule/posts.

Published posts come from metrics' /posts through the status relay (the caller's own credential, so metrics
filters by ward); scheduled ones from ingest's own catalog (each upload's `FootageMetadata.publish_at`, which the
publisher holds the post until). A scheduled post that metrics reports published shows once, as published.
The calendar shows each upload's own times, not a later reschedule (the audit log has those; see the report).
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field

from loa_core.auth import Caller, Role
from loa_core.contracts import ChannelName, FootageId, FootageUploaded, PostSchedule
from loa_ingest.approval_api import Decided, decided, decided_by
from loa_ingest.audit import AuditLog
from loa_ingest.catalog import Catalog
from loa_ingest.channels import ChannelStore
from loa_ingest.metadata import WARD_TIMEZONE, publish_time
from loa_ingest.pages import SessionOf, Strings, render
from loa_ingest.signin import relayed_credential
from loa_ingest.status import StatusRefused, StatusRelay, StatusUnavailable
from loa_ingest.validation import RejectedUpload

Requires = Callable[[Role], Callable[..., Awaitable[Caller]]]
State = Literal["scheduled", "due", "published", "cancelled"]
MAX_WINDOW = timedelta(days=62)  # a month view shows up to six weeks


class CalendarPost(BaseModel):
    footage_id: str
    title: str
    channel: str
    platform: str | None
    # scheduled: its time is ahead; due: its time has passed, not published yet; published; cancelled: by a person
    # (shown at the time it had), goes out only if rescheduled
    state: State
    at: datetime
    local_at: str  # `at` on the ward's clock (Asia/Ho_Chi_Minh), without offset: what the calendar shows
    url: str | None = None


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def ward_clock(moment: datetime) -> str:
    """The wall-clock time in the ward, e.g. 2026-11-21T19:00:00 (a phone in another zone still shows it)."""
    return moment.astimezone(WARD_TIMEZONE).replace(tzinfo=None).isoformat(timespec="seconds")


def calendar_posts(
    scheduled: Iterable[FootageUploaded],
    published: Iterable[Mapping[str, Any]],
    platforms: Mapping[str, str],
    window: Window,
    now: datetime,
    changes: Iterable[PostSchedule] = (),
) -> list[CalendarPost]:
    """One entry per (footage, channel) in the window, by time (pure): published if metrics has a post of it, else
    its time (`scheduled` ahead of `now`, `due` once passed): the newest reschedule of it (`changes`, oldest first;
    moved to "as soon as it can": due when it was asked), else the upload's. A cancelled post shows at the time it
    had, `cancelled`."""
    newest: dict[tuple[str, str], PostSchedule] = {}
    for change in changes:
        key = (change.footage_id, change.channel)
        if key not in newest or (change.occurred_at, change.event_id) > (newest[key].occurred_at, newest[key].event_id):
            newest[key] = change
    posts: dict[tuple[str, str], CalendarPost] = {}
    for row in published:
        key = (str(row["footage_id"]), str(row["channel"]))
        at = datetime.fromisoformat(str(row["published_at"]))
        if key in posts or not window.holds(at):
            continue
        posts[key] = CalendarPost(
            footage_id=key[0],
            title=str(row.get("title") or ""),
            channel=key[1],
            platform=str(row.get("platform") or "") or None,
            state="published",
            at=at,
            local_at=ward_clock(at),
            url=row.get("url"),
        )
    done = {(str(row["footage_id"]), str(row["channel"])) for row in published}
    for event in scheduled:
        for channel, planned in event.metadata.publish_at.items():
            key = (event.footage_id, channel)
            moved = newest.get(key)
            when = planned
            if moved is not None and not moved.cancelled:
                when = moved.publish_at or moved.occurred_at
            if key in done or not window.holds(when):
                continue
            state: State = "scheduled" if when > now else "due"
            posts[key] = CalendarPost(
                footage_id=event.footage_id,
                title=event.metadata.title,
                channel=channel,
                platform=platforms.get(channel),
                state="cancelled" if moved is not None and moved.cancelled else state,
                at=when,
                local_at=ward_clock(when),
            )
    return sorted(posts.values(), key=lambda post: (post.at, post.channel, post.footage_id))


STRINGS: Strings = {
    "schedule": ("Lịch đăng", "Schedule"),
    "scheduled": ("Đã hẹn giờ", "Scheduled"),
    "due": ("Đến giờ, chưa đăng", "Due, not published yet"),
    "published": ("Đã đăng", "Published"),
    "channel": ("Kênh", "Channel"),
    "all_channels": ("Tất cả kênh", "All channels"),
    "timezone_note": ("Giờ Việt Nam (Asia/Ho_Chi_Minh).", "Vietnam time (Asia/Ho_Chi_Minh)."),
    "calendar_missing": (
        "Chưa cài FullCalendar (chạy scripts/setup.sh).",
        "FullCalendar is not installed (run scripts/setup.sh).",
    ),
    "load_failed": ("Chưa tải được lịch đăng:", "The schedule could not be loaded:"),
    "cancelled": ("Đã hủy", "Cancelled"),
    "change_title": ("Đổi giờ đăng", "Change the publish time"),
    "new_time": ("Giờ đăng mới (giờ Việt Nam)", "New publish time (Vietnam time)"),
    "reschedule": ("Đổi giờ", "Reschedule"),
    "cancel_post": ("Hủy đăng", "Cancel the post"),
    "close": ("Đóng", "Close"),
    "open_footage": ("Xem video", "Open the footage"),
    "changed": ("Đã ghi nhận thay đổi.", "The change is recorded."),
    "month": ("Tháng", "Month"),
    "week": ("Tuần", "Week"),
    "today": ("Hôm nay", "Today"),
}


class Reschedule(BaseModel):
    publish_at: datetime | None = Field(
        description="the new time (an offset, or the ward's time without one); null: post as soon as it can"
    )


def changes_router(catalog: Catalog, log: AuditLog, requires: Requires) -> APIRouter:
    """Reschedule and cancel a post that has not gone out (an editor of the footage's ward), audited, then sent to
    the publisher on posts.schedule (contracts.schedule) through the audit log's outbox."""
    router = APIRouter(tags=["posts"])
    Editor = Annotated[Caller, Depends(requires("editor"))]

    def change(who: Caller, footage_id: str, channel: str, **what: Any) -> PostSchedule:
        uploaded = catalog.uploaded(footage_id)
        if uploaded is None or not who.sees(uploaded.ward):
            raise HTTPException(404, "No such footage in your ward. / Không tìm thấy video này trong phường của bạn.")
        if channel not in uploaded.metadata.channels:
            raise HTTPException(
                404, f"This footage is not posted on {channel}. / Video này không đăng lên kênh {channel}."
            )
        return PostSchedule(footage_id=footage_id, ward=uploaded.ward, channel=channel, by=decided_by(who), **what)

    @router.post("/posts/{footage_id}/{channel}/reschedule", status_code=202, summary="Move a post's publish time")
    async def reschedule(
        footage_id: FootageId, channel: ChannelName, who: Editor, body: Annotated[Reschedule, Body()]
    ) -> Decided:
        when = body.publish_at
        if when is not None:
            try:
                when = publish_time(when.isoformat(), datetime.now(UTC))
            except RejectedUpload as exc:
                raise HTTPException(422, str(exc)) from None
        return decided(await log.record(change(who, footage_id, channel, publish_at=when)))

    @router.post("/posts/{footage_id}/{channel}/cancel", status_code=202, summary="Cancel a post that has not gone out")
    async def cancel(footage_id: FootageId, channel: ChannelName, who: Editor) -> Decided:
        return decided(await log.record(change(who, footage_id, channel, cancelled=True)))

    return router


def schedule_router(
    catalog: Catalog,
    channels: ChannelStore,
    relay: StatusRelay,
    requires: Requires,
    session_of: SessionOf,
    audit: AuditLog | None = None,
) -> APIRouter:
    router = APIRouter(tags=["footage"])
    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    Credentials = Annotated[str, Depends(relayed_credential)]

    @router.get("/schedule/posts", summary="Your ward's posts between two days, scheduled and published (calendar)")
    async def schedule_posts(
        who: Viewer,
        credentials: Credentials,
        start: Annotated[date, Query(description="First day, inclusive (Vietnam time)")],
        end: Annotated[date, Query(description="Day after the last, exclusive (Vietnam time)")],
    ) -> list[CalendarPost]:
        window = Window(
            datetime.combine(start, datetime.min.time(), WARD_TIMEZONE),
            datetime.combine(end, datetime.min.time(), WARD_TIMEZONE),
        )
        if not timedelta(0) < window.end - window.start <= MAX_WINDOW:
            raise HTTPException(
                422, "end must be after start, at most 62 days later. / Khoảng thời gian không hợp lệ (tối đa 62 ngày)."
            )
        params = {
            "from": (window.start.astimezone(UTC).date()).isoformat(),
            "to": (window.end.astimezone(UTC).date()).isoformat(),
            "limit": 1000,
        }
        try:
            published = await relay.posts(params, credentials)
        except StatusUnavailable as exc:
            raise HTTPException(
                502, "The status service (metrics) is not answering; try again shortly. / Chưa lấy được trạng thái."
            ) from exc
        except StatusRefused as exc:
            raise HTTPException(exc.status_code if 400 <= exc.status_code < 500 else 502, exc.detail) from exc
        platforms = {stored.channel.name: stored.channel.platform for stored in channels.listed(who.ward_filter())}
        scheduled = catalog.scheduled(who.ward_filter())
        changes = audit.schedule_changes(who.ward_filter()) if audit is not None else []
        return calendar_posts(scheduled, published, platforms, window, datetime.now(UTC), changes)

    @router.get("/ui/schedule", include_in_schema=False)
    async def schedule_page(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            target = quote(str(request.url.path))
            return Response(status_code=status.HTTP_303_SEE_OTHER, headers={"Location": f"/signin?next={target}"})
        who = session.account.caller()
        names = [stored.channel.name for stored in channels.listed(who.ward_filter())]
        return render(
            request,
            "schedule.html",
            STRINGS,
            {"channels": sorted(names)},
            person=session.account.display_name,
            csrf_token=session.csrf_token,
        )

    return router
