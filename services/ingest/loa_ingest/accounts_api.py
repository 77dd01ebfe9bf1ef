"""The accounts API: a ward admin lists, creates and disables its own ward's accounts, up to its own role; a district
admin manages every ward's accounts and creates wards. GET /session gives the page its CSRF token."""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from loa_core.auth import Caller, Role
from loa_core.contracts import DEFAULT_WARD, WardId
from loa_ingest.accounts import AccountRefused, People, Session, may_manage, new_password

NOT_YOURS = (
    "A ward admin manages the accounts of its own ward, up to its own role; wards are a district admin's. "
    "/ Quản trị phường chỉ quản lý tài khoản của phường mình, không vượt quyền của mình; phường do quản trị quận "
    "quản lý."
)
NO_ACCOUNT = "No such active account. / Không tìm thấy tài khoản đang hoạt động."


# A name people read: any text but control characters (which PostgreSQL's text refuses, and no name needs).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class WardRequest(BaseModel):
    id: WardId
    display_name: str = Field(min_length=1, max_length=200, pattern=PRINTABLE)


class AccountRequest(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    display_name: str = Field(default="", max_length=200, pattern=PRINTABLE)
    role: Role
    # The ward the account belongs to: the caller's own by default (a district admin names any).
    ward: WardId | None = None
    # None: a random one is made and shown once in the answer.
    password: str | None = Field(default=None, max_length=1024)


def accounts_router(
    people: People,
    requires: Callable[[Role], Callable[..., Awaitable[Caller]]],
    session_of: Callable[[Request], Session | None],
) -> APIRouter:
    router = APIRouter(tags=["accounts"])
    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    WardAdmin = Annotated[Caller, Depends(requires("ward_admin"))]
    DistrictAdmin = Annotated[Caller, Depends(requires("district_admin"))]

    # The pages' plumbing (cookie only, like /signin), so not in the API's schema.
    @router.get("/session", include_in_schema=False)
    async def current_session(request: Request) -> dict[str, Any]:
        session = session_of(request)
        if session is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not signed in. / Chưa đăng nhập.")
        return {**session.account.public(), "csrf_token": session.csrf_token, "expires_at": session.expires_at}

    @router.get("/wards", summary="The wards (a ward's people: their own)")
    async def list_wards(who: Viewer) -> list[dict[str, Any]]:
        return people.wards(who.ward_filter())

    @router.post("/wards", status_code=201, summary="Create a ward (district admins)")
    async def create_ward(_: DistrictAdmin, body: Annotated[WardRequest, Body()]) -> dict[str, Any]:
        if not people.create_ward(body.id, body.display_name):
            raise HTTPException(status.HTTP_409_CONFLICT, f"The ward {body.id!r} exists. / Phường {body.id!r} đã có.")
        return {"id": body.id, "display_name": body.display_name}

    @router.get("/accounts", summary="The accounts (ward admins: their ward's)")
    async def list_accounts(who: WardAdmin, ward: Annotated[WardId | None, Query()] = None) -> list[dict[str, Any]]:
        if ward is not None and not who.sees(ward):
            raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_YOURS)
        return [a.public() for a in people.list(ward or who.ward_filter())]

    @router.post(
        "/accounts", status_code=201, summary="Create an account (ward admins, in their ward, up to their role)"
    )
    async def create_account(who: WardAdmin, body: Annotated[AccountRequest, Body()]) -> dict[str, Any]:
        ward = body.ward or who.ward or DEFAULT_WARD  # as for tokens: a static (wardless) admin's default
        if not may_manage(who, ward, body.role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_YOURS)
        password = body.password or new_password()
        try:
            # argon2 off the event loop (see signin.py).
            account = await asyncio.to_thread(
                people.create, body.username, body.display_name, ward, body.role, password, who.id
            )
        except AccountRefused as refused:
            code = status.HTTP_409_CONFLICT if refused.conflict else status.HTTP_422_UNPROCESSABLE_CONTENT
            raise HTTPException(code, str(refused)) from None
        answer = account.public()
        if body.password is None:
            answer["password"] = password  # shown once, never stored in clear
        return answer

    @router.post("/accounts/{account_id}/disable", summary="Disable an account; its tokens and sessions end with it")
    async def disable_account(account_id: str, who: WardAdmin) -> dict[str, Any]:
        account = people.get(account_id)
        if account is None or account.disabled_at is not None or not who.sees(account.ward):
            raise HTTPException(status.HTTP_404_NOT_FOUND, NO_ACCOUNT)
        if not may_manage(who, account.ward, account.role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, NOT_YOURS)
        if account.id == who.account:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "You cannot disable your own account. / Bạn không thể tự vô hiệu hóa tài khoản của mình.",
            )
        if not people.disable(account_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, NO_ACCOUNT)
        disabled = people.get(account_id)
        assert disabled is not None
        return disabled.public()

    return router
