"""A transcode job's lease (loa_transcode/lease.py) on the local storage backend; the pure staleness rule."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loa_core.contracts import FootageMetadata, FootageUploaded, Rendition, RenditionsReady, SourceMedia, layout
from loa_core.storage import LocalStorage
from loa_transcode.graph import EncodeOptions
from loa_transcode.lease import Beat, JobLeases, is_free, stale_after
from loa_transcode.pipeline import JobContext, announcement_id, transcode

FOOTAGE = "5c2a7e0d1b9f4e3a8d6c5b4a3f2e1d0c"
EVENT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
# Beats far more often than the stale time: a loaded machine may delay a beat by a second without the lease going
# stale.
FAST = {"heartbeat_s": 0.05, "stale_s": 2.0}


def test_stale_after_a_few_heartbeats_and_never_after_the_session_timeout() -> None:
    assert stale_after(30.0, 3.0) == 15.0
    assert stale_after(6.0, 1.0) == 5.0
    assert stale_after(10.0, 3.0) == 10.0


def test_a_lease_is_free_when_absent_own_or_stale_by_either_clock() -> None:
    other = Beat("other", 3, at=1000.0)
    assert is_free(None, me="me", now=1000.0, unchanged_s=0.0, stale_s=15.0)
    assert is_free(Beat("me", 3, at=1000.0), me="me", now=1000.0, unchanged_s=0.0, stale_s=15.0)
    assert not is_free(other, me="me", now=1010.0, unchanged_s=10.0, stale_s=15.0)
    assert is_free(other, me="me", now=1016.0, unchanged_s=0.0, stale_s=15.0)  # its holder's clock
    # A holder whose clock runs ahead of ours is still seen to stop beating: by how long it stays unchanged.
    assert is_free(other, me="me", now=900.0, unchanged_s=16.0, stale_s=15.0)


def test_beats_read_back_and_garbage_is_no_beat() -> None:
    beat = Beat("host-1-abc", 7, at=1234.5)
    assert Beat.from_bytes(beat.to_bytes()) == beat
    assert Beat.from_bytes(b"{not json") is None
    assert Beat.from_bytes(b'{"holder": "x"}') is None


async def test_a_held_job_waits_until_released_then_the_next_generation_is_taken(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    first, second = JobLeases(storage, me="first", **FAST), JobLeases(storage, me="second", **FAST)
    held = await first.watch(FOOTAGE, EVENT).take()
    assert held is not None
    watch = second.watch(FOOTAGE, EVENT)
    async with held:
        for _ in range(10):  # fresh all along: its holder beats (longer than stale_s in all)
            assert await watch.take() is None
            await asyncio.sleep(0.25)
        assert watch.holder == "first"
        assert storage.list(layout.lease_prefix(FOOTAGE, EVENT)) == [layout.lease_key(FOOTAGE, EVENT, 0)]
    assert storage.list(layout.lease_prefix(FOOTAGE, EVENT)) == []  # released: deleted
    taken = await watch.take()
    assert taken is not None and taken.key == layout.lease_key(FOOTAGE, EVENT, 0)


async def test_a_lease_whose_holder_stopped_beating_is_taken_over(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    dead, alive = JobLeases(storage, me="dead", **FAST), JobLeases(storage, me="alive", **FAST)
    assert await dead.watch(FOOTAGE, EVENT).take() is not None  # never entered: no beat, as a SIGKILLed worker
    watch = alive.watch(FOOTAGE, EVENT)
    assert await watch.take() is None
    await asyncio.sleep(2.2)
    taken = await watch.take()
    assert taken is not None and taken.key == layout.lease_key(FOOTAGE, EVENT, 1)
    # The dead one's lease is left (it goes with the job's staging); the newest generation is the live one's.
    assert await JobLeases(storage, me="third", **FAST).watch(FOOTAGE, EVENT).take() is None


async def test_of_workers_racing_for_a_free_job_one_takes_it(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    watches = [JobLeases(storage, me=f"w{n}", **FAST).watch(FOOTAGE, EVENT) for n in range(6)]
    taken = await asyncio.gather(*(w.take() for w in watches))
    assert sum(t is not None for t in taken) == 1


def _event() -> FootageUploaded:
    return FootageUploaded(
        event_id=EVENT,
        footage_id=FOOTAGE,
        metadata=FootageMetadata(title="Đại hội", channels=("ward",)),
        media=SourceMedia(
            key=layout.source_key(FOOTAGE),  # never stored: a job that started encoding would fail on it
            size_bytes=1,
            sha256="0" * 64,
            duration_s=1.0,
            width=160,
            height=90,
            has_audio=False,
        ),
    )


async def test_a_job_another_worker_holds_is_announced_from_its_manifest_not_encoded(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    event = _event()
    ctx = JobContext(
        storage=storage,
        channels={},
        options=EncodeOptions(),
        workdir_root=tmp_path / "work",
        leases=JobLeases(storage, me="new owner", **FAST),
    )
    other = await JobLeases(storage, me="old owner", **FAST).watch(FOOTAGE, EVENT).take()
    assert other is not None
    ready = RenditionsReady(
        event_id=announcement_id(event),
        footage_id=FOOTAGE,
        metadata=event.metadata,
        renditions=(
            Rendition(
                profile="youtube",
                key=layout.rendition_key(FOOTAGE, "youtube"),
                width=160,
                height=90,
                duration_s=1.0,
                size_bytes=1,
                video_codec="h264",
                audio_codec=None,
            ),
        ),
    )
    async with other:
        job = asyncio.create_task(transcode(event, ctx=ctx))
        await asyncio.sleep(3.0)  # longer than the stale time: the old owner's beats keep its lease fresh
        assert not job.done()
        storage.put_stream(layout.manifest_key(FOOTAGE), [ready.to_bytes()])
        assert await asyncio.wait_for(job, timeout=10) == ready
    assert not (tmp_path / "work").exists()  # no work folder: nothing was started


async def test_a_static_member_restarted_takes_its_own_former_lease_at_once(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    timing = {"session_timeout_s": 30.0, "heartbeat_s": 3.0}
    before = JobLeases.for_group(storage, **timing, instance_id="transcode-0")
    assert await before.watch(FOOTAGE, EVENT).take() is not None  # then SIGKILLed: the lease is fresh and left
    # Another worker, and the same one restarted under a new process name, must wait for it to go stale...
    assert await JobLeases.for_group(storage, **timing).watch(FOOTAGE, EVENT).take() is None
    # ...but the static member restarted under its name takes it over at once.
    after = JobLeases.for_group(storage, **timing, instance_id="transcode-0")
    taken = await after.watch(FOOTAGE, EVENT).take()
    assert taken is not None and taken.key == layout.lease_key(FOOTAGE, EVENT, 1)
