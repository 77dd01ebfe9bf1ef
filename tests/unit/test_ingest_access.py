"""Roles and the per-token rate limit (pure parts, no server; the token store: integration/test_ingest_state.py)."""

from __future__ import annotations

from loa_ingest.access import SWEEP_EVERY_S, RateLimiter, full_again_before, role_allows, spend


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


def test_a_bucket_is_full_again_after_burst_over_rate_of_idleness() -> None:
    assert full_again_before(now=1000.0, rate=2.0, burst=3) == 998.5
    # Emptied at 998.5, refilled at 2/s: full at 1000.0, so its answer is a new bucket's.
    assert spend(0.0, 998.5, 1000.0, 2.0, 3.0) == spend(3.0, 1000.0, 1000.0, 2.0, 3.0)
    assert spend(0.0, 998.6, 1000.0, 2.0, 3.0) != spend(3.0, 1000.0, 1000.0, 2.0, 3.0)


def test_the_limiter_in_this_process_forgets_buckets_that_are_full_again() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=3, clock=lambda: now[0])
    limiter.take("once")
    now[0] = SWEEP_EVERY_S - 2.0
    limiter.take("recent")
    assert limiter.sweep(now[0]) == 1
    assert set(limiter._buckets) == {"recent"}
    now[0] = SWEEP_EVERY_S  # the first request after the interval sweeps
    limiter.take("another")
    assert set(limiter._buckets) == {"recent", "another"}
    now[0] += SWEEP_EVERY_S
    limiter.take("another")
    assert set(limiter._buckets) == {"another"}
