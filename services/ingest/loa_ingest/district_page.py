"""The district's view, /ui/district: every ward's totals of a month (footage uploaded; posts published and failed
per platform; views, likes, comments and shares as last polled), for district admins.

The figures are metrics' `GET /reports/district`, relayed with the caller's own credential (status.py): metrics
refuses anyone but a district admin, and so does this page, before asking.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response

from loa_core.auth import Caller, Role
from loa_ingest.accounts import Session
from loa_ingest.pages import Strings, render
from loa_ingest.signin import relayed_credential
from loa_ingest.status import StatusRefused, StatusRelay, StatusUnavailable

Requires = Callable[[Role], Callable[..., Awaitable[Caller]]]
SessionOf = Callable[[Request], Session | None]
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
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
}


def district_page_router(relay: StatusRelay, requires: Requires, session_of: SessionOf) -> APIRouter:
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
    ) -> Response:
        if not who.is_district:
            raise HTTPException(status.HTTP_403_FORBIDDEN, DISTRICT_ONLY)
        if month and not MONTH.match(month):
            raise HTTPException(422, "month must look like 2026-11. / Tháng phải có dạng 2026-11.")
        report: dict[str, Any] | None = None
        error = None
        try:
            report = await relay.district({"month": month or None}, credentials)
        except StatusUnavailable:
            error = "status_away"
        except StatusRefused as exc:
            raise HTTPException(exc.status_code if 400 <= exc.status_code < 500 else 502, exc.detail) from exc
        context = {"report": report, "error": error, "month": month or (report or {}).get("period", "")}
        return render(
            request,
            "district.html",
            STRINGS,
            context,
            person=(session.account.display_name or session.account.username) if session else None,
            csrf_token=session.csrf_token if session else None,
        )

    return router
