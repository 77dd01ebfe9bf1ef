"""The district's view, /ui/district: every ward's totals of a month or an ISO week (footage uploaded; posts published
and failed per platform; views, likes, comments and shares as last polled), each ward's link to its footage list of
that period, and each ward's channels with whether they can post (connected or not), for district admins.

The figures are metrics' `GET /reports/district`, relayed with the caller's own credential (status.py): metrics
refuses anyone but a district admin, and so does this page, before asking. The channels are ingest's own store.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response

from loa_core.auth import Caller, Role
from loa_ingest.accounts import Session
from loa_ingest.channels import ChannelStore, StoredChannel
from loa_ingest.pages import Strings, render
from loa_ingest.signin import relayed_credential
from loa_ingest.status import StatusRefused, StatusRelay, StatusUnavailable

Requires = Callable[[Role], Callable[..., Awaitable[Caller]]]
SessionOf = Callable[[Request], Session | None]
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
WEEK = re.compile(r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$")
DISTRICT_ONLY = (
    "The district's totals are for district admins only. / Chỉ quản trị quận xem được số liệu tổng của các phường."
)

STRINGS: Strings = {
    "district_title": ("Tổng hợp các phường", "The wards at a glance"),
    "month": ("Tháng", "Month"),
    "show": ("Xem", "Show"),
    "ward": ("Phường", "Ward"),
    "platform": ("Nền tảng", "Platform"),
    "all_platforms": ("Tất cả", "All"),
    "footage": ("Video tải lên", "Footage"),
    "published": ("Bài đã đăng", "Posts published"),
    "failed": ("Bài lỗi", "Posts failed"),
    "views": ("Lượt xem", "Views"),
    "likes": ("Lượt thích", "Likes"),
    "comments": ("Bình luận", "Comments"),
    "shares": ("Chia sẻ", "Shares"),
    "nothing": ("Chưa có số liệu trong tháng này.", "Nothing in this month yet."),
    "status_away": (
        "Chưa lấy được số liệu (dịch vụ metrics không trả lời); hãy tải lại sau.",
        "The figures are not available (metrics is not answering); reload shortly.",
    ),
    "footage_page": ("Danh sách video", "Footage"),
    "week": ("Tuần", "Week"),
    "or": ("hoặc", "or"),
    "ward_footage": ("Xem video của phường", "This ward's footage"),
    "channels": ("Kênh", "Channels"),
    "no_channels": ("Phường chưa có kênh.", "No channel yet."),
    "state_connected": ("Đã kết nối", "Connected"),
    "state_disconnected": ("Chưa kết nối", "Disconnected"),
    "channels_page": ("Kênh", "Channels"),
    "report_title": ("Báo cáo gửi cấp trên", "The report upward"),
    "report_period": ("Kỳ báo cáo", "Period"),
    "report_period_hint": ("2026-11 (tháng), 2026-W47 (tuần), 2026-Q4 (quý)", "2026-11 (month), 2026-W47, 2026-Q4"),
    "report_district": ("Toàn quận", "Whole district"),
    "download_pdf": ("Tải PDF", "Download PDF"),
    "download_xlsx": ("Tải Excel", "Download XLSX"),
}


@dataclass(frozen=True)
class WardRow:
    """One ward on the district's page: its totals of the period (None: nothing in it), its channels, and where its
    footage of the period is listed."""

    ward: str
    totals: dict[str, Any] | None
    footage_link: str
    channels: list[StoredChannel] = field(default_factory=list)


def ward_rows(report: dict[str, Any] | None, channels: list[StoredChannel]) -> list[WardRow]:
    """Every ward that has figures in the period or a channel, by name; each links to its footage list over the
    period's upload days (the report's `to` is exclusive, the list's inclusive)."""
    totals = {w["ward"]: w for w in (report or {}).get("wards", [])}
    by_ward: dict[str, list[StoredChannel]] = {}
    for stored in channels:
        by_ward.setdefault(stored.channel.ward, []).append(stored)
    days: dict[str, str] = {}
    if report and report.get("from") and report.get("to"):
        last = date.fromisoformat(report["to"]) - timedelta(days=1)
        days = {"from": report["from"], "to": last.isoformat()}
    return [
        WardRow(
            ward=name,
            totals=totals.get(name),
            footage_link="/ui/footage?" + urlencode({"ward": name, **days}),
            channels=sorted(by_ward.get(name, []), key=lambda s: s.channel.name),
        )
        for name in sorted(totals.keys() | by_ward.keys())
    ]


def district_page_router(
    relay: StatusRelay, channels: ChannelStore, requires: Requires, session_of: SessionOf
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    Credentials = Annotated[str, Depends(relayed_credential)]

    async def signed_in(request: Request) -> Session | None:
        """A browser that is not signed in goes to the sign-in page first, and comes back here after."""
        session = session_of(request)
        if "authorization" not in request.headers and session is None:
            target = quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
            raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": f"/signin?next={target}"})
        return session

    Signed = Annotated[Session | None, Depends(signed_in)]

    @router.get("/ui/district")
    async def district_page(
        request: Request,
        session: Signed,
        who: Viewer,
        credentials: Credentials,
        month: Annotated[str | None, Query(max_length=7)] = None,
        week: Annotated[str | None, Query(max_length=8)] = None,
    ) -> Response:
        if not who.is_district:
            raise HTTPException(status.HTTP_403_FORBIDDEN, DISTRICT_ONLY)
        if month and not MONTH.match(month):
            raise HTTPException(422, "month must look like 2026-11. / Tháng phải có dạng 2026-11.")
        if week and not WEEK.match(week):
            raise HTTPException(422, "week must look like 2026-W47. / Tuần phải có dạng 2026-W47.")
        if month and week:
            raise HTTPException(422, "Give month or week, not both. / Chỉ chọn tháng hoặc tuần.")
        report: dict[str, Any] | None = None
        error = None
        try:
            report = await relay.district({"month": month or None, "week": week or None}, credentials)
        except StatusUnavailable:
            error = "status_away"
        except StatusRefused as exc:
            raise HTTPException(exc.status_code if 400 <= exc.status_code < 500 else 502, exc.detail) from exc
        period = (report or {}).get("period", "")
        context = {
            "report": report,
            "error": error,
            "month": month or ("" if week else period),
            "week": week or "",
            "wards": ward_rows(report, channels.listed(None)),
        }
        return render(
            request,
            "district.html",
            STRINGS,
            context,
            person=(session.account.display_name or session.account.username) if session else None,
            csrf_token=session.csrf_token if session else None,
        )

    return router
