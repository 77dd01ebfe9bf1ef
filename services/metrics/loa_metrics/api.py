"""The HTTP side of the metrics service: status per footage and post, reports, health and /metrics."""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Response, status

from loa_core.auth import Caller, bearer_dependency
from loa_core.contracts import ChannelName, FootageId, FootageList, FootageStatus, FootageView, WardId
from loa_core.observability import ReadinessCheck, health_router, instrument_http
from loa_core.refusals import explain_invalid_requests
from loa_metrics import reports
from loa_metrics.engagement_store import EngagementStore
from loa_metrics.inbox import Inbox
from loa_metrics.inbox_api import inbox_router, utc_clock
from loa_metrics.reports_api import reports_router
from loa_metrics.settings import MetricsSettings
from loa_metrics.verification import Verifications
from loa_metrics.verify_api import verification_router
from loa_metrics.views import FootageViews

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]
DateFrom = Annotated[date | None, Query(alias="from", description="First day, inclusive (UTC), e.g. 2026-11-01")]
DateTo = Annotated[date | None, Query(alias="to", description="Last day, inclusive (UTC)")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]


async def _always_ready() -> str | None:
    return None


def create_api(
    settings: MetricsSettings,
    views: FootageViews,
    engagement: EngagementStore,
    readiness: ReadinessCheck = _always_ready,
    verifications: Verifications | None = None,
    inbox: Inbox | None = None,
) -> FastAPI:
    api = FastAPI(title="Loa metrics", version="0.2.0")
    instrument_http(api)
    explain_invalid_requests(api)
    require_token = bearer_dependency(settings.token_hashes, settings.ingest_roles(), need="viewer")
    api.include_router(health_router(readiness))
    # Everything but health and /metrics needs a token; everything is confined to the caller's ward (`ward_filter`,
    # `sees`) unless the caller is a district admin.
    router = APIRouter(dependencies=[Depends(require_token)])
    Viewer = Annotated[Caller, Depends(require_token)]

    @router.get("/footage")
    async def list_footage(
        who: Viewer,
        status_: Annotated[FootageStatus | None, Query(alias="status")] = None,
        series: Annotated[str | None, Query(max_length=100)] = None,
        channel: Annotated[ChannelName | None, Query()] = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        ward: Annotated[WardId | None, Query(description="One ward's footage (a district admin's choice)")] = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> FootageList:
        if ward is not None and not who.sees(ward):  # another ward is not even confirmed to exist
            raise HTTPException(404, f"No ward {ward} in your reach. / Không có phường {ward} trong phạm vi của bạn.")
        items = views.list_footage(
            ward=ward if ward is not None else who.ward_filter(),
            status=status_,
            series=series,
            channel=channel,
            date_from=date_from,
            date_to=date_to,
            limit=limit,
            offset=offset,
        )
        return FootageList(items=tuple(items), limit=limit, offset=offset)

    @router.get("/footage/{footage_id}")
    async def get_footage(footage_id: FootageId, who: Viewer) -> FootageView:
        view = views.footage(footage_id)
        if view is None or not who.sees(view.ward):  # another ward's footage is not even confirmed to exist
            raise HTTPException(404, f"No footage {footage_id} has been seen yet. / Chưa thấy footage này.")
        return view

    @router.get("/posts")
    async def list_posts(
        who: Viewer,
        series: Annotated[str | None, Query(max_length=100)] = None,
        channel: Annotated[ChannelName | None, Query()] = None,
        platform: Annotated[str | None, Query(max_length=40)] = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        items = views.list_posts(
            ward=who.ward_filter(),
            series=series,
            channel=channel,
            platform=platform,
            date_from=date_from,
            date_to=date_to,
            limit=limit,
            offset=offset,
        )
        return {"items": items, "limit": limit, "offset": offset}

    def _period(month: str | None, week: str | None) -> reports.Period:
        try:
            return reports.week_period(week) if week else reports.month_period(month)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    def _report(period: reports.Period, fmt: str, who: Caller) -> Any:
        report = reports.report(period, engagement, who.ward_filter(), views.channel_wards())
        if fmt == "csv":
            return Response(
                reports.to_csv(report["rows"]),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="loa-report-{period.label}.csv"'},
            )
        return report

    @router.get("/reports/monthly")
    async def monthly_report(
        who: Viewer,
        month: Annotated[str | None, Query(description="YYYY-MM; default: this month (UTC)")] = None,
        format: Format = "json",
    ) -> Any:
        return _report(_period(month, None), format, who)

    @router.get("/reports/weekly")
    async def weekly_report(
        who: Viewer,
        week: Annotated[str | None, Query(description="ISO week YYYY-Www; default: this week (UTC)")] = None,
        format: Format = "json",
    ) -> Any:
        return _report(_period(None, week), format, who)

    @router.get("/reports/district", summary="Every ward's totals (district admins only)")
    async def district_report(
        who: Viewer,
        month: Annotated[str | None, Query(description="YYYY-MM; default: this month (UTC)")] = None,
        week: Annotated[str | None, Query(description="ISO week YYYY-Www instead of a month")] = None,
        format: Format = "json",
    ) -> Any:
        if not who.is_district:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "The district's totals are for district admins only; a ward's report is /reports/monthly. / Chỉ "
                "quản trị quận xem được số liệu tổng của các phường.",
            )
        if month and week:
            raise HTTPException(422, "Give month or week, not both. / Chỉ chọn tháng hoặc tuần.")
        period = _period(month, week)
        report = reports.district_report(period, engagement)
        if format == "csv":
            return Response(
                reports.to_csv(reports.district_csv_rows(period, report["wards"]), reports.DISTRICT_COLUMNS),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="loa-district-{period.label}.csv"'},
            )
        return report

    api.include_router(router)
    api.include_router(reports_router(require_token, views, engagement, settings.ward_names, verifications))
    if verifications is not None:
        api.include_router(verification_router(verifications, require_token))
    if inbox is not None:
        api.include_router(inbox_router(inbox, require_token, utc_clock))
    return api
