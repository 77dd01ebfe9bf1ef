"""The status projection on both databases (a SQLite file, PostgreSQL): order independence, redelivery, filters,
engagement sums, and a projection made by the previous code adopted with its rows."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from loa_core.channels import Channel
from loa_core.contracts import (
    DeadLetter,
    Event,
    FootageStatus,
    FootageUploaded,
    PostFailed,
    PostPublished,
    RenditionsReady,
)
from loa_metrics import views as metrics_views
from loa_metrics.engagement_store import PostStats
from loa_metrics.projection import Projection, open_projection
from tests.support.metrics_events import T0, dead_letter, new_id, post_failed, published, renditions, uploaded
from tests.support.postgres import PostgresServer

CHANNELS = {
    "local": Channel(name="local", platform="local", profiles=("tiktok", "youtube")),
    "yt": Channel(name="yt", platform="youtube", profiles=("youtube",)),
    "tt": Channel(name="tt", platform="tiktok", profiles=("tiktok",)),
}


@pytest.fixture
def projection(database_url: str) -> Iterator[Projection]:
    projection = open_projection(database_url, CHANNELS)
    yield projection
    projection.close()


def test_status_walks_through_the_stages(projection: Projection) -> None:
    fid = new_id()
    assert projection.views.footage(fid) is None
    assert projection.events.footage_uploaded(uploaded(fid))
    assert projection.views.status(fid) == "uploaded"
    assert projection.events.renditions_ready(renditions(fid))
    assert projection.views.status(fid) == "transcoded"
    assert projection.events.post_published(published(fid, "tiktok"))
    assert projection.views.status(fid) == "publishing"
    assert not projection.events.mark_published_once(fid)
    assert projection.events.post_published(published(fid, "youtube"))
    view = projection.views.footage(fid)
    assert view is not None
    assert view.status == "published"
    assert [p.profile for p in view.stages.published.posts] == ["tiktok", "youtube"]
    assert view.errors == ()
    assert projection.events.mark_published_once(fid)
    assert not projection.events.mark_published_once(fid), "counted once"


def test_out_of_order_and_redelivered_events(projection: Projection) -> None:
    fid = new_id()
    post = published(fid, "tiktok")
    assert projection.events.post_published(post)
    assert not projection.events.post_published(post), "a redelivered post is not a second post"
    assert projection.events.renditions_ready(renditions(fid))
    assert projection.events.footage_uploaded(uploaded(fid))
    assert not projection.events.footage_uploaded(uploaded(fid))
    view = projection.views.footage(fid)
    assert view is not None
    assert view.title == "Lễ ra mắt"
    assert view.stages.uploaded.at == T0


def test_failures_make_the_footage_failed_once(projection: Projection) -> None:
    fid = new_id()
    projection.events.footage_uploaded(uploaded(fid))
    failure = post_failed(fid)
    assert projection.events.failure(failure)
    assert not projection.events.failure(failure)
    assert projection.events.failure(dead_letter(fid))
    view = projection.views.footage(fid)
    assert view is not None
    assert view.status == "failed"
    assert [e.stage for e in view.errors] == ["publish", "transcode"]
    assert projection.events.failure(dead_letter(None)), "a dead letter without footage is still recorded"


def test_list_footage_filters(projection: Projection) -> None:
    a, b, c = new_id(), new_id(), new_id()
    projection.events.footage_uploaded(uploaded(a, T0, series="Hội thi", channels=("local",)))
    projection.events.footage_uploaded(uploaded(b, T0 + timedelta(days=1), series="Họp dân", channels=("yt", "tt")))
    projection.events.footage_uploaded(uploaded(c, T0 + timedelta(days=2), series="Hội thi", channels=("yt",)))
    projection.events.renditions_ready(renditions(c, channels=("yt",)))

    def ids(**filters: object) -> list[str]:
        return [v.footage_id for v in projection.views.list_footage(ward=None, **filters)]  # type: ignore[arg-type]

    assert ids() == [c, b, a], "newest first"
    assert ids(series="Hội thi") == [c, a]
    assert ids(channel="yt") == [c, b]
    assert ids(channel="tt") == [b]
    assert ids(status="transcoded") == [c]
    assert ids(status="uploaded") == [b, a]
    assert ids(date_from=date(2026, 11, 21)) == [c, b]
    assert ids(date_to=date(2026, 11, 21)) == [b, a]
    assert ids(date_from=date(2026, 11, 21), date_to=date(2026, 11, 21)) == [b]
    assert ids(limit=1, offset=1) == [b]


def test_a_status_filtered_list_reads_chunks_and_agrees_with_each_footages_status(
    projection: Projection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list reads only rows that could have the status (views.could_be) a chunk at a time, then computes it:
    each status's list, and each page of it, is exactly the footage whose own view has that status."""
    monkeypatch.setattr(metrics_views, "STATUS_CHUNK", 2)
    at = itertools.count()
    for _ in range(3):
        uploaded_only, transcoded, publishing, published_, failed = (new_id() for _ in range(5))
        for fid in (uploaded_only, transcoded, publishing, published_, failed):
            projection.events.footage_uploaded(uploaded(fid, T0 + timedelta(minutes=next(at)), channels=("yt", "tt")))
        for fid in (transcoded, publishing, published_, failed):
            projection.events.renditions_ready(renditions(fid, channels=("yt", "tt")))
        for fid in (publishing, published_):
            projection.events.post_published(published(fid, "youtube", channel="yt", platform="youtube"))
        projection.events.post_published(published(published_, "tiktok", channel="tt", platform="tiktok"))
        projection.events.failure(post_failed(failed, "tt", "tiktok"))
        projection.events.post_published(published(new_id(), "youtube", channel="yt", platform="youtube"))  # unseen
    everything = projection.views.list_footage(ward=None, limit=1000)
    assert len(everything) == 18
    for status in FootageStatus:
        expected = [v.footage_id for v in everything if v.status == status]
        listed = projection.views.list_footage(ward=None, status=status)
        assert [v.footage_id for v in listed] == expected, status
        assert {v.status for v in listed} <= {status}
        paged = projection.views.list_footage(ward=None, status=status, limit=1, offset=1)
        assert [v.footage_id for v in paged] == expected[1:2], status
    assert {v.status for v in everything} >= {"uploaded", "transcoded", "publishing", "published", "failed"}


