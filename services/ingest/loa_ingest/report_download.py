"""The report upward from the pages: GET /ui/reports (the period and, for a district admin, the ward or the whole
district, then Tải PDF / Tải Excel) and GET /ui/reports/download, the report (metrics' /reports/upward) as a PDF or
XLSX file, which that page and the district page link to. Relayed with the caller's own credential like every status
read (status.py): metrics decides whose report the caller may have (its own ward's; any ward's or the district's
for a district admin). The ward's name as people read it comes from ingest's wards.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response

from loa_core.auth import Caller, Role
from loa_ingest.accounts import People, Session
from loa_ingest.pages import Strings, render
from loa_ingest.signin import relayed_credential
from loa_ingest.status import StatusRefused, StatusRelay, StatusUnavailable

Requires = Callable[[Role], Callable[..., Awaitable[Caller]]]
SessionOf = Callable[[Request], Session | None]
DISTRICT = "district"
STRINGS: Strings = {
    "reports_title": ("Báo cáo gửi cấp trên", "The report upward"),
    "reports_intro": (
        "Bài đã đăng, lượt xem, người theo dõi, bài nổi bật và phản hồi của người dân trong kỳ: bản PDF để đọc và "
        "in, bản Excel để tổng hợp.",
        "Posts, views, followers, top posts and citizens' feedback of the period: a PDF to read and print, an Excel "
        "workbook to add up.",
    ),
    "report_period": ("Kỳ báo cáo", "Period"),
    "report_period_hint": ("2026-11 (tháng), 2026-W47 (tuần), 2026-Q4 (quý)", "2026-11 (month), 2026-W47, 2026-Q4"),
    "ward": ("Phường", "Ward"),
    "report_district": ("Toàn quận", "Whole district"),
    "download_pdf": ("Tải PDF", "Download PDF"),
    "download_xlsx": ("Tải Excel", "Download XLSX"),
    "footage_page": ("Danh sách video", "Footage"),
    "channels_page": ("Kênh", "Channels"),
}


def report_download_router(relay: StatusRelay, people: People, requires: Requires, session_of: SessionOf) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    Credentials = Annotated[str, Depends(relayed_credential)]

    async def signed_in(request: Request) -> Session | None:
        """A browser that is not signed in goes to the sign-in page first, and comes back here after."""
        session = session_of(request)
        if "authorization" not in request.headers and session is None:
            raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": f"/signin?next={quote('/ui/reports')}"})
        return session

    @router.get("/ui/reports")
    async def reports_page(
        request: Request, session: Annotated[Session | None, Depends(signed_in)], who: Viewer
    ) -> Response:
        wards = people.wards(None if who.is_district else who.ward)
        context = {
            "period": f"{datetime.now(UTC):%Y-%m}",
            "district": who.is_district,
            "wards": [(w["id"], w["display_name"]) for w in wards],
        }
        return render(
            request,
            "reports.html",
            STRINGS,
            context,
            person=(session.account.display_name or session.account.username) if session else None,
            csrf_token=session.csrf_token if session else None,
        )

    @router.get("/ui/reports/download")
    async def download(
        who: Viewer,
        credentials: Credentials,
        format: Annotated[Literal["pdf", "xlsx"], Query()] = "pdf",
        period: Annotated[str | None, Query(max_length=8)] = None,
        ward: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        scope = ward or (None if who.is_district else who.ward)
        named = people.wards(scope) if scope and scope != DISTRICT and who.sees(scope) else []
        params = {
            "format": format,
            "period": period,
            "ward": ward,
            "ward_name": named[0]["display_name"] if named else None,
        }
        try:
            answer = await relay.report_document(params, credentials)
        except StatusRefused as exc:
            raise HTTPException(exc.status_code if 400 <= exc.status_code < 500 else 502, exc.detail) from exc
        except StatusUnavailable as exc:
            raise HTTPException(
                502,
                "The report is not available (metrics is not answering); try again shortly. / Chưa lấy được báo cáo "
                "(dịch vụ metrics không trả lời); hãy thử lại sau.",
            ) from exc
        return Response(
            answer.content,
            media_type=answer.headers.get("content-type", "application/octet-stream"),
            headers={"Content-Disposition": answer.headers.get("content-disposition", "attachment")},
        )

    return router
