"""Ingest's HTTP edge: thin routes over `IngestService`, the tus handlers and the token store."""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

import logging
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import (
    Body,
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from loa_core.auth import Caller
from loa_core.contracts import DEFAULT_WARD, ChannelName, FootageId, FootageList, FootageStatus, FootageView, WardId
from loa_core.db import DatabaseUnavailable
from loa_core.observability import health_router, instrument_http
from loa_core.refusals import explain_invalid_requests
from loa_core.storage import StorageUnavailable
from loa_ingest.access import RateLimiter, Role, TokenStore, retry_after_header
from loa_ingest.accounts_api import accounts_router
from loa_ingest.actions_api import actions_router
from loa_ingest.approval_api import approval_router
from loa_ingest.audit import AuditLog
from loa_ingest.channels import ChannelStore
from loa_ingest.channels_api import ChannelDesk, channels_router
from loa_ingest.channels_page import channels_page_router
from loa_ingest.district_page import district_page_router
from loa_ingest.duplicates import AlreadyUploaded
from loa_ingest.footage_page import footage_page_router
from loa_ingest.inbox_api import InboxDesk, inbox_router
from loa_ingest.inbox_page import inbox_page_router
from loa_ingest.metadata import describe_upload
from loa_ingest.oauth_api import ChannelSignIn
from loa_ingest.report_download import report_download_router
from loa_ingest.schedule import changes_router, schedule_router
from loa_ingest.service import CHUNK, AnnouncementBusy, IngestService, SpooledUpload
from loa_ingest.signin import Gate, relayed_credential
from loa_ingest.status import StatusRefused, StatusRelay, StatusUnavailable, View
from loa_ingest.subtitles_api import subtitles_router
from loa_ingest.tus import TusError, TusUploads, error_response, visible
from loa_ingest.tus_parts import shared_parts
from loa_ingest.uploads import UploadStore
from loa_ingest.validation import RejectedUpload
from loa_ingest.verify_page import VerifyPage, verify_page_router

WEB_DIR = FilePath(__file__).parent / "web"
# services/ingest/loa_ingest/api.py -> the repository root, where scripts/setup.sh puts npm packages.
DEFAULT_VENDOR_DIR = FilePath(__file__).resolve().parents[3] / ".cache" / "web" / "node_modules"
log = logging.getLogger(__name__)
DATABASE_RETRY_S = 5
DATABASE_AWAY = (
    "Cơ sở dữ liệu của ingest tạm thời không trả lời; hãy thử lại sau vài giây (tải lên sẽ tiếp tục từ chỗ đã dừng). "
    "/ Ingest's database is not answering for now; try again in a few seconds (an upload resumes where it stopped)."
)
STORAGE_AWAY = (
    "Kho lưu trữ video tạm thời không trả lời; hãy thử lại sau vài giây (tệp đã gửi không mất). "
    "/ The video storage is not answering for now; try again in a few seconds (nothing sent is lost)."
)


def _header(name: str, required: bool = False, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "header", "required": required, "schema": schema}


# tus speaks in headers; declaring them lets API tools (and schemathesis) exercise the protocol, not just the routes.
_TUS_VERSION_HEADER = _header("Tus-Resumable", required=True)
_TUS_CREATE: dict[str, Any] = {
    "parameters": [
        _TUS_VERSION_HEADER,
        _header("Upload-Length", required=True, pattern=r"^[0-9]+$"),
        _header("Upload-Metadata"),
    ]
}
_TUS_PATCH: dict[str, Any] = {
    "parameters": [
        _TUS_VERSION_HEADER,
        _header("Upload-Offset", required=True, pattern=r"^[0-9]+$"),
        _header("Upload-Checksum"),
    ],
    "requestBody": {
        "required": True,
        "content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
}
_TUS_DELETE: dict[str, Any] = {"parameters": [_TUS_VERSION_HEADER]}


class TokenRequest(BaseModel):
    role: Role
    label: str = Field(default="", max_length=200)
    # The ward the token acts in: a ward admin's own (the default for one), any for a district admin.
    ward: WardId | None = None


class TokenCreated(BaseModel):
    ward: str
    token: str
    token_id: str
    role: Role
    label: str


def create_api(
    service: IngestService,
    channels: ChannelStore,
    tokens: TokenStore,
    uploads: UploadStore,
    limiter: RateLimiter,
    relay: StatusRelay,
    gate: Gate,
    sign_in: ChannelSignIn | None = None,
    audit: AuditLog | None = None,
    verify_page: VerifyPage | None = None,
) -> FastAPI:
    settings = service.settings
    api = FastAPI(title="Loa ingest", version="0.2.0")
    instrument_http(api)
    explain_invalid_requests(api)
    tus = TusUploads(
        service,
        uploads,
        lambda fields, caller: describe_upload(fields, caller, channels.active()),
        max_size=settings.max_upload_bytes,
        expiry_s=settings.upload_expiry_s,
        shared=shared_parts(settings, service.storage),
    )
    api.state.tus = tus

    def requires(role: Role) -> Callable[..., Awaitable[Caller]]:
        """A bearer token (loa_core.auth's check) or a person's session cookie (signin.py), then the rate limit."""
        authenticated = gate.requires(role)

        async def limited(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
            wait = limiter.take(caller.id)
            if wait > 0:
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    "Too many requests for this token; slow down. / Quá nhiều yêu cầu, hãy chậm lại.",
                    headers={"Retry-After": retry_after_header(wait)},
                )
            return caller

        return limited

    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    Uploader = Annotated[Caller, Depends(requires("editor"))]
    WardAdmin = Annotated[Caller, Depends(requires("ward_admin"))]

    async def ready() -> str | None:
        return None

    api.include_router(health_router(ready))
    api.include_router(gate.router())
    api.include_router(accounts_router(gate.people, requires, gate.session_of))

    @api.exception_handler(AlreadyUploaded)
    async def already_uploaded(_: object, exc: AlreadyUploaded) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "footage_id": exc.footage_id},
            status_code=status.HTTP_409_CONFLICT,
            headers={"Loa-Footage-Id": exc.footage_id},
        )

    @api.exception_handler(RejectedUpload)
    async def rejected(_: object, exc: RejectedUpload) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, headers={"Tus-Resumable": "1.0.0"}
        )

    @api.exception_handler(TusError)
    async def tus_error(_: object, exc: TusError) -> JSONResponse:
        return error_response(exc)

    @api.exception_handler(DatabaseUnavailable)
    async def database_away(_: object, exc: DatabaseUnavailable) -> JSONResponse:
        # PostgreSQL restarting or failing over: a tus client retries a 503 (after Retry-After), as the page does.
        return JSONResponse(
            {"detail": DATABASE_AWAY},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_S), "Tus-Resumable": "1.0.0"},
        )

    @api.exception_handler(AnnouncementBusy)
    async def announcement_busy(_: object, exc: AnnouncementBusy) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_S), "Tus-Resumable": "1.0.0"},
        )

    @api.exception_handler(StorageUnavailable)
    async def storage_away(_: object, exc: StorageUnavailable) -> JSONResponse:
        # S3 restarting or unreachable: the footage id is recorded, so the same file sent again finishes it.
        log.warning("storage unavailable: %s", exc)
        return JSONResponse(
            {"detail": STORAGE_AWAY},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(DATABASE_RETRY_S), "Tus-Resumable": "1.0.0"},
        )

    # -- tus: /files/ ----------------------------------------------------------------------------------------

    @api.options("/files", include_in_schema=False)
    @api.options("/files/", include_in_schema=False)
    @api.options("/files/{upload_id}", include_in_schema=False)
    async def tus_options() -> Response:
        return Response(status_code=204, headers=tus.options_headers())

    @api.post("/files/", status_code=201, tags=["tus"], summary="tus: create an upload", openapi_extra=_TUS_CREATE)
    async def tus_create(request: Request, who: Uploader) -> Response:
        return await tus.create(request, who)

    api.add_api_route("/files", tus_create, methods=["POST"], include_in_schema=False)

    @api.head("/files/{upload_id}", tags=["tus"], summary="tus: the upload's offset")
    async def tus_head(upload_id: str, who: Uploader) -> Response:
        return await tus.head(upload_id, who)

    @api.patch(
        "/files/{upload_id}", status_code=204, tags=["tus"], summary="tus: append bytes", openapi_extra=_TUS_PATCH
    )
    async def tus_patch(upload_id: str, request: Request, who: Uploader) -> Response:
        return await tus.patch(upload_id, request, who)

    @api.delete(
        "/files/{upload_id}",
        status_code=204,
        tags=["tus"],
        summary="tus: terminate an upload",
        openapi_extra=_TUS_DELETE,
    )
    async def tus_delete(upload_id: str, request: Request, who: Uploader) -> Response:
        return await tus.terminate(upload_id, request, who)

    @api.get("/files/{upload_id}", tags=["tus"], summary="Where an upload stands (Loa's addition, not tus)")
    async def upload_status(upload_id: str, who: Uploader) -> dict[str, object]:
        upload = uploads.get(upload_id)
        if upload is None or not visible(upload, who):
            raise HTTPException(404, "No such upload. / Không tìm thấy lượt tải lên.")
        return tus.status(upload)

    # -- the one-request upload (kept for simple scripts; the CLI and the page use tus) ------------------------

    @api.post("/footage", status_code=status.HTTP_201_CREATED, tags=["footage"])
    async def upload_footage(
        who: Uploader,
        file: Annotated[UploadFile, File(description="The video file")],
        title: Annotated[str, Form(max_length=1000)],
        description: Annotated[str, Form(max_length=20000)] = "",
        tags: Annotated[list[str] | None, Form()] = None,
        series: Annotated[str | None, Form(max_length=1000)] = None,
        channels_: Annotated[list[str] | None, Form(alias="channels")] = None,
        event_date: Annotated[str | None, Form(max_length=100)] = None,
        trim_start_s: Annotated[str | None, Form(max_length=100)] = None,
        trim_end_s: Annotated[str | None, Form(max_length=100)] = None,
        publish_at: Annotated[str | None, Form(max_length=100)] = None,
        ward: Annotated[str | None, Form(max_length=100, description="District admins: the footage's ward")] = None,
    ) -> JSONResponse:
        fields: dict[str, str | list[str]] = {"title": title, "description": description}
        fields["tags"] = tags or []
        fields["channels"] = channels_ or []
        optional = {
            "series": series,
            "event_date": event_date,
            "trim_start_s": trim_start_s,
            "trim_end_s": trim_end_s,
            "publish_at": publish_at,
            "ward": ward,
        }
        fields.update({k: v for k, v in optional.items() if v})
        if file.filename:
            fields["filename"] = file.filename
        footage_ward, metadata = describe_upload(fields, who, channels.active())
        spool = SpooledUpload(service.spool_dir, settings.max_upload_bytes)
        try:
            while chunk := await file.read(CHUNK):
                spool.write(chunk)
            sha256 = spool.close()
            accepted = await service.accept(spool.path, sha256, spool.size, metadata, footage_ward)
        finally:
            spool.discard()
        body = {"footage_id": accepted.footage_id, "duplicate": accepted.duplicate}
        return JSONResponse(body, status_code=status.HTTP_200_OK if accepted.duplicate else status.HTTP_201_CREATED)

    # -- tokens ------------------------------------------------------------------------------------------------

    @api.post("/tokens", status_code=201, tags=["tokens"], summary="Create an API token (ward admins, in their ward)")
    async def create_token(who: WardAdmin, body: Annotated[TokenRequest, Body()]) -> TokenCreated:
        ward = body.ward or who.ward or DEFAULT_WARD
        if not who.sees(ward) or not who.allows(body.role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "A ward admin makes tokens of its own ward, up to its own role. / Quản trị phường chỉ tạo mã cho "
                "phường mình, không vượt quyền của mình.",
            )
        issued = tokens.create(body.role, body.label, created_by=who.id, ward=ward, account_id=who.account)
        return TokenCreated(
            token=issued.token, token_id=issued.token_id, role=issued.role, label=issued.label, ward=issued.ward
        )

    @api.get("/tokens", tags=["tokens"], summary="List API tokens, without their secrets (ward admins: their ward's)")
    async def list_tokens(who: WardAdmin) -> list[dict[str, object]]:
        return tokens.list(who.ward_filter())

    @api.delete("/tokens/{token_id}", status_code=204, tags=["tokens"], summary="Revoke an API token (ward admins)")
    async def revoke_token(token_id: str, who: WardAdmin) -> Response:
        if not tokens.revoke(token_id, who.ward_filter()):
            raise HTTPException(404, "No such active token. / Không tìm thấy mã truy cập.")
        return Response(status_code=204)

    @api.get("/whoami", tags=["tokens"], summary="The role of the token sent")
    async def whoami(who: Viewer) -> dict[str, str | None]:
        return {"token_id": who.id, "role": who.role, "label": who.label, "ward": who.ward, "account": who.account}

    desk = ChannelDesk(service, channels)
    api.include_router(channels_router(desk, requires))
    api.include_router(channels_page_router(desk, requires, gate.session_of))
    if audit is not None:
        api.include_router(approval_router(channels, audit, requires))
        api.include_router(changes_router(service.catalog, audit, requires))
        api.include_router(actions_router(channels, audit, requires, relay, service.catalog))
        inbox = InboxDesk(relay, channels, audit, gate.people)
        api.include_router(inbox_router(inbox, requires))
        api.include_router(inbox_page_router(inbox, channels, requires, gate.session_of))
    api.include_router(subtitles_router(service.storage, requires))
    api.include_router(schedule_router(service.catalog, channels, relay, requires, gate.session_of, audit))
    for router in sign_in.routers(channels, requires) if sign_in else ():
        api.include_router(router)
    api.include_router(
        footage_page_router(relay, channels, service.catalog, service.storage, requires, gate.session_of, audit)
    )
    api.include_router(district_page_router(relay, channels, requires, gate.session_of))
    api.include_router(report_download_router(relay, gate.people, requires, gate.session_of))
    if verify_page is not None:
        api.include_router(verify_page_router(verify_page))  # public: no sign-in, its own rate limit

    # -- status for people, relayed from metrics (see status.py for why a relay) --------------------------------

    # What proves the caller to metrics: its bearer token, or its session's id (both known to ingest's /whoami).
    Credentials = Annotated[str, Depends(relayed_credential)]

    async def relayed(answer: Awaitable[View]) -> View:
        try:
            return await answer
        except StatusUnavailable as exc:
            raise HTTPException(
                status.HTTP_502_BAD_GATEWAY,
                "The status service (metrics) is not answering; try again shortly. / Chưa lấy được trạng thái.",
            ) from exc
        except StatusRefused as exc:
            code = exc.status_code if 400 <= exc.status_code < 500 else status.HTTP_502_BAD_GATEWAY
            raise HTTPException(code, exc.detail) from exc

    @api.get("/footage", tags=["footage"], summary="Footage and where each stands (from metrics)")
    async def list_footage(
        _: Viewer,
        credentials: Credentials,
        status_: Annotated[FootageStatus | None, Query(alias="status")] = None,
        series: Annotated[str | None, Query(max_length=100)] = None,
        channel: Annotated[ChannelName | None, Query()] = None,
        date_from: Annotated[date | None, Query(alias="from")] = None,
        date_to: Annotated[date | None, Query(alias="to")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> FootageList:
        params = {
            "status": status_,
            "series": series,
            "channel": channel,
            "from": date_from.isoformat() if date_from else None,
            "to": date_to.isoformat() if date_to else None,
            "limit": limit,
            "offset": offset,
        }
        return await relayed(relay.footage_list(params, credentials))

    @api.get("/footage/{footage_id}", tags=["footage"], summary="One footage through every stage (from metrics)")
    async def footage_status(footage_id: FootageId, _: Viewer, credentials: Credentials) -> FootageView:
        return await relayed(relay.footage(footage_id, credentials))

    # -- the media team's page ------------------------------------------------------------------------------------

    @api.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    vendor = settings.web_vendor_dir or DEFAULT_VENDOR_DIR
    # Mounted even when missing (check_dir=False): the page then says Uppy is not installed instead of failing.
    api.mount("/ui/vendor", StaticFiles(directory=vendor, check_dir=False), name="vendor")
    api.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="ui")

    return api