def test_the_channel_filter_matches_a_whole_channel_name(tmp_path: Path) -> None:
    """Names hold '_', a LIKE wildcard: 'y_t' lists its own footage, not 'yat''s."""
    channels = {n: Channel(name=n, platform="local", profiles=("youtube",)) for n in ("y_t", "yat", "y")}
    projection = open_projection(tmp_path / "p.sqlite3", channels)
    own, other = new_id(), new_id()
    projection.events.footage_uploaded(uploaded(own, T0, channels=("y_t",)))
    projection.events.footage_uploaded(uploaded(other, T0, channels=("yat", "y")))
    assert [v.footage_id for v in projection.views.list_footage(ward=None, channel="y_t")] == [own]
    assert [v.footage_id for v in projection.views.list_footage(ward=None, channel="y")] == [other]
    projection.close()


def test_posts_engagement_and_reports_inputs(projection: Projection) -> None:
    a, b = new_id(), new_id()
    projection.events.footage_uploaded(uploaded(a, series="Hội thi", channels=("yt", "tt")))
    projection.events.footage_uploaded(uploaded(b, series=None, channels=("yt",)))
    projection.events.post_published(published(a, "youtube", channel="yt", platform="youtube", post_id="ytA"))
    projection.events.post_published(published(a, "tiktok", channel="tt", platform="tiktok", post_id="ttA"))
    later = T0 + timedelta(days=12)
    projection.events.post_published(published(b, "youtube", channel="yt", platform="youtube", post_id="ytB", at=later))

    assert [p.post_id for p in projection.engagement.published_posts("youtube")] == ["ytA", "ytB"]
    assert projection.engagement.record_post_stats("youtube", {"ytA": PostStats(100, 10, 2, None)}, T0) == 1
    assert projection.engagement.record_post_stats("youtube", {"ytB": PostStats(50, 5, 0, None)}, T0) == 1
    assert projection.engagement.record_post_stats("tiktok", {"ttA": PostStats(1000, 80, 12, 7)}, T0) == 1
    assert projection.engagement.record_post_stats("tiktok", {"unknown": PostStats(1, 1, 1, 1)}, T0) == 0

    rows = {(r.channel, r.series): r for r in projection.engagement.engagement(ward=None)}
    assert rows[("yt", "Hội thi")].views == 100
    assert rows[("yt", "none")].views == 50
    assert rows[("tt", "Hội thi")].shares == 7
    november_first_week = projection.engagement.engagement(
        ward=None, published_from="2026-11-16T00:00:00+00:00", published_before="2026-11-23T00:00:00+00:00"
    )
    assert {(r.channel, r.posts) for r in november_first_week} == {("yt", 1), ("tt", 1)}

    posts = projection.views.list_posts(ward=None, channel="yt")
    assert [p["post_id"] for p in posts] == ["ytB", "ytA"]
    assert posts[1]["views"] == 100 and posts[1]["series"] == "Hội thi"
    assert [p["post_id"] for p in projection.views.list_posts(ward=None, series="Hội thi", platform="tiktok")] == [
        "ttA"
    ]
    assert [p["post_id"] for p in projection.views.list_posts(ward=None, date_from=date(2026, 12, 1))] == ["ytB"]
    assert [t["views"] for t in projection.engagement.top_posts(2)] == [1000, 100]

    projection.engagement.record_followers("tt", "default", "tiktok", 1234, T0)
    projection.engagement.record_followers("tt", "default", "tiktok", 1240, T0)
    assert projection.engagement.followers() == [
        {"channel": "tt", "platform": "tiktok", "followers": 1240, "polled_at": T0.isoformat()}
    ]


