"""Subtitles for an upload: the editor sends the SRT file first (POST /subtitles, the file as the body), ingest
checks it (loa_core.subtitles.check_srt: UTF-8, timings, Vietnamese kept as written) and stores it under
layout.subtitles_key; the upload then names that key in its `subtitles_key` field (loa_ingest.metadata)."""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from loa_core.auth import Caller, Role
from loa_core.contracts import WardId, layout
from loa_core.storage import Storage
from loa_core.subtitles import MAX_SRT_BYTES, InvalidSubtitles, check_srt
from loa_ingest.metadata import upload_ward
from loa_ingest.validation import RejectedUpload

Requires = Callable[[Role], Callable[..., Awaitable[Caller]]]


class StoredSubtitles(BaseModel):
    subtitles_key: str  # what the upload names in its `subtitles_key` field
    cues: int
    duration_s: float  # where the last cue ends


def subtitles_router(storage: Storage, requires: Requires) -> APIRouter:
    router = APIRouter(tags=["footage"])
    Uploader = Annotated[Caller, Depends(requires("editor"))]

    @router.post(
        "/subtitles",
        status_code=201,
        summary="Check and store an SRT subtitle file (the body) for an upload of your ward",
        openapi_extra={"requestBody": {"content": {"application/x-subrip": {"schema": {"type": "string"}}}}},
    )
    async def store_subtitles(
        request: Request, who: Uploader, ward: Annotated[WardId | None, Query()] = None
    ) -> StoredSubtitles:
        try:
            owner = upload_ward({"ward": ward} if ward else {}, who)
        except RejectedUpload as exc:
            raise HTTPException(422, str(exc)) from None
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_SRT_BYTES:
            raise HTTPException(413, f"The subtitle file is larger than 2 MB. / Tệp phụ đề quá lớn ({length} byte).")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_SRT_BYTES:
                raise HTTPException(413, "The subtitle file is larger than 2 MB. / Tệp phụ đề quá lớn.")
        try:
            cues = check_srt(bytes(data))
        except InvalidSubtitles as exc:
            raise HTTPException(422, str(exc)) from None
        key = layout.subtitles_key(owner, hashlib.sha256(data).hexdigest())
        await asyncio.to_thread(storage.put_stream, key, [bytes(data)])
        return StoredSubtitles(subtitles_key=key, cues=len(cues), duration_s=max(c.end_s for c in cues))

    return router
