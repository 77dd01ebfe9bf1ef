"""The publisher's provenance endpoints (loa_core.contracts.provenance), by service token only, like
/internal/credentials: a ward's signing key (made on first use), and the trust list."""

# No `from __future__ import annotations`: FastAPI must resolve the route annotations, which use locals.

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from loa_core.auth import bearer, token_is_valid
from loa_core.contracts.base import WardId
from loa_core.contracts.provenance import PROVENANCE_PATH
from loa_core.provenance import ProvenanceError
from loa_ingest.provenance_keys import ProvenanceKeys
from loa_ingest.settings import IngestSettings

log = logging.getLogger(__name__)
NO_KEY = (
    "Provenance keys cannot be kept: ingest has no LOA_SECRET_KEY to encrypt them with. / Không lưu được khóa ký: "
    "ingest chưa có LOA_SECRET_KEY để mã hóa chúng."
)


def provenance_router(settings: IngestSettings, keys: ProvenanceKeys | None) -> APIRouter:
    router = APIRouter(prefix=PROVENANCE_PATH, include_in_schema=False)

    async def service(given: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> ProvenanceKeys:
        if given is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "A service token is required. / Cần mã dịch vụ.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not token_is_valid(given.credentials, settings.service_tokens()):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "Only Loa's services read signing keys. / Chỉ các dịch vụ của Loa được đọc khóa ký.",
            )
        if keys is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, NO_KEY)
        return keys

    Keys = Annotated[ProvenanceKeys, Depends(service)]

    @router.get("/keys/{ward}")
    async def signing_key(ward: WardId, store: Keys) -> JSONResponse:
        try:
            key = await asyncio.to_thread(store.signing_key, ward)
        except ProvenanceError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        body = key.model_dump(mode="json")
        body["key_pem"] = key.key_pem.get_secret_value()
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @router.get("/trust")
    async def trust(store: Keys) -> JSONResponse:
        listed = await asyncio.to_thread(store.trust_list)
        return JSONResponse(listed.model_dump(mode="json"))

    return router