def test_times_are_stored_in_utc(projection: Projection) -> None:
    from datetime import datetime, timezone

    fid = new_id()
    hanoi = timezone(timedelta(hours=7))
    projection.events.footage_uploaded(uploaded(fid, datetime(2026, 11, 21, 6, 0, tzinfo=hanoi)))
    view = projection.views.footage(fid)
    assert view is not None
    assert view.stages.uploaded.at is not None
    assert view.stages.uploaded.at.isoformat() == "2026-11-20T23:00:00+00:00"
    assert [v.footage_id for v in projection.views.list_footage(ward=None, date_to=date(2026, 11, 20))] == [fid]


def test_stored_bytes_and_stage_times(projection: Projection) -> None:
    fid = new_id()
    projection.events.footage_uploaded(uploaded(fid))
    projection.events.renditions_ready(renditions(fid))
    assert projection.views.stored_bytes() == {"raw": 1000, "rendition": 1000}
    times = projection.views.stage_times(fid)
    assert times["uploaded_at"] == T0.isoformat()
    assert times["published_at"] is None


def test_reopening_keeps_data(database_url: str) -> None:
    fid = new_id()
    first = open_projection(database_url, CHANNELS)
    first.events.footage_uploaded(uploaded(fid))
    first.close()
    again = open_projection(database_url, CHANNELS)
    assert again.views.footage(fid) is not None
    again.close()


def test_status_summary_follows_every_change(projection: Projection) -> None:
    fid = new_id()
    counts, oldest = projection.views.status_summary()
    assert sum(counts.values()) == 0 and oldest is None
    projection.events.footage_uploaded(uploaded(fid))
    counts, oldest = projection.views.status_summary()
    assert counts["uploaded"] == 1 and oldest == T0.isoformat()
    assert projection.views.status_summary() == (counts, oldest), "unchanged between events"
    projection.events.renditions_ready(renditions(fid))
    projection.events.post_published(published(fid, "tiktok"))
    projection.events.post_published(published(fid, "youtube"))
    counts, oldest = projection.views.status_summary()
    assert counts["published"] == 1 and counts["uploaded"] == 0 and oldest is None
    projection.events.failure(post_failed(fid))
    assert projection.views.status_summary()[0]["failed"] == 1


