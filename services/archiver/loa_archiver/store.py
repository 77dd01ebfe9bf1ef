"""The archiver's durable state: stream keys, pull requests, archives and their segments.

Every stored segment is recorded here in the same step that makes it count, so a recorder killed with SIGKILL
and restarted knows exactly which segments the archive has and goes on numbering after the last one.

SQLite (`<data_dir>/archiver.sqlite3`) by default, PostgreSQL (`LOA_DATABASE_URL`, schema `archiver`) when replicas
share it (loa_core.db's pattern; the schema's history is loa_archiver/migrations).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Executable,
    Float,
    Integer,
    MetaData,
    Row,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)

from loa_core import db
from loa_core.contracts import ARCHIVER, DEFAULT_WARD, new_id
from loa_core.segments import UNREAD, RecordedVideo, SegmentVideo, Unread

ArchiveState = Literal["recording", "finalizing", "announced", "empty", "failed"]
PullState = Literal["scheduled", "running", "done", "cancelled", "failed"]

# The newest revision of the schema (loa_archiver/migrations/versions).
metadata = MetaData()
stream_keys = Table(
    "stream_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("archive_channels", Text, nullable=False),
    Column("highlight_channels", Text, nullable=False),
    Column("restream_urls", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("revoked_at", Text),
    Column("ward", Text, nullable=False, server_default=DEFAULT_WARD),  # its channel's ward
)
archives = Table(
    "archives",
    metadata,
    Column("archive_id", Text, primary_key=True),
    Column("source", Text, nullable=False),
    Column("owner_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("archive_channels", Text, nullable=False),
    Column("highlight_channels", Text, nullable=False),
    Column("footage_id", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("started_at", Text, nullable=False),
    Column("ended_at", Text),
    Column("error", Text),
    Column("ward", Text, nullable=False, server_default=DEFAULT_WARD),  # its stream key's or pull's ward
    # A stop asked through any replica's API; the replica recording into the archive sees it and ends the stream.
    Column("stop_requested_at", Text),
    # Live chunks announced so far (loa_archiver/live.py), so the replica that takes the archive over goes on.
    Column("live_chunks_sent", Integer, nullable=False, server_default="0"),
)
segments = Table(
    "segments",
    metadata,
    Column("archive_id", Text, primary_key=True),
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("key", Text, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("source_seq", Integer),
    # Its video as read when it was stored (loa_core.segments.SegmentVideo; video_frames 0: it has none). NULL: not
    # read then (stored by an older release, or the read failed), so the end of the live reads it.
    Column("video_first_s", Float),
    Column("video_last_s", Float),
    Column("video_frames", Integer),
    Column("video_steady", Integer),
    Column("video_steady_s", Float),
)
marks = Table(
    "marks",
    metadata,
    Column("archive_id", Text, primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("start_s", Float, nullable=False),
    Column("end_s", Float, nullable=False),
    Column("title", Text),
    Column("footage_id", Text, nullable=False),
)
# What an archive's finalize announces, written in one transaction once the archive is assembled and stored;
# sent_at is set as soon as the broker has acknowledged the event. A finalize redone (after a failure, a stop
# or a crash) sends only what has no sent_at, so each footage is announced once.
announcements = Table(
    "announcements",
    metadata,
    Column("archive_id", Text, primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("footage_id", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("sent_at", Text),
)
# Which replica holds what, until when (loa_archiver/leases.py): "stream:<key id>" while a publish is live,
# "archive:<id>" while a replica records into the archive or finalizes it, "pull:<id>" while a replica runs the pull.
# A lease released stays as lapsed (expires_at: when), so the silence timeout counts from then.
leases = db.lease_table(metadata)
# pulls.last_seq is not used: a pull resumes after MAX(segments.source_seq) of its archive, which is written in
# the same statement as the segment itself.
pulls = Table(
    "pulls",
    metadata,
    Column("pull_id", Text, primary_key=True),
    Column("url", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("archive_channels", Text, nullable=False),
    Column("highlight_channels", Text, nullable=False),
    Column("start_at", Text, nullable=False),
    Column("end_at", Text),
    Column("state", Text, nullable=False),
    Column("archive_id", Text),
    Column("last_seq", Integer),
    Column("error", Text),
    Column("ward", Text, nullable=False, server_default=DEFAULT_WARD),  # its channel's ward
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def lease_time(at: datetime) -> str:
    """A lease's time as text that sorts as time on both databases (always with microseconds, always UTC)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


