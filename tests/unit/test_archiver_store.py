"""The archiver's SQLite state: what a restarted recorder relies on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from loa_archiver.recorder import SegmentRecorder, sweep
from loa_archiver.store import ArchiveStore
from loa_core.contracts import layout
from loa_core.storage import LocalStorage


def test_state_survives_reopening(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "a.sqlite3")
    key = store.add_stream_key("local", "h" * 64, "Live", ("yt",), ("tt",), ("rtmp://x/y",))
    archive = store.create_archive("rtmp", key.key_id, "local", "Live", ("yt",), ("tt",))
    assert store.next_segment_number(archive.archive_id) == 1
    store.add_segment(archive.archive_id, 1, "live/x/seg00001.ts", 2.0)
    store.add_segment(archive.archive_id, 2, "live/x/seg00002.ts", 2.0)
    mark = store.add_mark(archive.archive_id, 5, 20, "Khai mạc")
    store.close()

    reopened = ArchiveStore(tmp_path / "a.sqlite3")
    assert reopened.active_key_by_hash("h" * 64) == key
    assert reopened.recording_archive_for(key.key_id) == archive
    assert reopened.next_segment_number(archive.archive_id) == 3
    assert reopened.marks(archive.archive_id) == [mark]
    assert reopened.revoke_stream_key(key.key_id) and not reopened.revoke_stream_key(key.key_id)
    assert reopened.active_key_by_hash("h" * 64) is None
    reopened.set_archive_state(archive.archive_id, "announced")
    assert reopened.recording_archive_for(key.key_id) is None
    assert reopened.archives("announced")[0].ended_at is not None


def test_pulls(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "a.sqlite3")
    pull = store.add_pull("https://x/a.m3u8", "local", "T", ("local",), ("local",), datetime.now(UTC), None)
    assert pull.state == "scheduled" and store.pulls("scheduled") == [pull]
    archive = store.create_archive("hls", pull.pull_id, "local", "T", ("local",), ("local",))
    store.set_pull_state(pull.pull_id, "running", archive.archive_id)
    store.add_segment(archive.archive_id, 1, "k1", 2.0, source_seq=40)
    store.add_segment(archive.archive_id, 2, "k2", 2.0, source_seq=41)
    assert store.last_source_seq(archive.archive_id) == 41
    store.set_pull_state(pull.pull_id, "failed", error="refused")
    found = store.pull(pull.pull_id)
    assert found is not None and (found.state, found.archive_id, found.error) == (
        "failed",
        archive.archive_id,
        "refused",
    )


def test_sweep_stores_closed_segments_left_by_a_killed_run(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "a.sqlite3")
    storage = LocalStorage(tmp_path / "storage")
    archive = store.create_archive("rtmp", "k", "local", "T", ("local",), ("local",))
    work = tmp_path / "work"
    work.mkdir()
    (work / "seg00001.ts").write_bytes(b"one")
    (work / "seg00002.ts").write_bytes(b"two")
    (work / "seg00003.ts").write_bytes(b"partial, not listed yet")
    (work / "list-1.csv").write_text("seg00001.ts,0.0,2.0\nseg00002.ts,2.0,4.0\n")
    assert sweep(work, archive.archive_id, storage, store) == 2
    assert sweep(work, archive.archive_id, storage, store) == 0
    assert storage.list(layout.live_prefix(archive.archive_id)) == [
        layout.segment_key(archive.archive_id, 1),
        layout.segment_key(archive.archive_id, 2),
    ]
    assert (work / "seg00003.ts").exists() and not (work / "seg00001.ts").exists()
    assert store.next_segment_number(archive.archive_id) == 3


async def test_a_new_run_numbers_after_a_segment_an_old_ffmpeg_may_still_write(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "a.sqlite3")
    storage = LocalStorage(tmp_path / "storage")
    archive = store.create_archive("rtmp", "k", "local", "T", ("local",), ("local",))
    for n in (1, 2, 3):
        store.add_segment(archive.archive_id, n, f"k{n}", 2.0)
    work = tmp_path / "work"
    work.mkdir()
    (work / "seg00004.ts").write_bytes(b"being finished by the previous run's ffmpeg")
    recorder = SegmentRecorder(archive.archive_id, work, storage, store, 2.0)
    await recorder.start()
    try:
        assert recorder.start_number == 5
    finally:
        await recorder.finish()
    assert (work / "seg00004.ts").read_bytes().startswith(b"being finished")  # untouched


def test_announcements_are_planned_once_and_survive_reopening(tmp_path: Path) -> None:
    store = ArchiveStore(tmp_path / "a.sqlite3")
    archive = store.create_archive("rtmp", "k", "local", "Live", ("local",), ("local",))
    store.plan_announcements(archive.archive_id, [("f1", b'{"a": 1}'), ("f2", b'{"b": "\xc4\x91"}')])
    # A second plan (a finalize redone) would announce other events for the same archive: refused, nothing added.
    with pytest.raises(ValueError, match="already planned"):
        store.plan_announcements(archive.archive_id, [("f3", b"{}")])
    store.mark_announced(archive.archive_id, 0)
    store.close()

    reopened = ArchiveStore(tmp_path / "a.sqlite3")
    planned = reopened.announcements(archive.archive_id)
    assert [(a.footage_id, a.sent) for a in planned] == [("f1", True), ("f2", False)]
    assert planned[1].event == '{"b": "đ"}'.encode()
    assert reopened.announcements("other") == []
