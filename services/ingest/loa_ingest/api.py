"""Ingest's HTTP edge: thin routes over `IngestService`."""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from typing import Annotated

from fastapi import Depends, FastAPI, File, Form, HTTPException, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from loa_core.auth import bearer_dependency
from loa_core.channels import Channel
from loa_core.contracts import FootageMetadata
from loa_core.observability import health_router
from loa_ingest.service import CHUNK, IngestService, SpooledUpload
from loa_ingest.validation import RejectedUpload, clean_text, split_list


def create_api(service: IngestService, channels: dict[str, Channel]) -> FastAPI:
    api = FastAPI(title="Loa ingest", version="0.1.0")
    require_token = bearer_dependency(service.settings.token_hashes)

    async def ready() -> str | None:
        return None

    api.include_router(health_router(ready))

    @api.exception_handler(RejectedUpload)
    async def rejected(_: object, exc: RejectedUpload) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @api.post("/footage", status_code=status.HTTP_201_CREATED)
    async def upload_footage(
        _: Annotated[str, Depends(require_token)],
        file: Annotated[UploadFile, File(description="The video file")],
        title: Annotated[str, Form(max_length=1000)],
        description: Annotated[str, Form(max_length=20000)] = "",
        tags: Annotated[list[str] | None, Form()] = None,
        series: Annotated[str | None, Form(max_length=1000)] = None,
        channels_: Annotated[list[str] | None, Form(alias="channels")] = None,
    ) -> JSONResponse:
        metadata = _metadata(title, description, tags or [], series, channels_ or [], channels)
        spool = SpooledUpload(service.spool_dir, service.settings.max_upload_bytes)
        try:
            while chunk := await file.read(CHUNK):
                spool.write(chunk)
            sha256 = spool.close()
            accepted = await service.accept(spool.path, sha256, spool.size, metadata)
        finally:
            spool.discard()
        body = {"footage_id": accepted.footage_id, "duplicate": accepted.duplicate}
        return JSONResponse(body, status_code=status.HTTP_200_OK if accepted.duplicate else status.HTTP_201_CREATED)

    return api


def _metadata(
    title: str,
    description: str,
    tags: list[str],
    series: str | None,
    channel_names: list[str],
    channels: dict[str, Channel],
) -> FootageMetadata:
    names = split_list(channel_names) or list(channels)[:1]
    unknown = [n for n in names if n not in channels]
    if unknown:
        raise HTTPException(
            422,
            f"Unknown channel(s): {', '.join(unknown)}. Known: {', '.join(channels)}. / Kênh không tồn tại.",
        )
    try:
        return FootageMetadata(
            title=clean_text(title, "title", 200),
            description=clean_text(description, "description", 5000),
            tags=tuple(clean_text(t, "tag", 100) for t in split_list(tags)),
            series=clean_text(series, "series", 100) if series else None,
            channels=tuple(dict.fromkeys(names)),
        )
    except ValidationError as exc:
        raise RejectedUpload("; ".join(e["msg"] for e in exc.errors())) from exc
