"""The HTTP side of verification: POST /verify (no sign-in: it answers only what the ward made public, and the public
page in ingest is where people reach it, rate-limited) and GET /verifications, the count the report upward reads."""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from loa_core.auth import Caller
from loa_core.contracts import WardId
from loa_core.contracts.verification import PublicPosts, Verification, VerifyRequest
from loa_metrics.verification import Verifications


def verification_router(room: Verifications, require_token: Callable[..., Awaitable[Caller]]) -> APIRouter:
    router = APIRouter()
    Viewer = Annotated[Caller, Depends(require_token)]

    @router.post("/verify", summary="Is this file (its sha256, fingerprint, manifest state) a post of a ward?")
    async def verify(request: VerifyRequest) -> Verification:
        try:
            return await asyncio.to_thread(room.check, request)
        except ValueError as exc:
            raise HTTPException(
                422, f"The fingerprint is damaged: {exc}. / Dấu vân tay video bị hỏng, không đọc được."
            ) from exc

    @router.get("/verify/posts", summary="The newest posts published, with their seal (no sign-in: public facts)")
    async def public_posts(
        ward: Annotated[WardId | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> PublicPosts:
        return await asyncio.to_thread(room.public_posts, ward, limit)

    @router.get("/verifications", summary="Checks per day, ward, answer and origin (the caller's ward)")
    async def verifications(
        who: Viewer,
        date_from: Annotated[date | None, Query(alias="from")] = None,
        date_to: Annotated[date | None, Query(alias="to")] = None,
    ) -> dict[str, Any]:
        return await asyncio.to_thread(room.counts, who.ward_filter(), date_from, date_to)

    return router