@dataclass(frozen=True)
class StreamKey:
    key_id: str
    channel: str
    title: str
    archive_channels: tuple[str, ...]
    highlight_channels: tuple[str, ...]
    restream_urls: tuple[str, ...]
    created_at: str
    revoked_at: str | None
    ward: str = DEFAULT_WARD


@dataclass(frozen=True)
class Archive:
    archive_id: str
    source: Literal["rtmp", "hls"]
    owner_id: str  # the stream key id (rtmp) or the pull id (hls)
    channel: str
    title: str
    archive_channels: tuple[str, ...]
    highlight_channels: tuple[str, ...]
    footage_id: str
    state: ArchiveState
    started_at: str
    ended_at: str | None
    error: str | None
    ward: str = DEFAULT_WARD
    stop_requested_at: str | None = None
    live_chunks_sent: int = 0


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    expires_at: datetime


@dataclass(frozen=True)
class Segment:
    n: int
    key: str
    duration_s: float
    source_seq: int | None
    video: RecordedVideo = UNREAD  # as read when it was stored (None: it has no video)


@dataclass(frozen=True)
class Mark:
    idx: int
    start_s: float
    end_s: float
    title: str | None
    footage_id: str


@dataclass(frozen=True)
class Announcement:
    idx: int
    footage_id: str
    event: bytes  # the footage.uploaded event as it goes on the wire
    sent: bool


@dataclass(frozen=True)
class Pull:
    pull_id: str
    url: str
    channel: str
    title: str
    archive_channels: tuple[str, ...]
    highlight_channels: tuple[str, ...]
    start_at: str
    end_at: str | None
    state: PullState
    archive_id: str | None
    last_seq: int | None
    error: str | None
    ward: str = DEFAULT_WARD


def _video_columns(video: RecordedVideo) -> dict[str, Any]:
    if isinstance(video, Unread):
        return dict.fromkeys(("video_first_s", "video_last_s", "video_frames", "video_steady", "video_steady_s"))
    if video is None:
        video = SegmentVideo(0.0, 0.0, 0)
    return {
        "video_first_s": video.first_s,
        "video_last_s": video.last_s,
        "video_frames": video.frames,
        "video_steady": video.steady,
        "video_steady_s": video.steady_s,
    }


def _video(row: Row[Any]) -> RecordedVideo:
    if row.video_frames is None:
        return UNREAD
    if row.video_frames == 0:
        return None
    return SegmentVideo(
        float(row.video_first_s),
        float(row.video_last_s),
        int(row.video_frames),
        int(row.video_steady),
        float(row.video_steady_s),
    )


def _tuple(raw: str) -> tuple[str, ...]:
    return tuple(json.loads(raw))


