"""The pure decisions behind accounts: the lockout policy, the role ceiling, who needs TOTP, which codes count."""

from __future__ import annotations

import pyotp
import pytest

from loa_core.auth import ROLES, Caller, Role
from loa_ingest.accounts import LockoutPolicy, accepted_step, after_failure, is_locked, may_manage, totp_required
from loa_ingest.signin import safe_next

POLICY = LockoutPolicy(max_failures=5, lockout_s=900.0)


def test_the_fifth_failure_in_a_row_locks_for_the_lockout_and_starts_the_count_again() -> None:
    count, locked_until = 0, None
    for _ in range(4):
        count, locked_until = after_failure(count, 1000.0, POLICY)
        assert locked_until is None
    assert count == 4
    assert after_failure(count, 1000.0, POLICY) == (0, 1900.0)


def test_a_lock_holds_until_its_end() -> None:
    assert not is_locked(None, 1000.0)
    assert is_locked(1900.0, 1899.9)
    assert not is_locked(1900.0, 1900.0)


def caller(role: Role, ward: str | None = "phuong-a") -> Caller:
    return Caller(id="x", role=role, ward=ward, account="a-x")


@pytest.mark.parametrize("role", ROLES)
def test_a_ward_admin_manages_its_own_ward_up_to_its_own_role(role: Role) -> None:
    admin = caller("ward_admin")
    assert may_manage(admin, "phuong-a", role) == (role != "district_admin")
    assert not may_manage(admin, "phuong-b", role)


@pytest.mark.parametrize("role", ROLES)
def test_a_district_admin_manages_every_ward_and_below_it_nobody_manages(role: Role) -> None:
    assert may_manage(caller("district_admin", None), "phuong-b", role)
    lower: tuple[Role, ...] = ("viewer", "editor", "approver")
    for below in lower:
        assert not may_manage(caller(below), "phuong-a", role)


def test_approvers_and_admins_need_a_second_factor() -> None:
    assert [r for r in ROLES if totp_required(r)] == ["approver", "ward_admin", "district_admin"]


def test_a_code_counts_for_its_step_or_one_either_side_and_only_once() -> None:
    secret = pyotp.random_base32()
    totp, now = pyotp.TOTP(secret), 1_800_000_015.0
    step = int(now // 30)
    assert accepted_step(secret, totp.at(now), now, None) == step
    assert accepted_step(secret, totp.at(now - 30), now, None) == step - 1
    assert accepted_step(secret, totp.at(now + 30), now, None) == step + 1
    assert accepted_step(secret, totp.at(now - 60), now, None) is None  # too old
    assert accepted_step(secret, totp.at(now), now, step) is None  # used already
    assert accepted_step(secret, totp.at(now + 30), now, step) == step + 1
    assert accepted_step(secret, "12a456", now, None) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/ui/", "/ui/"),
        ("/channels?x=1", "/channels?x=1"),
        (None, "/ui/"),
        ("https://evil.example/", "/ui/"),
        ("//evil.example/", "/ui/"),
        ("/\\evil.example", "/ui/"),
        ("ui", "/ui/"),
    ],
)
def test_after_signing_in_a_person_only_goes_somewhere_on_this_site(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected
