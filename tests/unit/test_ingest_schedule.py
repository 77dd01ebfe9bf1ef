"""The schedule's entries: published posts from metrics and scheduled ones from the uploads (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from loa_core import db
from loa_core.contracts import INGEST, FootageUploaded, PostSchedule, new_id
from loa_ingest.catalog import Catalog
from loa_ingest.metadata import WARD_TIMEZONE
from loa_ingest.schedule import Window, calendar_posts
from tests.support.metrics_events import T0, uploaded

NOW = T0  # 2026-11-20 09:00 in Hanoi
WINDOW = Window(datetime(2026, 11, 1, tzinfo=WARD_TIMEZONE), datetime(2026, 12, 1, tzinfo=WARD_TIMEZONE))
PLATFORMS = {"local": "local", "yt-phuong": "youtube"}


def _scheduled(footage_id: str, **times: datetime) -> FootageUploaded:
    event = uploaded(footage_id, channels=tuple(times))
    return event.model_copy(update={"metadata": event.metadata.model_copy(update={"publish_at": times})})


def test_each_post_shows_once_as_scheduled_due_or_published_in_the_window() -> None:
    a, b = new_id(), new_id()
    later = NOW + timedelta(days=2)
    scheduled = [
        _scheduled(a, local=NOW - timedelta(hours=1), **{"yt-phuong": later}),
        _scheduled(b, local=datetime(2026, 12, 3, tzinfo=UTC)),  # after the window
    ]
    published = [
        {"footage_id": a, "channel": "local", "profile": "youtube", "title": "Lễ ra mắt", "platform": "local",
         "published_at": (NOW - timedelta(minutes=50)).isoformat(), "url": "file:///a-youtube.mp4"},
        {"footage_id": a, "channel": "local", "profile": "tiktok", "title": "Lễ ra mắt", "platform": "local",
         "published_at": (NOW - timedelta(minutes=51)).isoformat(), "url": "file:///a-tiktok.mp4"},
    ]  # fmt: skip
    posts = calendar_posts(scheduled, published, PLATFORMS, WINDOW, NOW)
    assert [(p.footage_id, p.channel, p.platform, p.state, p.at) for p in posts] == [
        (a, "local", "local", "published", NOW - timedelta(minutes=50)),
        (a, "yt-phuong", "youtube", "scheduled", later),
    ]
    assert posts[0].url == "file:///a-youtube.mp4" and posts[0].title == "Lễ ra mắt"
    assert posts[1].local_at == (later + timedelta(hours=7)).replace(tzinfo=None).isoformat()


def test_a_time_passed_without_a_post_is_due() -> None:
    a = new_id()
    (post,) = calendar_posts([_scheduled(a, local=NOW - timedelta(minutes=5))], [], PLATFORMS, WINDOW, NOW)
    assert (post.state, post.platform) == ("due", "local")


def test_a_reschedule_moves_the_post_and_a_cancel_marks_it_the_newest_change_winning() -> None:
    a, b, c = new_id(), new_id(), new_id()
    planned = NOW + timedelta(hours=3)
    uploads = [_scheduled(a, local=planned), _scheduled(b, local=planned), _scheduled(c, local=planned)]

    def change(footage_id: str, minutes: int, **what: object) -> PostSchedule:
        return PostSchedule(
            footage_id=footage_id,
            channel="local",
            by="acc",
            occurred_at=NOW - timedelta(minutes=minutes),
            **what,  # type: ignore[arg-type]
        )

    changes = [
        change(a, 9, cancelled=True),
        change(a, 5, publish_at=NOW + timedelta(days=1)),  # newer: moved a day later
        change(b, 5, publish_at=NOW + timedelta(days=2)),
        change(b, 1, cancelled=True),  # newer: cancelled, shown at its own time
        change(c, 2, publish_at=None),  # as soon as it can: due since it was asked
    ]
    posts = calendar_posts(uploads, [], PLATFORMS, WINDOW, NOW, changes)
    assert {(p.footage_id, p.state, p.at) for p in posts} == {
        (a, "scheduled", NOW + timedelta(days=1)),
        (b, "cancelled", planned),
        (c, "due", NOW - timedelta(minutes=2)),
    }


def test_the_catalog_gives_the_wards_uploads_with_a_publish_time_only(tmp_path: Path) -> None:
    engine = db.make_engine(tmp_path / "ingest.sqlite3", service=INGEST)
    db.migrate(engine, INGEST)
    catalog = Catalog(engine)
    timed, untimed, other = (
        _scheduled(new_id(), local=NOW).model_copy(update={"ward": "p1"}),
        uploaded(new_id()).model_copy(update={"ward": "p1"}),
        _scheduled(new_id(), local=NOW).model_copy(update={"ward": "p2"}),
    )
    for n, event in enumerate((timed, untimed, other)):
        sha = f"{n}" * 64
        assert catalog.reserve(event.model_copy(update={"media": event.media.model_copy(update={"sha256": sha})}))
    assert [e.footage_id for e in catalog.scheduled("p1")] == [timed.footage_id]
    assert {e.footage_id for e in catalog.scheduled(None)} == {timed.footage_id, other.footage_id}
