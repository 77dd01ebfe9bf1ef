"""YouTube keeps its own schedule (publishAt): a post uploaded scheduled and not shown yet is moved there by a
reschedule (videos.update, part=status, the new publishAt, still private) and cancelled by a cancel (private, no
publishAt); one posted at once is not touched. The publisher as a process on a real broker, against the YouTube
emulator (the world of test_post_actions: ingest, the publisher and the emulators)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loa_core.contracts import POSTS_SCHEDULE, RENDITIONS_READY, PostSchedule, new_id
from loa_core.storage import LocalStorage
from tests.integration.test_post_actions import WARD, World, world
from tests.integration.test_publisher_registry import send
from tests.support.publishing import event_for, metadata, stored_rendition

__all__ = ["world"]  # the module's fixture, shared


def scheduled_upload(world: World, publish_at: datetime | None) -> tuple[str, str]:
    """A footage posted on p1-youtube (uploaded with publishAt when it has a time); its footage id and video id."""
    before = len(world.youtube.videos)
    storage = LocalStorage(world.publisher.root / "storage")
    footage_id = new_id()
    cut = stored_rendition(storage, 300_000, "youtube", footage_id)
    times = {"p1-youtube": publish_at} if publish_at else {}
    event = event_for(footage_id, metadata(("p1-youtube",), publish_at=times), cut).model_copy(update={"ward": WARD})
    send(world.bootstrap, world.ingest.prefix, RENDITIONS_READY, event)
    world.wait_for(f"{footage_id} uploaded", lambda: len(world.youtube.videos) > before)
    return footage_id, list(world.youtube.videos)[-1]


def change(footage_id: str, publish_at: datetime | None = None, cancelled: bool = False) -> PostSchedule:
    return PostSchedule(
        footage_id=footage_id,
        ward=WARD,
        channel="p1-youtube",
        by="acc-editor",
        publish_at=publish_at,
        cancelled=cancelled,
    )


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_youtube_post_scheduled_on_youtube_is_moved_and_cancelled_there(world: World) -> None:
    youtube = world.youtube
    first = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    footage_id, video_id = scheduled_upload(world, first)
    status = youtube.videos[video_id].meta["status"]
    assert (status["privacyStatus"], status["publishAt"]) == ("private", stamp(first))

    later = first + timedelta(days=1)
    updates = youtube.count("update")
    send(world.bootstrap, world.ingest.prefix, POSTS_SCHEDULE, change(footage_id, publish_at=later))
    world.wait_for(
        "the new publishAt", lambda: youtube.videos[video_id].meta["status"].get("publishAt") == stamp(later)
    )
    assert youtube.videos[video_id].meta["status"]["privacyStatus"] == "private"

    send(world.bootstrap, world.ingest.prefix, POSTS_SCHEDULE, change(footage_id, cancelled=True))
    world.wait_for("the cancel", lambda: "publishAt" not in youtube.videos[video_id].meta["status"])
    assert youtube.videos[video_id].meta["status"]["privacyStatus"] == "private"
    assert youtube.count("update") == updates + 2

    # Posted at once (no publish time): already shown, a reschedule leaves it alone.
    shown, shown_id = scheduled_upload(world, None)
    send(world.bootstrap, world.ingest.prefix, POSTS_SCHEDULE, change(shown, publish_at=later))
    marker = f"{shown}/p1-youtube moved to {later.isoformat()}"
    world.wait_for("the publisher reading the change", lambda: marker in world.publisher.log_text())
    assert youtube.count("update") == updates + 2
    assert "publishAt" not in youtube.videos[shown_id].meta["status"]