class ArchiveStore:
    """`ArchiveStore.open(location)` on start; every method is a short transaction (safe from the event loop and
    worker threads)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, location: str | Path) -> ArchiveStore:
        """Connect and bring the schema to the newest revision (an older store is upgraded in place)."""
        # FULL: a segment recorded as stored must survive a power cut, not only a process kill.
        engine = db.make_engine(location, service=ARCHIVER, synchronous="FULL")
        db.migrate(engine, ARCHIVER)
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()

    def _all(self, query: Executable) -> list[Row[Any]]:
        return db.transaction(self._engine, lambda c: list(c.execute(query).all()))

    def _exec(self, statement: Executable) -> int:
        return db.transaction(self._engine, lambda c: c.execute(statement).rowcount)

    # --- stream keys
    def add_stream_key(
        self,
        channel: str,
        key_hash: str,
        title: str,
        archive_channels: tuple[str, ...],
        highlight_channels: tuple[str, ...],
        restream_urls: tuple[str, ...],
        ward: str = DEFAULT_WARD,
    ) -> StreamKey:
        key_id = new_id()
        self._exec(
            insert(stream_keys).values(
                key_id=key_id,
                channel=channel,
                key_hash=key_hash,
                title=title,
                archive_channels=json.dumps(archive_channels),
                highlight_channels=json.dumps(highlight_channels),
                restream_urls=json.dumps(restream_urls),
                created_at=_now(),
                ward=ward,
            )
        )
        found = self.stream_key(key_id)
        assert found is not None
        return found

    @staticmethod
    def _key(row: Row[Any]) -> StreamKey:
        return StreamKey(
            key_id=row.key_id,
            channel=row.channel,
            title=row.title,
            archive_channels=_tuple(row.archive_channels),
            highlight_channels=_tuple(row.highlight_channels),
            restream_urls=_tuple(row.restream_urls),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            ward=row.ward,
        )

    def stream_key(self, key_id: str) -> StreamKey | None:
        rows = self._all(select(stream_keys).where(stream_keys.c.key_id == key_id))
        return self._key(rows[0]) if rows else None

    def active_key_by_hash(self, key_hash: str) -> StreamKey | None:
        c = stream_keys.c
        rows = self._all(select(stream_keys).where(c.key_hash == key_hash, c.revoked_at.is_(None)))
        return self._key(rows[0]) if rows else None

    def stream_keys(self, ward: str | None) -> list[StreamKey]:
        """Of one ward (None: every ward)."""
        query = select(stream_keys).order_by(stream_keys.c.created_at)
        if ward is not None:
            query = query.where(stream_keys.c.ward == ward)
        return [self._key(r) for r in self._all(query)]

    def revoke_stream_key(self, key_id: str) -> bool:
        c = stream_keys.c
        return (
            self._exec(update(stream_keys).where(c.key_id == key_id, c.revoked_at.is_(None)).values(revoked_at=_now()))
            > 0
        )

    # --- archives

    @staticmethod
    def _archive(row: Row[Any]) -> Archive:
        return Archive(
            archive_id=row.archive_id,
            source=row.source,
            owner_id=row.owner_id,
            channel=row.channel,
            title=row.title,
            archive_channels=_tuple(row.archive_channels),
            highlight_channels=_tuple(row.highlight_channels),
            footage_id=row.footage_id,
            state=row.state,
            started_at=row.started_at,
            ended_at=row.ended_at,
            error=row.error,
            ward=row.ward,
            stop_requested_at=row.stop_requested_at,
            live_chunks_sent=int(row.live_chunks_sent),
        )

    def create_archive(
        self,
        source: Literal["rtmp", "hls"],
        owner_id: str,
        channel: str,
        title: str,
        archive_channels: tuple[str, ...],
        highlight_channels: tuple[str, ...],
        ward: str = DEFAULT_WARD,
    ) -> Archive:
        archive_id = new_id()
        # The footage id is fixed now, so a finalize redone after a crash announces the same footage again,
        # which the pipeline treats as a redelivery, never as a second footage.
        self._exec(
            insert(archives).values(
                archive_id=archive_id,
                source=source,
                owner_id=owner_id,
                channel=channel,
                title=title,
                archive_channels=json.dumps(archive_channels),
                highlight_channels=json.dumps(highlight_channels),
                footage_id=new_id(),
                state="recording",
                started_at=_now(),
                ward=ward,
            )
        )
        found = self.archive(archive_id)
        assert found is not None
        return found

    def archive(self, archive_id: str) -> Archive | None:
        rows = self._all(select(archives).where(archives.c.archive_id == archive_id))
        return self._archive(rows[0]) if rows else None

    def archives(self, state: ArchiveState | None = None, *, ward: str | None = None) -> list[Archive]:
        """In `state` (None: any), of `ward` (None: every ward)."""
        query = select(archives).order_by(archives.c.started_at)
        if state is not None:
            query = query.where(archives.c.state == state)
        if ward is not None:
            query = query.where(archives.c.ward == ward)
        return [self._archive(r) for r in self._all(query)]

    def recording_archive_for(self, owner_id: str) -> Archive | None:
        rows = self._all(select(archives).where(archives.c.owner_id == owner_id, archives.c.state == "recording"))
        return self._archive(rows[0]) if rows else None

    def set_archive_state(self, archive_id: str, state: ArchiveState, error: str | None = None) -> None:
        ended = _now() if state != "recording" else None
        self._exec(
            update(archives)
            .where(archives.c.archive_id == archive_id)
            .values(state=state, error=error, ended_at=func.coalesce(archives.c.ended_at, ended))
        )

    def request_stop(self, archive_id: str) -> bool:
        """Ask the replica recording into the archive to end its stream; False if it is not recording."""
        c = archives.c
        statement = update(archives).where(c.archive_id == archive_id, c.state == "recording")
        return self._exec(statement.values(stop_requested_at=_now())) > 0

    def set_live_chunks_sent(self, archive_id: str, count: int) -> None:
        self._exec(update(archives).where(archives.c.archive_id == archive_id).values(live_chunks_sent=count))

    # --- leases
    def take_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Hold `name` until now + ttl if it is free, lapsed or already ours; False if another holder has it."""
        now = datetime.now(UTC)
        expires = lease_time(now + timedelta(seconds=ttl_s))

        def take(connection: Connection) -> bool:
            return db.take_lease(connection, leases, name, holder, now=lease_time(now), expires=expires)

        return db.transaction(self._engine, take)

    def renew_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Extend our lease; False if it is no longer ours (another replica took it after it lapsed)."""
        c = leases.c
        expires = lease_time(datetime.now(UTC) + timedelta(seconds=ttl_s))
        return self._exec(update(leases).where(c.name == name, c.holder == holder).values(expires_at=expires)) > 0

    def release_lease(self, name: str, holder: str, *, forget: bool = False) -> None:
        """Let our lease lapse now (kept, so its end is known), or `forget` it (its thing is over)."""
        c = leases.c
        mine = (c.name == name) & (c.holder == holder)
        if forget:
            self._exec(delete(leases).where(mine))
        else:
            self._exec(update(leases).where(mine).values(expires_at=lease_time(datetime.now(UTC))))

    def leases(self) -> dict[str, Lease]:
        rows = self._all(select(leases))
        return {r.name: Lease(r.name, r.holder, datetime.fromisoformat(r.expires_at)) for r in rows}

    # --- segments
    def add_segment(
        self,
        archive_id: str,
        n: int,
        key: str,
        duration_s: float,
        source_seq: int | None = None,
        video: RecordedVideo = UNREAD,
    ) -> None:
        """Record a stored segment, with its video as read before it was stored (UNREAD: the end of the live reads
        it)."""
        row = {"archive_id": archive_id, "n": n, "key": key, "duration_s": duration_s, "source_seq": source_seq}
        row |= _video_columns(video)
        kept = [column for column in row if column not in ("archive_id", "n")]
        db.transaction(self._engine, lambda c: db.upsert(c, segments, row, update=kept))

    def segments(self, archive_id: str) -> list[Segment]:
        c = segments.c
        rows = self._all(select(segments).where(c.archive_id == archive_id).order_by(c.n))
        return [
            Segment(
                int(r.n), r.key, float(r.duration_s), None if r.source_seq is None else int(r.source_seq), _video(r)
            )
            for r in rows
        ]

    def has_segment(self, archive_id: str, n: int) -> bool:
        c = segments.c
        return bool(self._all(select(c.n).where(c.archive_id == archive_id, c.n == n)))

    def next_segment_number(self, archive_id: str) -> int:
        last = self._all(select(func.max(segments.c.n)).where(segments.c.archive_id == archive_id))[0][0]
        return 1 if last is None else int(last) + 1

    def last_source_seq(self, archive_id: str) -> int | None:
        value = self._all(select(func.max(segments.c.source_seq)).where(segments.c.archive_id == archive_id))[0][0]
        return None if value is None else int(value)

    # --- highlight marks
    def add_mark(self, archive_id: str, start_s: float, end_s: float, title: str | None) -> Mark:
        footage_id = new_id()

        def add(connection: Connection) -> int:
            last = connection.execute(select(func.max(marks.c.idx)).where(marks.c.archive_id == archive_id)).scalar()
            idx = (last or 0) + 1
            connection.execute(
                insert(marks).values(
                    archive_id=archive_id, idx=idx, start_s=start_s, end_s=end_s, title=title, footage_id=footage_id
                )
            )
            return idx

        # Reads the last index, then writes the next: IMMEDIATE takes SQLite's write lock first. On PostgreSQL a
        # concurrent add of the same index fails on the primary key instead of numbering twice.
        idx = db.transaction(self._engine, add, immediate=True)
        return Mark(idx, start_s, end_s, title, footage_id)

    def marks(self, archive_id: str) -> list[Mark]:
        c = marks.c
        rows = self._all(select(marks).where(c.archive_id == archive_id).order_by(c.idx))
        return [Mark(int(r.idx), float(r.start_s), float(r.end_s), r.title, r.footage_id) for r in rows]

    # --- announcements (the finalize's outbox)
    def plan_announcements(self, archive_id: str, events: list[tuple[str, bytes]]) -> None:
        """Record the (footage id, event) pairs to announce, all or none; an archive is planned only once."""

        def plan(connection: Connection) -> None:
            planned = select(announcements.c.idx).where(announcements.c.archive_id == archive_id).limit(1)
            if connection.execute(planned).first():
                raise ValueError(f"archive {archive_id}: announcements are already planned")
            if events:
                connection.execute(
                    insert(announcements),
                    [
                        {"archive_id": archive_id, "idx": i, "footage_id": footage_id, "event": event.decode()}
                        for i, (footage_id, event) in enumerate(events)
                    ],
                )

        db.transaction(self._engine, plan, immediate=True)

    def announcements(self, archive_id: str) -> list[Announcement]:
        c = announcements.c
        rows = self._all(select(announcements).where(c.archive_id == archive_id).order_by(c.idx))
        return [Announcement(int(r.idx), r.footage_id, r.event.encode(), r.sent_at is not None) for r in rows]

    def mark_announced(self, archive_id: str, idx: int) -> None:
        c = announcements.c
        self._exec(update(announcements).where(c.archive_id == archive_id, c.idx == idx).values(sent_at=_now()))

    # --- pulls

    @staticmethod
    def _pull(row: Row[Any]) -> Pull:
        return Pull(
            pull_id=row.pull_id,
            url=row.url,
            channel=row.channel,
            title=row.title,
            archive_channels=_tuple(row.archive_channels),
            highlight_channels=_tuple(row.highlight_channels),
            start_at=row.start_at,
            end_at=row.end_at,
            state=row.state,
            archive_id=row.archive_id,
            last_seq=None if row.last_seq is None else int(row.last_seq),
            error=row.error,
            ward=row.ward,
        )

    def add_pull(
        self,
        url: str,
        channel: str,
        title: str,
        archive_channels: tuple[str, ...],
        highlight_channels: tuple[str, ...],
        start_at: datetime,
        end_at: datetime | None,
        ward: str = DEFAULT_WARD,
    ) -> Pull:
        pull_id = new_id()
        self._exec(
            insert(pulls).values(
                pull_id=pull_id,
                url=url,
                channel=channel,
                title=title,
                archive_channels=json.dumps(archive_channels),
                highlight_channels=json.dumps(highlight_channels),
                start_at=start_at.astimezone(UTC).isoformat(),
                end_at=None if end_at is None else end_at.astimezone(UTC).isoformat(),
                state="scheduled",
                ward=ward,
            )
        )
        found = self.pull(pull_id)
        assert found is not None
        return found

    def pull(self, pull_id: str) -> Pull | None:
        rows = self._all(select(pulls).where(pulls.c.pull_id == pull_id))
        return self._pull(rows[0]) if rows else None

    def pulls(self, state: PullState | None = None) -> list[Pull]:
        query = select(pulls).order_by(pulls.c.start_at)
        if state is not None:
            query = query.where(pulls.c.state == state)
        return [self._pull(r) for r in self._all(query)]

    def start_pull(self, pull_id: str, archive_id: str) -> bool:
        """Mark the pull running into `archive_id`, unless it was cancelled or has ended meanwhile."""
        c = pulls.c
        statement = update(pulls).where(c.pull_id == pull_id, c.state.in_(("scheduled", "running")))
        return self._exec(statement.values(state="running", archive_id=archive_id, error=None)) > 0

    def cancel_scheduled_pull(self, pull_id: str) -> bool:
        """Cancel a pull that has not started (on any replica); False if it has."""
        c = pulls.c
        statement = update(pulls).where(c.pull_id == pull_id, c.state == "scheduled")
        return self._exec(statement.values(state="cancelled")) > 0

    def set_pull_state(
        self, pull_id: str, state: PullState, archive_id: str | None = None, error: str | None = None
    ) -> None:
        self._exec(
            update(pulls)
            .where(pulls.c.pull_id == pull_id)
            .values(state=state, archive_id=func.coalesce(archive_id, pulls.c.archive_id), error=error)
        )