def test_status_summary_follows_another_replicas_writes(postgres_server: PostgresServer) -> None:
    # Two replicas on one PostgreSQL projection: each writes the events of its own partitions. The summary was
    # cached until this process's next write, so it kept the other replica's footage in their old status.
    url = postgres_server.new_database()
    mine, other = open_projection(url, CHANNELS), open_projection(url, CHANNELS)
    try:
        fid = new_id()
        mine.events.footage_uploaded(uploaded(fid))
        assert mine.views.status_summary()[0]["uploaded"] == 1
        other.events.renditions_ready(renditions(fid))
        counts, _ = mine.views.status_summary()
        assert counts["transcoded"] == 1 and counts["uploaded"] == 0
    finally:
        mine.close()
        other.close()


def test_views_gained_within_a_period(projection: Projection) -> None:
    from datetime import UTC, datetime

    def day(month: int, d: int, hour: int = 12) -> datetime:
        return datetime(2026, month, d, hour, tzinfo=UTC)

    posts = {"A": day(10, 20), "B": day(11, 10), "C": day(10, 1)}
    for post_id, at in posts.items():
        fid = new_id()
        projection.events.footage_uploaded(uploaded(fid, at, series="Hội thi", channels=("yt",)))
        projection.events.post_published(
            published(fid, "youtube", channel="yt", platform="youtube", post_id=post_id, at=at)
        )
    for post_id, at, views in (
        ("A", day(10, 31), 100),
        ("A", day(11, 15, 8), 150),
        ("A", day(11, 15, 20), 160),  # the day's last poll wins
        ("A", day(12, 2), 300),
        ("B", day(11, 12), 40),
        ("B", day(11, 30), 90),
        ("C", day(11, 5), 500),  # first polled within November: nothing before it is counted
        ("C", day(11, 20), 520),
    ):
        projection.engagement.record_post_stats("youtube", {post_id: PostStats(views, 0, 0, None)}, at)
    key = ("default", "yt", "youtube", "Hội thi")
    assert projection.engagement.views_gained(date(2026, 11, 1), date(2026, 12, 1), ward=None) == {key: 60 + 90 + 20}
    assert projection.engagement.views_gained(date(2026, 10, 1), date(2026, 11, 1), ward=None) == {key: 100}
    assert projection.engagement.views_gained(date(2026, 12, 1), date(2027, 1, 1), ward=None) == {key: 140}


def _retried_footage(fid: str) -> tuple[list[Event], list[Event]]:
    """A footage for yt and tt: yt goes live, tt fails for good (a failure and the publisher's dead letter), then
    `loa retry` posts tt. Returns the events before the retry and the retry's publication."""
    before: list[Event] = [
        uploaded(fid, channels=("yt", "tt")),
        renditions(fid, channels=("yt", "tt")),
        published(fid, "youtube", channel="yt", platform="youtube", at=T0 + timedelta(minutes=1)),
        post_failed(fid, "tt", "tiktok", at=T0 + timedelta(minutes=2)),
        dead_letter(fid, "publisher", "renditions.ready", at=T0 + timedelta(minutes=2)),
    ]
    return before, [published(fid, "tiktok", channel="tt", platform="tiktok", at=T0 + timedelta(hours=1))]


def _apply(projection: Projection, event: Event) -> None:
    events = projection.events
    if isinstance(event, FootageUploaded):
        events.footage_uploaded(event)
    elif isinstance(event, RenditionsReady):
        events.renditions_ready(event)
    elif isinstance(event, PostPublished):
        events.post_published(event)
    else:
        assert isinstance(event, PostFailed | DeadLetter)
        events.failure(event)


def test_a_post_published_after_its_failure_is_published(projection: Projection) -> None:
    fid = new_id()
    before, retried = _retried_footage(fid)
    for event in before:
        _apply(projection, event)
    assert projection.views.status(fid) == "failed"
    for event in retried:
        _apply(projection, event)
    view = projection.views.footage(fid)
    assert view is not None
    assert view.status == "published", "the retry published the only post that had failed"
    assert [(e.stage, e.resolved) for e in view.errors] == [("publish", True), ("publisher", True)]
    assert projection.events.mark_published_once(fid)
    assert [v.footage_id for v in projection.views.list_footage(ward=None, status="published")] == [fid]
    counts, _ = projection.views.status_summary()
    assert counts["published"] == 1 and counts["failed"] == 0


