"""When a replica takes over an archive no replica holds and finalizes it (loa_archiver/leases.should_finalize), and
what a replica does when it finds a lease of its own taken over."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loa_archiver.leases import Leases, should_finalize
from loa_archiver.store import Archive, ArchiveStore, Lease, Pull

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
SILENCE_S = 30.0
RTMP = Archive(
    archive_id="a1",
    source="rtmp",
    owner_id="k1",
    channel="local",
    title="Live",
    archive_channels=("local",),
    highlight_channels=("local",),
    footage_id="f1",
    state="recording",
    started_at=(NOW - timedelta(minutes=10)).isoformat(),
    ended_at=None,
    error=None,
)
HLS = replace(RTMP, source="hls", owner_id="p1")
PULL = Pull("p1", "https://x/a.m3u8", "local", "T", ("local",), ("local",), RTMP.started_at, None, "running", "a1",
            None, None)  # fmt: skip


def lease(expires_in_s: float) -> Lease:
    return Lease("archive:a1", "replica-a", NOW + timedelta(seconds=expires_in_s))


def test_an_archive_a_live_replica_holds_is_left_to_it() -> None:
    for archive in (RTMP, replace(RTMP, state="finalizing"), replace(RTMP, stop_requested_at=NOW.isoformat())):
        assert not should_finalize(archive, lease(5), None, NOW, SILENCE_S)


def test_a_push_whose_replica_died_waits_the_silence_timeout_for_its_publisher() -> None:
    # The holder died (or the publisher dropped) 10 s ago: the publisher may still reconnect, on any replica.
    assert not should_finalize(RTMP, lease(-10), None, NOW, SILENCE_S)
    assert should_finalize(RTMP, lease(-SILENCE_S), None, NOW, SILENCE_S)
    # A stop was asked: no waiting.
    assert should_finalize(replace(RTMP, stop_requested_at=NOW.isoformat()), lease(-1), None, NOW, SILENCE_S)
    # Never leased (the replica died before it took the lease): idle since it started.
    assert should_finalize(RTMP, None, None, NOW, SILENCE_S)
    assert not should_finalize(replace(RTMP, started_at=NOW.isoformat()), None, None, NOW, SILENCE_S)


def test_a_pull_archive_is_finalized_once_its_pull_no_longer_runs() -> None:
    assert not should_finalize(HLS, None, PULL, NOW, SILENCE_S)  # the pull's own lease decides who resumes it
    for state in ("done", "cancelled", "failed"):
        assert should_finalize(HLS, None, replace(PULL, state=state), NOW, SILENCE_S)
    assert should_finalize(HLS, lease(-1), None, NOW, SILENCE_S)


def test_a_finalize_whose_replica_died_is_redone_at_once_and_finished_ones_never() -> None:
    assert should_finalize(replace(RTMP, state="finalizing"), lease(-1), None, NOW, SILENCE_S)
    for state in ("announced", "empty", "failed"):
        assert not should_finalize(replace(RTMP, state=state), None, None, NOW, SILENCE_S)  # type: ignore[arg-type]


def test_a_replica_that_finds_its_lease_taken_over_stops_what_it_guarded(tmp_path: Path) -> None:
    store = ArchiveStore.open(tmp_path / "a.sqlite3")
    stalled, other = Leases(store, 0.05), Leases(store, 30)
    lost: list[str] = []
    assert stalled.take("pull:p1", lambda: lost.append("p1"))
    assert not stalled.take("pull:p1")  # going on here already
    assert not other.take("pull:p1")
    time.sleep(0.1)  # the stalled replica did not renew in time
    assert other.take("pull:p1")
    stalled.renew()
    assert lost == ["p1"] and not stalled.holds("pull:p1")
    stalled.release("pull:p1")  # no longer its own: the other's lease is untouched
    assert store.leases()["pull:p1"].holder == other.holder
    # A graceful stop lets every lease lapse at once, for the others to take.
    other.release_all()
    assert stalled.take("pull:p1")
    store.close()
