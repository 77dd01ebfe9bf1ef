"""The post's state machine, as a table: what the ledger says and the time in, one action out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loa_core.contracts import (
    NOT_NEEDED,
    Approval,
    FootageMetadata,
    PostDecision,
    PostText,
    approval_of,
    chosen_frame,
    chosen_text,
)
from loa_publisher.decide import (
    AWAITING_APPROVAL,
    CANCELLED,
    DISCONNECTED,
    NEVER,
    Action,
    Announce,
    Fail,
    GiveUp,
    Hold,
    Leave,
    Post,
    Reject,
    Seen,
    after_transient,
    decide,
    rejected_because,
)
from loa_publisher.ledger import PostState

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
FRESH, QUIET = NOW - MIN, NOW - 10 * MIN  # heartbeats against a 5-minute abandoned_after


def act(
    seen: Seen,
    *,
    platform: str = "tiktok",
    publish_at: datetime | None = None,
    has_adapter: bool = True,
    connected: bool = True,
    shared: bool = False,
    approval: Approval = NOT_NEEDED,
    cancelled: bool = False,
) -> Action:
    return decide(
        seen,
        now=NOW,
        platform=platform,
        publish_at=publish_at,
        has_adapter=has_adapter,
        connected=connected,
        shared_ledger=shared,
        abandoned_after=5 * MIN,
        approval=approval,
        cancelled=cancelled,
    )


@pytest.mark.parametrize(
    ("seen", "options", "expected"),
    [
        (Seen(), {}, Post(claim=False)),  # never seen: post
        (Seen(PostState.POSTED), {"publish_at": NOW + MIN}, Announce()),  # posted: announce, never again
        (Seen(PostState.FAILED), {}, Leave("failed: waits for a person (`loa retry`)")),
        # In flight on a shared ledger: another worker's while its heartbeat is fresh, reclaimable once quiet.
        (Seen(PostState.UPLOADING, updated_at=FRESH), {"shared": True}, Leave("another worker is posting it")),
        (Seen(PostState.PENDING, updated_at=FRESH), {"shared": True}, Leave("another worker is posting it")),
        (Seen(PostState.UPLOADING, updated_at=QUIET), {"shared": True}, Post(claim=False)),
        # In flight on an embedded ledger: ours from before a crash, resumed at once.
        (Seen(PostState.UPLOADING, updated_at=FRESH), {}, Post(claim=False)),
        (
            Seen(PostState.SCHEDULED, due_at=NOW + MIN),
            {"publish_at": NOW + MIN},
            Leave(f"held until {(NOW + MIN).isoformat()}"),
        ),
        (Seen(PostState.SCHEDULED, due_at=NOW), {}, Post(claim=True)),  # due: claimed first
        (Seen(), {"publish_at": NOW + MIN}, Hold(NOW + MIN)),  # a publish time ahead: held
        (Seen(), {"publish_at": NOW + MIN, "platform": "youtube"}, Post(claim=False)),  # YouTube schedules itself
        (Seen(), {"publish_at": NOW - MIN}, Post(claim=False)),  # a publish time passed: at once
        (Seen(), {"has_adapter": False}, Fail("no adapter for platform 'tiktok'")),
        # A channel that is not connected: the post waits, due at once (every tick asks again), with the reason.
        (Seen(), {"connected": False}, Hold(NOW, reason=DISCONNECTED)),
        (Seen(PostState.UPLOADING, updated_at=FRESH), {"connected": False}, Hold(NOW, reason=DISCONNECTED)),
        (Seen(PostState.SCHEDULED, due_at=NOW), {"connected": False}, Hold(NOW, reason=DISCONNECTED)),
        # Held for it already: left as it is while the channel stays disconnected, posted once it is connected.
        (Seen(PostState.SCHEDULED, due_at=QUIET, reason=DISCONNECTED), {"connected": False}, Leave(DISCONNECTED)),
        (Seen(PostState.SCHEDULED, due_at=QUIET, reason=DISCONNECTED), {}, Post(claim=True)),
        # A publish time ahead comes first: held until then, the connection asked about at that time.
        (Seen(), {"connected": False, "publish_at": NOW + MIN}, Hold(NOW + MIN)),
        (
            Seen(PostState.SCHEDULED, due_at=NOW + MIN),
            {"connected": False, "publish_at": NOW + MIN},
            Leave(f"held until {(NOW + MIN).isoformat()}"),
        ),
        # Posted or failed before it was disconnected: as always.
        (Seen(PostState.POSTED), {"connected": False}, Announce()),
        (Seen(PostState.FAILED), {"connected": False}, Leave("failed: waits for a person (`loa retry`)")),
        # Another worker's upload in flight is still its own.
        (
            Seen(PostState.UPLOADING, updated_at=FRESH),
            {"shared": True, "connected": False},
            Leave("another worker is posting it"),
        ),
        # A person moved the time of a post held for it (contracts.schedule): held until the new time, or out now.
        (Seen(PostState.SCHEDULED, due_at=NOW + MIN), {"publish_at": NOW + 2 * MIN}, Hold(NOW + 2 * MIN)),
        (Seen(PostState.SCHEDULED, due_at=NOW + MIN), {}, Post(claim=True)),
        (Seen(PostState.SCHEDULED, due_at=NOW + MIN), {"publish_at": NOW - MIN}, Post(claim=True)),
        # A hold for another reason (a quota, a platform down) is waited out whatever the publish time.
        (
            Seen(PostState.SCHEDULED, due_at=NOW + MIN, reason="quota"),
            {},
            Leave(f"held until {(NOW + MIN).isoformat()}"),
        ),
        (
            Seen(PostState.SCHEDULED, due_at=NOW + MIN, failing_since=QUIET),
            {},
            Leave(f"held until {(NOW + MIN).isoformat()}"),
        ),
        # Cancelled: held for ever (once), until a change gives it a time again; what went out stays out.
        (Seen(), {"cancelled": True}, Hold(NEVER, reason=CANCELLED)),
        (Seen(PostState.SCHEDULED, due_at=NOW + MIN), {"cancelled": True}, Hold(NEVER, reason=CANCELLED)),
        (Seen(PostState.SCHEDULED, due_at=NEVER, reason=CANCELLED), {"cancelled": True}, Leave(CANCELLED)),
        (Seen(PostState.SCHEDULED, due_at=NEVER, reason=CANCELLED), {"publish_at": NOW + MIN}, Hold(NOW + MIN)),
        (Seen(PostState.SCHEDULED, due_at=NEVER, reason=CANCELLED), {}, Post(claim=True)),
        (Seen(PostState.POSTED), {"cancelled": True}, Announce()),
    ],
)
def test_decide(seen: Seen, options: dict[str, object], expected: Action) -> None:
    assert act(seen, **options) == expected  # type: ignore[arg-type]


AWAITING, APPROVED = Approval(needed=True), Approval(needed=True, approved=True)
REJECTED = Approval(needed=True, rejection="Sai tên")
REJECTION = rejected_because("Sai tên")


@pytest.mark.parametrize(
    ("seen", "options", "expected"),
    [
        # No decision on exactly this cut and text: waits, due at once (the scheduler and the decision ask again).
        (Seen(), {"approval": AWAITING}, Hold(NOW, reason=AWAITING_APPROVAL)),
        (
            Seen(PostState.SCHEDULED, due_at=QUIET, reason=AWAITING_APPROVAL),
            {"approval": AWAITING},
            Leave(AWAITING_APPROVAL),
        ),
        # Approved: as any post (claimed first when it was held for it).
        (Seen(), {"approval": APPROVED}, Post(claim=False)),
        (Seen(PostState.SCHEDULED, due_at=QUIET, reason=AWAITING_APPROVAL), {"approval": APPROVED}, Post(claim=True)),
        (Seen(), {"approval": APPROVED, "publish_at": NOW + MIN}, Hold(NOW + MIN)),
        (Seen(), {"approval": APPROVED, "connected": False}, Hold(NOW, reason=DISCONNECTED)),
        # A publish time ahead: held until then, the approval asked about at that time.
        (
            Seen(PostState.SCHEDULED, due_at=NOW + MIN),
            {"approval": AWAITING, "publish_at": NOW + MIN},
            Leave(f"held until {(NOW + MIN).isoformat()}"),
        ),
        # Rejected: at once, even while held for its time; said once.
        (Seen(), {"approval": REJECTED}, Reject(REJECTION)),
        (Seen(PostState.SCHEDULED, due_at=NOW + MIN), {"approval": REJECTED}, Reject(REJECTION)),
        (Seen(PostState.REJECTED, reason=REJECTION), {"approval": REJECTED}, Leave(REJECTION)),
        # A rejected post comes back only with an approval of exactly what it would send.
        (
            Seen(PostState.REJECTED, reason=REJECTION),
            {"approval": AWAITING},
            Leave("rejected: waits for an approver's new decision"),
        ),
        (Seen(PostState.REJECTED, reason=REJECTION), {}, Leave("rejected: waits for an approver's new decision")),
        (Seen(PostState.REJECTED, reason=REJECTION), {"approval": APPROVED}, Post(claim=True)),
        # Posted stays posted, failed stays failed, whatever is decided after.
        (Seen(PostState.POSTED), {"approval": REJECTED}, Announce()),
        (Seen(PostState.FAILED), {"approval": APPROVED}, Leave("failed: waits for a person (`loa retry`)")),
    ],
)
def test_decide_with_approval(seen: Seen, options: dict[str, object], expected: Action) -> None:
    assert act(seen, **options) == expected  # type: ignore[arg-type]


CUT, OTHER = "a" * 64, "b" * 64
META = FootageMetadata(title="Lễ chào cờ", channels=("yt",))


def _decision(decision: str = "approved", cut: str = CUT, text: PostText | None = None) -> PostDecision:
    seen_text = text or PostText.of(META)
    return PostDecision(
        footage_id="3b1f5c0e2d9a4e6f8a7b6c5d4e3f2a1b",
        channel="yt",
        decision=decision,  # type: ignore[arg-type]
        by="acc-1",
        reason="Sai tên" if decision == "rejected" else None,
        cuts={} if decision == "edited" else {"youtube": cut},
        text=text,
        text_sha256=seen_text.sha256(),
    )


EDITED = PostText(title="Lễ chào cờ đầu tháng", description="Sửa trước khi đăng", hashtags=("#PhườngMột",))
CHANGED = PostText(title="Đã sửa")


@pytest.mark.parametrize(
    ("required", "decision", "cut", "metadata", "expected"),
    [
        (False, None, CUT, META, NOT_NEEDED),
        (False, _decision("rejected"), CUT, META, NOT_NEEDED),  # the channel's rule decides whether it counts
        (True, None, CUT, META, AWAITING),
        (True, _decision(), CUT, META, APPROVED),
        (True, _decision(), OTHER, META, AWAITING),  # the cut was made again: approve it again
        (True, _decision(), None, META, AWAITING),  # a cut from before sha256s were recorded: nothing to match
        (True, _decision(), CUT, META.model_copy(update={"title": "Lễ chào cờ tháng 12"}), AWAITING),  # text changed
        (True, _decision(text=PostText(title="Đã sửa")), CUT, META.model_copy(update={"title": "Khác"}), APPROVED),
        (True, _decision("rejected"), CUT, META, REJECTED),
        (True, _decision("rejected", cut=OTHER), CUT, META, AWAITING),  # rejected another cut: decide this one
        # An editor's edit is the newest decision: whatever was approved or rejected before, approve the edit.
        (True, _decision("edited", text=EDITED), CUT, META, AWAITING),
        (False, _decision("edited", text=EDITED), CUT, META, NOT_NEEDED),
    ],
)
def test_the_approval_of_a_post(
    required: bool, decision: PostDecision | None, cut: str | None, metadata: FootageMetadata, expected: Approval
) -> None:
    own = PostText.of(metadata).sha256()
    assert approval_of(required, decision, profile="youtube", cut_sha256=cut, own_text_sha256=own) == expected


@pytest.mark.parametrize(
    ("decision", "approval", "expected"),
    [
        (None, NOT_NEEDED, None),  # nobody changed it: the channel's templates over the footage's own
        (_decision("edited", text=EDITED), NOT_NEEDED, EDITED),  # a channel without approval posts the edit
        (_decision("edited", text=EDITED), AWAITING, None),  # one with approval waits for an approval of it
        (_decision(text=CHANGED), APPROVED, CHANGED),  # the approver's change
        (_decision(), APPROVED, None),  # approved as written
        (_decision(text=CHANGED), NOT_NEEDED, CHANGED),  # approval turned off since: the approved words still go
        (_decision("rejected"), NOT_NEEDED, None),
        (_decision("rejected"), REJECTED, None),
    ],
)
def test_the_text_a_post_goes_out_with(decision: PostDecision | None, approval: Approval, expected: PostText) -> None:
    assert chosen_text(decision, approval) == expected


def test_the_still_a_post_goes_out_with_follows_the_same_rule_as_its_text() -> None:
    picked = _decision("edited", text=EDITED).model_copy(update={"frame": 2})
    assert chosen_frame(picked, NOT_NEEDED) == 2
    assert chosen_frame(picked, AWAITING) is None, "an approval channel waits for the pick to be approved"
    assert chosen_frame(_decision().model_copy(update={"frame": 3}), APPROVED) == 3
    assert chosen_frame(_decision(), APPROVED) is None and chosen_frame(None, NOT_NEEDED) is None


def test_an_edit_names_its_text_and_an_approval_its_cuts() -> None:
    with pytest.raises(ValueError, match="an edit needs the text"):
        _decision("edited")
    with pytest.raises(ValueError, match="names the cuts"):
        PostDecision.model_validate({**_decision().model_dump(), "cuts": {}})


def test_transient_failures_are_held_until_they_have_lasted_too_long() -> None:
    hold, give_up = 5 * MIN, timedelta(hours=24)
    first = after_transient(None, now=NOW, hold=hold, give_up_after=give_up)
    assert first == Hold(NOW + hold, failing_since=NOW)  # the run of failures starts now
    later = NOW + timedelta(hours=23)
    assert after_transient(NOW, now=later, hold=hold, give_up_after=give_up) == Hold(later + hold, failing_since=NOW)
    end = NOW + give_up
    assert after_transient(NOW, now=end, hold=hold, give_up_after=give_up) == GiveUp(NOW)


def test_a_publisher_on_a_ledger_of_its_own_must_be_alone_in_its_group() -> None:
    from loa_publisher.decide import replica_conflict

    assert replica_conflict(shared_ledger=False, owned=6, partitions=6) is None  # alone: it owns every partition
    assert replica_conflict(shared_ledger=True, owned=3, partitions=6) is None  # replicas on one PostgreSQL ledger
    for owned in (0, 3):  # another member holds the rest
        reason = replica_conflict(shared_ledger=False, owned=owned, partitions=6)
        assert reason is not None and "LOA_DATABASE_URL" in reason and "đăng hai lần" in reason
