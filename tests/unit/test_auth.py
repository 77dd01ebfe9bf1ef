"""loa_core.auth's bearer dependency: static tokens, role tokens (ingest's answer stubbed) and the role order."""

# No `from __future__ import annotations`: FastAPI must resolve the route's annotation, which uses a local.
import ssl
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient

from loa_core.auth import (
    ROLES,
    Caller,
    IngestRoles,
    Role,
    bearer_dependency,
    check_authorization,
    hash_token,
    parse_role,
    role_allows,
)

STATIC = "static-token"


class KnownRoles(IngestRoles):
    """What ingest's /whoami would answer, without ingest (the real exchange is in
    tests/integration/test_role_tokens.py)."""

    def __init__(self, roles: dict[str, Role]) -> None:
        super().__init__("http://ingest.invalid")
        self.roles = roles

    async def caller_of(self, token: str) -> Caller | None:
        role = self.roles.get(token)
        return None if role is None else Caller(id=f"id-of-{role}", role=role)


def client_needing(need: Role) -> TestClient:
    roles = KnownRoles({"viewer-token": "viewer", "editor-token": "editor", "admin-token": "district_admin"})
    require = bearer_dependency(lambda: frozenset({hash_token(STATIC)}), roles, need=need)
    api = FastAPI()

    @api.get("/thing")
    async def thing(who: Annotated[Caller, Depends(require)]) -> dict[str, str]:
        return {"who": who.id, "role": who.role}

    return TestClient(api)


def status_for(client: TestClient, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/thing", headers=headers).status_code


def test_role_order() -> None:
    assert ROLES == ("viewer", "editor", "approver", "ward_admin", "district_admin")
    assert role_allows("district_admin", "viewer") and role_allows("editor", "editor")
    assert not role_allows("viewer", "editor") and not role_allows("ward_admin", "district_admin")


def test_legacy_role_names_are_read_as_todays() -> None:
    assert parse_role("uploader") == "editor" and parse_role("admin") == "district_admin"
    assert parse_role("approver") == "approver" and parse_role("root") is None and parse_role(3) is None


def test_only_a_district_admin_crosses_wards() -> None:
    ward_admin = Caller(id="a", role="ward_admin", ward="phuong-1")
    assert ward_admin.sees("phuong-1") and not ward_admin.sees("phuong-2") and ward_admin.ward_filter() == "phuong-1"
    district = Caller(id="d", role="district_admin")
    assert district.sees("phuong-1") and district.sees("phuong-2") and district.ward_filter() is None


@pytest.mark.parametrize(
    ("need", "expected"),
    [
        ("viewer", {"viewer-token": 200, "editor-token": 200, "admin-token": 200}),
        ("editor", {"viewer-token": 403, "editor-token": 200, "admin-token": 200}),
        ("district_admin", {"viewer-token": 403, "editor-token": 403, "admin-token": 200}),
    ],
)
def test_a_role_token_needs_the_role_and_static_tokens_pass(need: Role, expected: dict[str, int]) -> None:
    client = client_needing(need)
    assert {token: status_for(client, token) for token in expected} == expected
    assert status_for(client, STATIC) == 200
    assert status_for(client, "unknown-token") == 401
    assert status_for(client, None) == 401


def test_a_low_role_is_told_what_it_needs() -> None:
    answer = client_needing("district_admin").get("/thing", headers={"Authorization": "Bearer viewer-token"})
    assert answer.status_code == 403
    assert answer.json()["detail"].startswith(
        "This needs the district_admin role or higher; this token has the viewer role."
    )


def test_the_dependency_returns_a_short_id_not_the_token() -> None:
    answer = client_needing("viewer").get("/thing", headers={"Authorization": f"Bearer {STATIC}"})
    assert answer.json() == {"who": hash_token(STATIC)[:12], "role": "district_admin"}
    answer = client_needing("viewer").get("/thing", headers={"Authorization": "Bearer editor-token"})
    assert answer.json() == {"who": "id-of-editor", "role": "editor"}


@pytest.mark.parametrize(
    "header", [f"Bearer {STATIC}", f"bearer {STATIC}", f"Basic {STATIC}", "Bearer", "Bearer ", STATIC, "", None]
)
async def test_a_raw_header_is_read_as_the_dependency_reads_it(header: str | None) -> None:
    """The publisher's Faust view checks the raw header; it must let in exactly what FastAPI's edges let in."""
    headers = {"Authorization": header} if header is not None else {}
    expected = client_needing("viewer").get("/thing", headers=headers).status_code
    try:
        await check_authorization(header, frozenset({hash_token(STATIC)}), None, need="viewer")
        got = 200
    except HTTPException as refused:
        got = refused.status_code
    assert got == expected


async def test_checking_role_tokens_builds_the_tls_context_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TLS context costs ~85 ms to build (it loads the CA bundle): one per check made every relayed status request
    of a ward's page ~175 ms. Counted here, not timed (port 9 refuses: each check is a 503, after its client)."""
    built: list[object] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    roles = IngestRoles("http://127.0.0.1:9")
    for _ in range(3):
        with pytest.raises(HTTPException) as unreachable:
            await roles.caller_of("a-role-token")
        assert unreachable.value.status_code == 503
    assert len(built) <= 1