def test_the_latest_outcome_wins_whatever_the_arrival_order(tmp_path: Path) -> None:
    # Each topic is consumed on its own, and a replay (a new consumer group) reads posts.published before
    # posts.failed: the answer must depend on the events' times, not on which topic was read first.
    fid = new_id()
    before, retried = _retried_footage(fid)
    for n, order in enumerate(itertools.permutations(before[2:] + retried)):
        projection = open_projection(tmp_path / f"p{n}.sqlite3", CHANNELS)
        for event in (*before[:2], *order, before[3]):  # and the old failure redelivered last
            _apply(projection, event)
        assert projection.views.status(fid) == "published", order


def test_a_failure_after_the_last_publication_still_fails(projection: Projection) -> None:
    fid = new_id()
    projection.events.footage_uploaded(uploaded(fid, channels=("local",)))
    projection.events.renditions_ready(renditions(fid, channels=("local",)))
    # One channel, two cuts: the tiktok cut is live, then the youtube cut fails (a failure names only the channel).
    projection.events.post_published(published(fid, "tiktok", at=T0 + timedelta(minutes=1)))
    projection.events.failure(post_failed(fid, "local", at=T0 + timedelta(minutes=2)))
    assert projection.views.status(fid) == "failed"
    projection.events.post_published(published(fid, "youtube", at=T0 + timedelta(minutes=30)))
    assert projection.views.status(fid) == "published"
    # The publisher gives up on the footage again after its last post (a newer dead letter): failed again.
    projection.events.failure(dead_letter(fid, "publisher", "renditions.ready", at=T0 + timedelta(hours=2)))
    assert projection.views.status(fid) == "failed"
    assert [v.footage_id for v in projection.views.list_footage(ward=None, status="failed")] == [fid]


def test_a_transcode_dead_letter_is_superseded_only_by_a_later_transcode(projection: Projection) -> None:
    fid = new_id()
    projection.events.footage_uploaded(uploaded(fid))
    projection.events.failure(dead_letter(fid, "transcode", at=T0 + timedelta(seconds=10)))
    assert projection.views.status(fid) == "failed"
    projection.events.renditions_ready(renditions(fid, at=T0 + timedelta(minutes=5)))
    assert projection.views.status(fid) == "transcoded"
    other = new_id()
    projection.events.renditions_ready(renditions(other, at=T0))
    projection.events.failure(dead_letter(other, "transcode", at=T0 + timedelta(minutes=5)))
    assert projection.views.status(other) == "failed"


