"""The archiver's state on both databases (a SQLite file, PostgreSQL): what a restarted recorder relies on, and a
store made by the previous code adopted with its rows."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from loa_archiver.recorder import SegmentRecorder, sweep
from loa_archiver.store import ArchiveStore, Segment, metadata
from loa_core import db
from loa_core.contracts import ARCHIVER, layout
from loa_core.db import head_revision
from loa_core.segments import UNREAD, SegmentVideo
from loa_core.storage import LocalStorage


def test_state_survives_reopening(database_url: str) -> None:
    store = ArchiveStore.open(database_url)
    key = store.add_stream_key("local", "h" * 64, "Live", ("yt",), ("tt",), ("rtmp://x/y",))
    archive = store.create_archive("rtmp", key.key_id, "local", "Live", ("yt",), ("tt",))
    assert store.next_segment_number(archive.archive_id) == 1
    store.add_segment(archive.archive_id, 1, "live/x/seg00001.ts", 2.0)
    store.add_segment(archive.archive_id, 2, "live/x/seg00002.ts", 2.0)
    mark = store.add_mark(archive.archive_id, 5, 20, "Khai mạc")
    store.close()

    reopened = ArchiveStore.open(database_url)
    assert reopened.active_key_by_hash("h" * 64) == key
    assert reopened.recording_archive_for(key.key_id) == archive
    assert reopened.next_segment_number(archive.archive_id) == 3
    assert reopened.marks(archive.archive_id) == [mark]
    assert reopened.revoke_stream_key(key.key_id) and not reopened.revoke_stream_key(key.key_id)
    assert reopened.active_key_by_hash("h" * 64) is None
    reopened.set_archive_state(archive.archive_id, "announced")
    assert reopened.recording_archive_for(key.key_id) is None
    assert reopened.archives("announced")[0].ended_at is not None


def test_pulls(database_url: str) -> None:
    store = ArchiveStore.open(database_url)
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
    store = ArchiveStore.open(tmp_path / "a.sqlite3")
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
    # Their video could not be read (these are no media): stored all the same, to be read when the live ends.
    assert [s.video for s in store.segments(archive.archive_id)] == [UNREAD, UNREAD]


async def test_a_new_run_numbers_after_a_segment_an_old_ffmpeg_may_still_write(tmp_path: Path) -> None:
    store = ArchiveStore.open(tmp_path / "a.sqlite3")
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


def test_announcements_are_planned_once_and_survive_reopening(database_url: str) -> None:
    store = ArchiveStore.open(database_url)
    archive = store.create_archive("rtmp", "k", "local", "Live", ("local",), ("local",))
    store.plan_announcements(archive.archive_id, [("f1", b'{"a": 1}'), ("f2", b'{"b": "\xc4\x91"}')])
    # A second plan (a finalize redone) would announce other events for the same archive: refused, nothing added.
    with pytest.raises(ValueError, match="already planned"):
        store.plan_announcements(archive.archive_id, [("f3", b"{}")])
    store.mark_announced(archive.archive_id, 0)
    store.close()

    reopened = ArchiveStore.open(database_url)
    planned = reopened.announcements(archive.archive_id)
    assert [(a.footage_id, a.sent) for a in planned] == [("f1", True), ("f2", False)]
    assert planned[1].event == '{"b": "đ"}'.encode()
    assert reopened.announcements("other") == []
    reopened.close()


# The schema the hand-written store made (before Alembic), and a row in every table.
ARCHIVER_TABLES = sorted(set(metadata.tables) - {"leases"})  # leases came with replicas (revision 0003)
PREVIOUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS stream_keys (
    key_id TEXT PRIMARY KEY, channel TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
    archive_channels TEXT NOT NULL, highlight_channels TEXT NOT NULL, restream_urls TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS archives (
    archive_id TEXT PRIMARY KEY, source TEXT NOT NULL, owner_id TEXT NOT NULL, channel TEXT NOT NULL,
    title TEXT NOT NULL, archive_channels TEXT NOT NULL, highlight_channels TEXT NOT NULL,
    footage_id TEXT NOT NULL, state TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS segments (
    archive_id TEXT NOT NULL, n INTEGER NOT NULL, key TEXT NOT NULL, duration_s REAL NOT NULL,
    source_seq INTEGER, PRIMARY KEY (archive_id, n)
);
CREATE TABLE IF NOT EXISTS marks (
    archive_id TEXT NOT NULL, idx INTEGER NOT NULL, start_s REAL NOT NULL, end_s REAL NOT NULL, title TEXT,
    footage_id TEXT NOT NULL, PRIMARY KEY (archive_id, idx)
);
CREATE TABLE IF NOT EXISTS announcements (
    archive_id TEXT NOT NULL, idx INTEGER NOT NULL, footage_id TEXT NOT NULL, event TEXT NOT NULL, sent_at TEXT,
    PRIMARY KEY (archive_id, idx)
);
CREATE TABLE IF NOT EXISTS pulls (
    pull_id TEXT PRIMARY KEY, url TEXT NOT NULL, channel TEXT NOT NULL, title TEXT NOT NULL,
    archive_channels TEXT NOT NULL, highlight_channels TEXT NOT NULL, start_at TEXT NOT NULL, end_at TEXT,
    state TEXT NOT NULL, archive_id TEXT, last_seq INTEGER, error TEXT
);
INSERT INTO stream_keys VALUES
    ('k1', 'local', 'hash1', 'Họp dân', '["yt"]', '["tt"]', '["rtmp://x/y"]', '2026-11-01T08:00:00+00:00', NULL);
INSERT INTO archives VALUES
    ('a1', 'rtmp', 'k1', 'local', 'Họp dân', '["yt"]', '["tt"]', 'f1', 'finalizing', '2026-11-01T08:01:00+00:00',
     '2026-11-01T09:00:00+00:00', NULL),
    ('a2', 'rtmp', 'k1', 'local', 'Họp dân', '["yt"]', '["tt"]', 'f3', 'recording', '2026-11-02T08:01:00+00:00',
     NULL, NULL);
INSERT INTO segments VALUES ('a1', 1, 'live/a1/seg00001.ts', 2.5, NULL), ('a1', 2, 'live/a1/seg00002.ts', 2.0, 7);
INSERT INTO marks VALUES ('a1', 1, 5.0, 20.5, 'Khai mạc', 'f2');
INSERT INTO announcements VALUES ('a1', 0, 'f1', '{"a": 1}', '2026-11-01T09:01:00+00:00'), ('a1', 1, 'f2', '{}', NULL);
INSERT INTO pulls VALUES
    ('p1', 'https://x/a.m3u8', 'local', 'T', '["local"]', '["local"]', '2026-11-01T07:00:00+00:00', NULL, 'done',
     'a1', NULL, NULL);
"""


