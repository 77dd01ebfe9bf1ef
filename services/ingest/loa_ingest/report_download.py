"""GET /ui/reports/download: the report upward (metrics' /reports/upward) as a PDF or XLSX file, for the page's
download buttons. Relayed with the caller's own credential like every status read (status.py): metrics decides whose
report the caller may have (its own ward's; any ward's or the district's for a district admin). The ward's name as
people read it comes from ingest's wards.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from loa_core.auth import Caller, Role
from loa_ingest.accounts import People
from loa_ingest.signin import relayed_credential
from loa_ingest.status import StatusRefused, StatusRelay, StatusUnavailable

Requires = Callable[[Role], Callable[..., Awaitable[Caller]]]
DISTRICT = "district"


def report_download_router(relay: StatusRelay, people: People, requires: Requires) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    Credentials = Annotated[str, Depends(relayed_credential)]

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
