"""The HTTP side of the metrics service: status per footage, health and /metrics."""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path

from loa_core.auth import bearer_dependency
from loa_core.observability import health_router
from loa_metrics.projection import Projection
from loa_metrics.settings import MetricsSettings


def create_api(settings: MetricsSettings, projection: Projection) -> FastAPI:
    api = FastAPI(title="Loa metrics", version="0.1.0")
    require_token = bearer_dependency(settings.token_hashes)

    async def ready() -> str | None:
        return None

    api.include_router(health_router(ready))

    @api.get("/footage/{footage_id}")
    async def get_footage(
        footage_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
        _: Annotated[str, Depends(require_token)],
    ) -> dict[str, Any]:
        view = projection.footage(footage_id)
        if view is None:
            raise HTTPException(404, f"No footage {footage_id} has been seen yet. / Chưa thấy footage này.")
        return view

    return api
