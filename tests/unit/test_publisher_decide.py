"""The post's state machine, as a table: what the ledger says and the time in, one action out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loa_publisher.decide import (
    DISCONNECTED,
    Action,
    Announce,
    Fail,
    GiveUp,
    Hold,
    Leave,
    Post,
    Seen,
    after_transient,
    decide,
)
from loa_publisher.ledger import PostState

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
FRESH, QUIET = NOW - MIN, NOW - 10 * MIN  # heartbeats against a 5-minute abandoned_after


def act(
    seen: Seen,
    *,
    platform: str = "tiktok",
    publish_at: datetime | None = None,
    has_adapter: bool = True,
    connected: bool = True,
    shared: bool = False,
) -> Action:
    return decide(
        seen,
        now=NOW,
        platform=platform,
        publish_at=publish_at,
        has_adapter=has_adapter,
        connected=connected,
        shared_ledger=shared,
        abandoned_after=5 * MIN,
    )


@pytest.mark.parametrize(
    ("seen", "options", "expected"),
    [
        (Seen(), {}, Post(claim=False)),  # never seen: post
        (Seen(PostState.POSTED), {"publish_at": NOW + MIN}, Announce()),  # posted: announce, never again
        (Seen(PostState.FAILED), {}, Leave("failed: waits for a person (`loa retry`)")),
        # In flight on a shared ledger: another worker's while its heartbeat is fresh, reclaimable once quiet.
        (Seen(PostState.UPLOADING, updated_at=FRESH), {"shared": True}, Leave("another worker is posting it")),
        (Seen(PostState.PENDING, updated_at=FRESH), {"shared": True}, Leave("another worker is posting it")),
        (Seen(PostState.UPLOADING, updated_at=QUIET), {"shared": True}, Post(claim=False)),
        # In flight on an embedded ledger: ours from before a crash, resumed at once.
        (Seen(PostState.UPLOADING, updated_at=FRESH), {}, Post(claim=False)),
        (Seen(PostState.SCHEDULED, due_at=NOW + MIN), {}, Leave(f"held until {(NOW + MIN).isoformat()}")),
        (Seen(PostState.SCHEDULED, due_at=NOW), {}, Post(claim=True)),  # due: claimed first
        (Seen(), {"publish_at": NOW + MIN}, Hold(NOW + MIN)),  # a publish time ahead: held
        (Seen(), {"publish_at": NOW + MIN, "platform": "youtube"}, Post(claim=False)),  # YouTube schedules itself
        (Seen(), {"publish_at": NOW - MIN}, Post(claim=False)),  # a publish time passed: at once
        (Seen(), {"has_adapter": False}, Fail("no adapter for platform 'tiktok'")),
        # A channel that is not connected: the post waits, due at once (every tick asks again), with the reason.
        (Seen(), {"connected": False}, Hold(NOW, reason=DISCONNECTED)),
        (Seen(PostState.UPLOADING, updated_at=FRESH), {"connected": False}, Hold(NOW, reason=DISCONNECTED)),
        (Seen(PostState.SCHEDULED, due_at=NOW), {"connected": False}, Hold(NOW, reason=DISCONNECTED)),
        # Held for it already: left as it is while the channel stays disconnected, posted once it is connected.
        (Seen(PostState.SCHEDULED, due_at=QUIET, reason=DISCONNECTED), {"connected": False}, Leave(DISCONNECTED)),
        (Seen(PostState.SCHEDULED, due_at=QUIET, reason=DISCONNECTED), {}, Post(claim=True)),
        # A publish time ahead comes first: held until then, the connection asked about at that time.
        (Seen(), {"connected": False, "publish_at": NOW + MIN}, Hold(NOW + MIN)),
        (
            Seen(PostState.SCHEDULED, due_at=NOW + MIN),
            {"connected": False},
            Leave(f"held until {(NOW + MIN).isoformat()}"),
        ),
        # Posted or failed before it was disconnected: as always.
        (Seen(PostState.POSTED), {"connected": False}, Announce()),
        (Seen(PostState.FAILED), {"connected": False}, Leave("failed: waits for a person (`loa retry`)")),
        # Another worker's upload in flight is still its own.
        (
            Seen(PostState.UPLOADING, updated_at=FRESH),
            {"shared": True, "connected": False},
            Leave("another worker is posting it"),
        ),
    ],
)
def test_decide(seen: Seen, options: dict[str, object], expected: Action) -> None:
    assert act(seen, **options) == expected  # type: ignore[arg-type]


def test_transient_failures_are_held_until_they_have_lasted_too_long() -> None:
    hold, give_up = 5 * MIN, timedelta(hours=24)
    first = after_transient(None, now=NOW, hold=hold, give_up_after=give_up)
    assert first == Hold(NOW + hold, failing_since=NOW)  # the run of failures starts now
    later = NOW + timedelta(hours=23)
    assert after_transient(NOW, now=later, hold=hold, give_up_after=give_up) == Hold(later + hold, failing_since=NOW)
    end = NOW + give_up
    assert after_transient(NOW, now=end, hold=hold, give_up_after=give_up) == GiveUp(NOW)


def test_a_publisher_on_a_ledger_of_its_own_must_be_alone_in_its_group() -> None:
    from loa_publisher.decide import replica_conflict

    assert replica_conflict(shared_ledger=False, owned=6, partitions=6) is None  # alone: it owns every partition
    assert replica_conflict(shared_ledger=True, owned=3, partitions=6) is None  # replicas on one PostgreSQL ledger
    for owned in (0, 3):  # another member holds the rest
        reason = replica_conflict(shared_ledger=False, owned=owned, partitions=6)
        assert reason is not None and "LOA_DATABASE_URL" in reason and "đăng hai lần" in reason
