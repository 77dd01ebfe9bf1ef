"""A post a person changed or took down (posts.changed): the status view shows it edited (with its new title kept) or
unpublished, an unpublished post is no longer polled for statistics, and a failed action or an edit answered after
the takedown changes nothing."""

from __future__ import annotations

from pathlib import Path

from loa_core.channel_registry import ChannelRegistry
from loa_core.contracts import ChangeState, Channel, PostChanged, new_id
from loa_metrics.projection import open_projection
from tests.support.metrics_events import published, renditions, uploaded

YT = Channel(name="yt", platform="youtube", profiles=("youtube",))


def changed(footage_id: str, state: ChangeState, **fields: object) -> PostChanged:
    return PostChanged(
        footage_id=footage_id,
        channel="yt",
        platform="youtube",
        profile="youtube",
        post_id="vid-1",
        action_id=new_id(),
        state=state,
        **fields,  # type: ignore[arg-type]
    )


def test_the_view_shows_a_post_edited_then_unpublished_and_stops_polling_it(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "projection.sqlite3", ChannelRegistry([YT]))
    events, views = projection.events, projection.views
    footage_id = new_id()
    events.footage_uploaded(uploaded(footage_id, channels=("yt",)))
    events.renditions_ready(renditions(footage_id, channels=("yt",)))
    events.post_published(published(footage_id, "youtube", channel="yt", platform="youtube", post_id="vid-1"))

    def state() -> str:
        view = views.footage(footage_id)
        assert view is not None
        (post,) = view.stages.published.posts
        return post.state

    assert state() == "published"
    assert [p.post_id for p in projection.engagement.published_posts("youtube")] == ["vid-1"]
    assert not events.post_changed(changed(footage_id, "failed", reason="youtube: HTTP 403: quotaExceeded"))
    assert state() == "published"
    assert events.post_changed(changed(footage_id, "edited", title="Tiêu đề đã sửa"))
    assert state() == "edited"
    assert events.post_changed(changed(footage_id, "unpublished", how="delete"))
    assert state() == "unpublished"
    assert projection.engagement.published_posts("youtube") == []
    # An edit answered late does not bring a post that was taken down back.
    assert not events.post_changed(changed(footage_id, "edited", title="Muộn"))
    assert state() == "unpublished"
