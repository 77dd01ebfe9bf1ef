"""Tokens with roles, hashed at rest, and the per-token rate limit (pure parts, no server)."""

from __future__ import annotations

from pathlib import Path

from loa_ingest.access import RateLimiter, TokenStore, role_allows


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "uploader") and role_allows("uploader", "viewer")
    assert not role_allows("viewer", "uploader") and not role_allows("uploader", "admin")


async def test_created_tokens_authenticate_with_their_role_and_are_stored_hashed(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite3"
    store = TokenStore(db)
    issued = store.create("uploader", "phường 1", created_by="admin")
    who = await store.caller_of(issued.token)
    assert who is not None and who.role == "uploader" and who.id == issued.token_id and who.label == "phường 1"
    # Hashed at rest: the secret itself appears in no file of the database.
    for path in tmp_path.iterdir():
        assert issued.token.encode() not in path.read_bytes()
    assert store.revoke(issued.token_id)
    assert await store.caller_of(issued.token) is None
    assert not store.revoke(issued.token_id)


def test_rate_limiter_allows_a_burst_then_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert 0 < wait <= 0.5
    assert limiter.take("b") == 0.0, "buckets are per token"
    now[0] += 0.5
    assert limiter.take("a") == 0.0