def test_a_store_made_by_the_previous_code_is_adopted_with_every_row(tmp_path: Path) -> None:
    path = tmp_path / "archiver.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(PREVIOUS_SCHEMA)
    expected = {t: old.execute(f"SELECT * FROM {t}").fetchall() for t in ARCHIVER_TABLES}
    old.close()
    assert all(expected.values())

    store = ArchiveStore.open(path)  # the new code starts on it: adopts it as revision 0001
    store.close()
    adopted = sqlite3.connect(path)
    # Every row kept; stream keys, archives and pulls from before wards are the default ward's (revision 0002).
    warded = {"stream_keys", "archives", "pulls"}
    expected = {t: [(*row, "default") if t in warded else row for row in rows] for t, rows in expected.items()}
    # Archives have no stop asked and no live chunk announced (revision 0003).
    expected["archives"] = [(*row, None, 0) for row in expected["archives"]]
    # Segments were stored without their video read (revision 0004).
    expected["segments"] = [(*row, None, None, None, None, None) for row in expected["segments"]]
    assert {t: adopted.execute(f"SELECT * FROM {t}").fetchall() for t in ARCHIVER_TABLES} == expected
    # The archive recording then holds a lease lapsed at the upgrade: its publisher has the silence timeout to return.
    assert adopted.execute("SELECT name, holder FROM leases").fetchall() == [("archive:a2", "")]
    version = adopted.execute("SELECT version_num FROM alembic_version_archiver").fetchall()
    assert version == [(head_revision(ARCHIVER),)]
    adopted.close()
    store = ArchiveStore.open(path)
    assert store.active_key_by_hash("hash1") is not None and store.next_segment_number("a1") == 3
    assert store.last_source_seq("a1") == 7 and [m.title for m in store.marks("a1")] == ["Khai mạc"]
    assert [(a.footage_id, a.sent) for a in store.announcements("a1")] == [("f1", True), ("f2", False)]
    pull = store.pull("p1")
    assert pull is not None and pull.archive_id == "a1"
    store.close()


