"""Roles and the per-token rate limit (pure parts, no server; the token store: integration/test_ingest_state.py)."""

from __future__ import annotations

from loa_ingest.access import RateLimiter, role_allows


def test_roles_are_ordered() -> None:
    assert role_allows("district_admin", "editor") and role_allows("editor", "viewer")
    assert not role_allows("viewer", "editor") and not role_allows("editor", "district_admin")


def test_rate_limiter_allows_a_burst_then_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert 0 < wait <= 0.5
    assert limiter.take("b") == 0.0, "buckets are per token"
    now[0] += 0.5
    assert limiter.take("a") == 0.0
