"""GET /reports/upward: the report a ward sends upward (or the district's roll-up), as JSON, XLSX or PDF.

A ward's people get their own ward's; a district admin any ward's, or the district's roll-up (no ward, or
ward=district). Another ward's report answers 404 for a ward's people, the roll-up 403.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations.

import asyncio
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from loa_core.auth import Caller
from loa_metrics import reports, upward
from loa_metrics.engagement_store import EngagementStore
from loa_metrics.verification import Verifications
from loa_metrics.views import FootageViews

MEDIA_TYPES = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def render(report: upward.UpwardReport, fmt: str) -> bytes:
    """The report as a PDF or an XLSX document. The renderers are imported here, on first use: matplotlib, fpdf2 and
    openpyxl weigh about 60 MB in a process that renders a report a month (tests/unit/test_metrics_imports.py)."""
    if fmt == "pdf":
        from loa_metrics.report_pdf import render_pdf

        return render_pdf(report)
    from loa_metrics.report_xlsx import render_xlsx

    return render_xlsx(report)


def filename(report: upward.UpwardReport, fmt: str) -> str:
    return f"loa-bao-cao-{report.scope}-{report.period.label}.{fmt}"


def scope_for(who: Caller, ward: str | None) -> str:
    """Whose report the caller asked for, or the HTTP refusal."""
    if ward is None or ward == upward.DISTRICT:
        if ward is None and not who.is_district and who.ward is not None:
            return who.ward
        if not who.is_district:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "The district's report is for district admins only. / Chỉ quản trị quận xem được báo cáo toàn quận.",
            )
        return upward.DISTRICT
    if not who.sees(ward):  # another ward is not even confirmed to exist
        raise HTTPException(404, f"No ward {ward} in your reach. / Không có phường {ward} trong phạm vi của bạn.")
    return ward


def reports_router(
    viewer: Callable[..., Any],
    views: FootageViews,
    engagement: EngagementStore,
    names: Mapping[str, str],
    verifications: Verifications | None = None,
) -> APIRouter:
    router = APIRouter()
    Viewer = Annotated[Caller, Depends(viewer)]

    @router.get("/reports/upward", summary="The report upward (báo cáo): JSON, XLSX or PDF")
    async def upward_report(
        who: Viewer,
        period: Annotated[
            str | None,
            Query(max_length=8, description="2026-11 (month), 2026-W47 (ISO week) or 2026-Q4; default: this month"),
        ] = None,
        ward: Annotated[
            str | None, Query(max_length=64, description="A ward, or district (district admins); default: yours")
        ] = None,
        ward_name: Annotated[str | None, Query(max_length=120, description="The ward's name to print")] = None,
        format: Annotated[Literal["json", "xlsx", "pdf"], Query()] = "json",
    ) -> Any:
        try:
            chosen = reports.parse_period(period) if period else reports.month_period(None)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        scope = scope_for(who, ward)
        shown = {**names, **({scope: ward_name} if ward_name and scope != upward.DISTRICT else {})}
        report = await asyncio.to_thread(upward.gather, engagement, chosen, scope, views.channels, shown, verifications)
        if format == "json":
            return upward.as_json(report)
        body = await asyncio.to_thread(render, report, format)
        return Response(
            body,
            media_type=MEDIA_TYPES[format],
            headers={"Content-Disposition": f'attachment; filename="{filename(report, format)}"'},
        )

    return router