# The schema the hand-written store made (before Alembic): its CREATE script, then the columns it ALTERed in.
PREVIOUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS footage (
    footage_id    TEXT PRIMARY KEY,
    title         TEXT,
    series        TEXT,
    channels      TEXT,          -- JSON list
    source        TEXT,
    uploaded_at   TEXT,
    transcoded_at TEXT,
    renditions    TEXT,          -- JSON list of {profile, key, width, height, duration_s}
    published_counted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS posts (
    footage_id   TEXT NOT NULL,
    channel      TEXT NOT NULL,
    profile      TEXT NOT NULL,
    platform     TEXT NOT NULL,
    post_id      TEXT,
    url          TEXT,
    published_at TEXT,
    PRIMARY KEY (footage_id, channel, profile)
);
CREATE TABLE IF NOT EXISTS failures (
    event_id   TEXT PRIMARY KEY,  -- a redelivered failure is recorded once
    footage_id TEXT,
    stage      TEXT NOT NULL,
    channel    TEXT,
    reason     TEXT NOT NULL,
    at         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS posts_by_platform_id ON posts (platform, post_id);
CREATE INDEX IF NOT EXISTS failures_by_footage ON failures (footage_id);
CREATE TABLE IF NOT EXISTS post_views_daily (
    platform TEXT NOT NULL,
    post_id  TEXT NOT NULL,
    day      TEXT NOT NULL,  -- YYYY-MM-DD (UTC)
    views    INTEGER NOT NULL,
    PRIMARY KEY (platform, post_id, day)
);
CREATE TABLE IF NOT EXISTS channel_stats (
    channel   TEXT PRIMARY KEY,
    platform  TEXT NOT NULL,
    followers INTEGER NOT NULL,
    polled_at TEXT NOT NULL
);
ALTER TABLE footage ADD COLUMN source_bytes INTEGER;
ALTER TABLE posts ADD COLUMN views INTEGER;
ALTER TABLE posts ADD COLUMN likes INTEGER;
ALTER TABLE posts ADD COLUMN comments INTEGER;
ALTER TABLE posts ADD COLUMN shares INTEGER;
ALTER TABLE posts ADD COLUMN stats_at TEXT;
ALTER TABLE posts ADD COLUMN announced_at TEXT;
"""
PREVIOUS_ROWS: dict[str, list[dict[str, object]]] = {
    "footage": [
        {
            "footage_id": "f" * 32,
            "title": "Lễ chào cờ",
            "series": "le-hoi",
            "channels": '["yt"]',
            "source": "upload",
            "uploaded_at": T0.isoformat(),
            "transcoded_at": (T0 + timedelta(minutes=2)).isoformat(),
            "renditions": '[{"profile": "youtube", "key": "r/f/youtube.mp4", "width": 1920, "height": 1080, '
            '"duration_s": 12.0, "size_bytes": 900}]',
            "published_counted": 1,
            "source_bytes": 5000,
        },
        {
            **dict.fromkeys(("title", "series", "channels", "source", "uploaded_at", "transcoded_at", "renditions")),
            "footage_id": "e" * 32,
            "published_counted": 0,
            "source_bytes": None,
        },
    ],
    "posts": [
        {
            "footage_id": "f" * 32,
            "channel": "yt",
            "profile": "youtube",
            "platform": "youtube",
            "post_id": "vid1",
            "url": "https://youtu.be/vid1",
            "published_at": (T0 + timedelta(minutes=3)).isoformat(),
            "views": 120,
            "likes": 7,
            "comments": 2,
            "shares": None,
            "stats_at": (T0 + timedelta(days=1)).isoformat(),
            "announced_at": (T0 + timedelta(minutes=3)).isoformat(),
        }
    ],
    "failures": [
        {
            "event_id": "x" * 32,
            "footage_id": "e" * 32,
            "stage": "transcode",
            "channel": None,
            "reason": "ffmpeg: no video stream",
            "at": T0.isoformat(),
        },
    ],
    "post_views_daily": [{"platform": "youtube", "post_id": "vid1", "day": T0.date().isoformat(), "views": 120}],
    "channel_stats": [{"channel": "yt", "platform": "youtube", "followers": 1500, "polled_at": T0.isoformat()}],
}


def test_a_projection_made_by_the_previous_code_is_adopted_with_every_row(tmp_path: Path) -> None:
    path = tmp_path / "metrics-projection.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(PREVIOUS_SCHEMA)
    for table, rows in PREVIOUS_ROWS.items():
        for row in rows:
            names = ", ".join(row)
            old.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
    old.commit()
    old.close()

    projection = open_projection(path, CHANNELS)  # the new code starts on it: adopts it as revision 0001
    # Columns that came later: the ward (rows from before wards are the default ward's), a failure's platform, the
    # footage's text fingerprint (approval; none for footage transcoded before it), a post's state and text after a
    # person changed it (none: as published), the sha256 of the file the platform received (revision 0011: none for
    # posts announced before it).
    later = {
        "footage": {"ward": "default", "text_sha256": None},
        "posts": {"ward": "default", "state": None, "title": None, "sha256": None},
        "failures": {"platform": None},
    }
    for table, rows in PREVIOUS_ROWS.items():
        expected = [{**row, **later.get(table, {})} for row in rows]
        assert projection.database.rows(f"SELECT * FROM {table}") == expected, table
    view = projection.views.footage("f" * 32)
    assert view is not None and view.status == "published" and view.title == "Lễ chào cờ"
    assert projection.views.stored_bytes() == {"raw": 5000, "rendition": 900}
    projection.close()
