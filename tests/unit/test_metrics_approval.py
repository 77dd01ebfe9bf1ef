"""The status view says where each expected post to a channel that requires approval stands with the approvers
(awaiting, approved, rejected with the reason), and shows what an approval names: each cut's sha256 and the
fingerprint of the footage's own text."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from loa_core.channel_registry import ChannelRegistry
from loa_core.contracts import (
    ApprovalView,
    Channel,
    FootageStatus,
    PostDecision,
    PostFailed,
    PostText,
    RenditionsReady,
    new_id,
)
from loa_metrics.projection import open_projection
from tests.support.metrics_events import T0, published, renditions, uploaded

YT = Channel(name="p1-yt", platform="youtube", profiles=("youtube",), ward="p1", approval_required=True)
LOCAL = Channel(name="local", platform="local", profiles=("tiktok",))
CUTS = {"tiktok": "a" * 64, "youtube": "b" * 64}


def _renditions(footage_id: str) -> RenditionsReady:
    event = renditions(footage_id, channels=("local", "p1-yt"))
    cuts = tuple(r.model_copy(update={"sha256": CUTS[r.profile]}) for r in event.renditions)
    return event.model_copy(update={"renditions": cuts})


def _decision(event: RenditionsReady, verdict: str, *, minutes: int, cut: str = CUTS["youtube"]) -> PostDecision:
    return PostDecision(
        footage_id=event.footage_id,
        occurred_at=T0 + timedelta(minutes=minutes),
        ward="p1",
        channel="p1-yt",
        decision=verdict,  # type: ignore[arg-type]
        by="acc-approver",
        reason="Sai tên" if verdict == "rejected" else None,
        cuts={"youtube": cut},
        text_sha256=PostText.of(event.metadata).sha256(),
    )


def test_the_view_follows_each_post_through_approval(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "projection.sqlite3", ChannelRegistry([YT, LOCAL]))
    events, views = projection.events, projection.views
    footage_id = new_id()
    ready = _renditions(footage_id)
    events.footage_uploaded(uploaded(footage_id, channels=("local", "p1-yt")))
    events.renditions_ready(ready)
    events.post_published(published(footage_id, "tiktok"))  # local: no approval needed

    def approvals() -> tuple[ApprovalView, ...]:
        view = views.footage(footage_id)
        assert view is not None
        return view.stages.published.approvals

    view = views.footage(footage_id)
    assert view is not None and view.text_sha256 == PostText.of(ready.metadata).sha256()
    assert {r.profile: r.sha256 for r in view.stages.transcoded.renditions} == CUTS
    assert approvals() == (ApprovalView(channel="p1-yt", profile="youtube", state="awaiting"),)
    assert view.status is FootageStatus.PUBLISHING

    assert events.post_decision(_decision(ready, "approved", minutes=1, cut="c" * 64))  # another cut
    assert [a.state for a in approvals()] == ["awaiting"]
    rejection = _decision(ready, "rejected", minutes=2)
    assert events.post_decision(rejection)
    assert not events.post_decision(_decision(ready, "approved", minutes=0))  # older, arriving late: ignored
    assert approvals() == (
        ApprovalView(
            channel="p1-yt",
            profile="youtube",
            state="rejected",
            reason="Sai tên",
            by="acc-approver",
            decided_at=rejection.occurred_at,
        ),
    )
    failed = PostFailed(
        footage_id=footage_id,
        occurred_at=T0 + timedelta(minutes=3),
        channel="p1-yt",
        platform="youtube",
        reason="rejected by an approver: Sai tên / bị từ chối khi duyệt: Sai tên",
    )
    events.failure(failed)
    assert views.status(footage_id) is FootageStatus.FAILED

    events.post_decision(_decision(ready, "approved", minutes=4))  # the approver changed their mind
    assert [a.state for a in approvals()] == ["approved"]
    events.post_published(
        published(footage_id, "youtube", channel="p1-yt", platform="youtube", at=T0 + timedelta(minutes=5))
    )
    assert approvals() == () and views.status(footage_id) is FootageStatus.PUBLISHED