def test_a_segment_another_replica_stored_under_the_same_number_is_not_overwritten(tmp_path: Path) -> None:
    """An archiver restarted on its old disk finds a segment its killed run closed; meanwhile another replica went on
    with the live and stored its own segment under that number. The stored one counts."""
    store = ArchiveStore.open(tmp_path / "a.sqlite3")
    storage = LocalStorage(tmp_path / "storage")
    archive = store.create_archive("rtmp", "k", "local", "T", ("local",), ("local",))
    key = layout.segment_key(archive.archive_id, 2)
    storage.put_stream(key, [b"the other replica's segment 2"])
    store.add_segment(archive.archive_id, 2, key, 4.0)
    work = tmp_path / "work"
    work.mkdir()
    (work / "seg00002.ts").write_bytes(b"the killed run's segment 2")
    (work / "list-1.csv").write_text("seg00002.ts,2.0,4.0\n")
    assert sweep(work, archive.archive_id, storage, store) == 0
    with storage.open_read(key) as stored:
        assert stored.read() == b"the other replica's segment 2"
    assert [s.duration_s for s in store.segments(archive.archive_id)] == [4.0]
    assert not (work / "seg00002.ts").exists()


def test_leases_are_held_by_one_replica_until_released_or_lapsed(database_url: str) -> None:
    store = ArchiveStore.open(database_url)
    assert store.take_lease("pull:p1", "a", 30)
    assert not store.take_lease("pull:p1", "b", 30)  # a holds it
    assert store.take_lease("pull:p1", "a", 30)  # ours already: renewed
    assert store.renew_lease("pull:p1", "a", 30) and not store.renew_lease("pull:p1", "b", 30)
    store.release_lease("pull:p1", "b")  # not b's: nothing happens
    assert not store.take_lease("pull:p1", "b", 30)
    store.release_lease("pull:p1", "a")  # lapsed now, kept with when
    lapsed = store.leases()["pull:p1"]
    assert lapsed.holder == "a" and lapsed.expires_at <= datetime.now(UTC)
    assert store.take_lease("pull:p1", "b", 30)
    assert not store.renew_lease("pull:p1", "a", 30)  # a finds it taken over
    store.release_lease("pull:p1", "b", forget=True)
    assert "pull:p1" not in store.leases()
    # A lease that lapsed on its own (its holder died) is taken over.
    assert store.take_lease("archive:x", "dead", 0.05)
    time.sleep(0.1)
    assert store.take_lease("archive:x", "b", 30) and store.leases()["archive:x"].holder == "b"
    store.close()


def test_a_pull_cancelled_on_one_replica_is_not_started_on_another(database_url: str) -> None:
    store = ArchiveStore.open(database_url)
    pull = store.add_pull("https://x/a.m3u8", "local", "T", ("local",), ("local",), datetime.now(UTC), None)
    archive = store.create_archive("hls", pull.pull_id, "local", "T", ("local",), ("local",))
    assert store.cancel_scheduled_pull(pull.pull_id) and not store.cancel_scheduled_pull(pull.pull_id)
    assert not store.start_pull(pull.pull_id, archive.archive_id)
    other = store.add_pull("https://x/b.m3u8", "local", "T", ("local",), ("local",), datetime.now(UTC), None)
    assert store.start_pull(other.pull_id, archive.archive_id) and not store.cancel_scheduled_pull(other.pull_id)
    assert store.request_stop(archive.archive_id)
    found = store.archive(archive.archive_id)
    assert found is not None and found.stop_requested_at is not None
    store.set_archive_state(archive.archive_id, "announced")
    assert not store.request_stop(archive.archive_id)  # not recording any more
    store.close()


def test_segments_stored_before_their_video_was_recorded_are_read_at_the_end(database_url: str) -> None:
    """A store of revision 0003 upgraded with a segment in it: the segment has no video recorded (the end of the
    live reads it); one stored after keeps its video exactly (floats, a segment without video)."""
    engine = db.make_engine(database_url, service=ARCHIVER)
    db.migrate(engine, ARCHIVER, to="0003")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO segments (archive_id, n, key, duration_s, source_seq) VALUES ('a', 1, 'k1', 2.0, NULL)")
        )
    engine.dispose()

    store = ArchiveStore.open(database_url)
    assert store.segments("a") == [Segment(1, "k1", 2.0, None, UNREAD)]
    video = SegmentVideo(0.1 + 0.2, 3.966667, 120, 118, 0.1 * 3 + 3.6)
    store.add_segment("a", 2, "k2", 4.0, video=video)
    store.add_segment("a", 3, "k3", 4.0, video=None)
    store.close()
    reopened = ArchiveStore.open(database_url)
    assert [s.video for s in reopened.segments("a")] == [UNREAD, video, None]
    reopened.close()
