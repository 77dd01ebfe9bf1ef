"""What to do with one (footage, channel, cut) post, decided from the ledger's record, the time and the approval
(pure).

`decide` runs before the adapter is called; `after_transient` after an adapter call that stayed down through its
backoff. `Publisher` does the I/O around them: it reads the ledger, acts on the answer and writes the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loa_core.contracts import MANUAL_ACTION_URLS, NOT_NEEDED, ActionKind, Approval, Unpublish, allows
from loa_core.contracts.feedback import ActionKind as FeedbackActionKind
from loa_core.contracts.feedback import can
from loa_publisher.ledger import WENT_OUT, ActionState, PostState

# Platforms that schedule a post themselves (YouTube's publishAt): uploaded at once, shown at the time.
NATIVE_SCHEDULING = frozenset({"youtube"})

# Why a post waits for its channel (the ledger's reason): the channel registry says it is not connected.
DISCONNECTED = (
    "channel disconnected: a ward admin must reconnect it / kênh mất kết nối: quản trị phường cần kết nối lại"
)


# Why a post waits for an approver (the ledger's reason): its channel requires approval and no decision covers exactly
# the cut and the text it is about to send (none yet, or one made on another cut or text).
AWAITING_APPROVAL = (
    "awaiting approval: an approver of the ward must approve this cut and text / chờ duyệt: người duyệt của phường"
    " cần duyệt bản dựng và nội dung này"
)


# Why a post is not going out (the ledger's reason): a person cancelled its publish time (contracts.schedule); it is
# held with a due time the scheduler never reaches, until a later change gives it a time again.
CANCELLED = "cancelled by a person: never posted unless rescheduled / đã hủy lịch đăng: chỉ đăng khi được hẹn lại giờ"
NEVER = datetime(9999, 12, 31, tzinfo=UTC)


def rejected_because(reason: str) -> str:
    """What the ledger and posts.failed say about a post an approver rejected."""
    return f"rejected by an approver: {reason} / bị từ chối khi duyệt: {reason}"


@dataclass(frozen=True)
class Seen:
    """What the ledger says about a post (all None for a post it has never seen)."""

    state: PostState | None = None
    due_at: datetime | None = None
    updated_at: datetime | None = None
    failing_since: datetime | None = None
    reason: str | None = None  # why it is held or failed


@dataclass(frozen=True)
class Announce:
    """Posted before (a redelivery, a crash after posting): announce it again, never post it again."""


@dataclass(frozen=True)
class Leave:
    """Nothing to do now; `why` is for the log."""

    why: str


@dataclass(frozen=True)
class Hold:
    """Keep the post in the ledger until `until`; `failing_since` is when a run of transient failures began;
    `reason` is what the ledger shows while it is held."""

    until: datetime
    failing_since: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Post:
    """Call the adapter (with the stored session). `claim`: take the held row first; another worker may have."""

    claim: bool


@dataclass(frozen=True)
class Fail:
    """A post that cannot be made without a person acting."""

    reason: str


@dataclass(frozen=True)
class Reject:
    """An approver rejected exactly this post: never posted (unless a later decision approves it); `reason` is what
    the ledger and posts.failed say."""

    reason: str


Action = Announce | Leave | Hold | Post | Fail | Reject


def decide(
    seen: Seen,
    *,
    now: datetime,
    platform: str,
    publish_at: datetime | None,
    has_adapter: bool,
    connected: bool,
    shared_ledger: bool,
    abandoned_after: timedelta,
    approval: Approval = NOT_NEEDED,
    cancelled: bool = False,
) -> Action:
    """The post's state machine before an attempt. `connected`: the channel registry says the channel can post;
    `approval`: what the approvers said about exactly this cut and text (`approval_of`); `publish_at` the post's
    time now (a person's newest schedule change, else the footage's), `cancelled` if that change cancelled it."""
    if seen.state in (PostState.POSTED, PostState.EDITED):
        return Announce()
    if seen.state is PostState.UNPUBLISHED:
        return Leave("unpublished: a person took it down; never posted again")
    if seen.state is PostState.FAILED:
        return Leave("failed: waits for a person (`loa retry`)")
    if cancelled:
        if seen.state is PostState.SCHEDULED and seen.reason == CANCELLED:
            return Leave(CANCELLED)
        return Hold(NEVER, reason=CANCELLED)
    if approval.rejection is not None:
        # At once, even for a post held until its publish time: the editor sees the reason now.
        reason = rejected_because(approval.rejection)
        if seen.state is PostState.REJECTED and seen.reason == reason:
            return Leave(reason)
        return Reject(reason)
    if seen.state is PostState.REJECTED and not approval.approved:
        # Only an approval of exactly what it is about to send brings a rejected post back (not a cut made again,
        # nor a ward admin turning approval off).
        return Leave("rejected: waits for an approver's new decision")
    # Only a shared ledger can have another worker behind a fresh in-flight row: an embedded one has one worker,
    # whose in-flight rows are its own from before a crash. If that worker dies, the scheduler reclaims the post
    # once its heartbeat stops.
    live = seen.updated_at is not None and seen.updated_at > now - abandoned_after
    if seen.state in (PostState.PENDING, PostState.UPLOADING) and shared_ledger and live:
        return Leave("another worker is posting it")
    # Held for its publish time (no reason, no failures) and the time was changed since, or cancelled then given a
    # time again: decided again below. Any other hold (a platform down, a quota) is waited out.
    moved = seen.reason == CANCELLED or (
        seen.reason is None and seen.failing_since is None and seen.due_at != publish_at
    )
    if seen.state is PostState.SCHEDULED and seen.due_at is not None and seen.due_at > now and not moved:
        return Leave(f"held until {seen.due_at.isoformat()}")
    if approval.awaiting:
        # Waits, due at once, like a disconnected channel's post; the decision re-drives it when it comes.
        if seen.state is PostState.SCHEDULED and seen.reason == AWAITING_APPROVAL:
            return Leave(AWAITING_APPROVAL)
        return Hold(now, reason=AWAITING_APPROVAL)
    if publish_at is not None and publish_at > now and platform not in NATIVE_SCHEDULING:
        return Hold(publish_at)
    if not connected:
        # Waits, due at once, so every tick of the scheduler asks again, and it goes out at the first tick after the
        # channel is connected again; held once (a ledger write), then left alone while it stays disconnected.
        if seen.state is PostState.SCHEDULED and seen.reason == DISCONNECTED:
            return Leave(DISCONNECTED)
        return Hold(now, reason=DISCONNECTED)
    if not has_adapter:
        return Fail(f"no adapter for platform {platform!r}")
    # A held or rejected row is claimed first (a conditional update only one worker wins).
    return Post(claim=seen.state in (PostState.SCHEDULED, PostState.REJECTED))


@dataclass(frozen=True)
class GiveUp:
    """Transient failures for longer than allowed: show the post as failed (retryable with `loa retry`)."""

    failing_since: datetime


def after_transient(
    failing_since: datetime | None, *, now: datetime, hold: timedelta, give_up_after: timedelta
) -> Hold | GiveUp:
    """After an attempt that stayed down through its backoff: try again later, or give up once the failures
    have lasted `give_up_after` (counted from the first failure of the run, which a success or `loa retry` ends)."""
    since = failing_since or now
    if now - since >= give_up_after:
        return GiveUp(since)
    return Hold(now + hold, failing_since=since)


def replica_conflict(*, shared_ledger: bool, owned: int, partitions: int) -> str | None:
    """Why this publisher must not post, or None (English / Vietnamese).

    A ledger of its own (SQLite) knows only this worker's posts, so it must be the only publisher in its consumer
    group: a post redelivered from one worker to another (a crash between the post and the commit, a rebalance when a
    replica joins) would be posted again by a worker whose ledger never saw it. A lone member of a group owns every
    partition of renditions.ready; owning fewer means another publisher is consuming beside it.
    """
    if shared_ledger or owned >= partitions:
        return None
    return (
        f"another publisher shares this consumer group ({owned} of {partitions} partitions here) but this one's"
        " ledger is its own (SQLite), so a post moved between them would be posted twice: give every publisher the"
        " same PostgreSQL database (LOA_DATABASE_URL), or run one publisher / một publisher khác đang dùng chung"
        f" nhóm consumer ({owned}/{partitions} phân vùng ở đây) nhưng sổ ghi của publisher này là riêng (SQLite),"
        " nên một bài chuyển giữa hai worker sẽ bị đăng hai lần: cho mọi publisher dùng cùng một cơ sở dữ liệu"
        " PostgreSQL (LOA_DATABASE_URL), hoặc chỉ chạy một publisher"
    )


# --- people's actions on posts that went out (posts.actions)


@dataclass(frozen=True)
class Act:
    """Ask the platform. `again`: an earlier attempt may have reached it (a crash mid-action): the call is repeated,
    which every platform's call allows (the same text set again; a video already deleted counts as deleted)."""

    again: bool


@dataclass(frozen=True)
class Repeat:
    """This action was answered already (a redelivery): announce the same answer again, never act twice."""


@dataclass(frozen=True)
class Refuse:
    """The action cannot be done on this post (bilingual, for the page): announced as failed, never tried."""

    reason: str


ActionStep = Act | Repeat | Refuse


def no_api(platform: str, action: ActionKind) -> str:
    """Why an action is refused on a platform whose API cannot do it, with where a person does it by hand."""
    what_en, what_vi = ("change its text", "sửa nội dung") if action == "edit" else ("take it down", "gỡ bài")
    by_hand = MANUAL_ACTION_URLS.get(platform)
    if by_hand is None:
        return f"{platform} offers no API to {what_en} / {platform} không có API để {what_vi}"
    return (
        f"{platform} offers no API to {what_en}: do it by hand in {platform}'s app or at {by_hand} / {platform}"
        f" không có API để {what_vi}: hãy làm trực tiếp trong ứng dụng {platform} hoặc tại {by_hand}"
    )


NOT_OUT = "the post has not gone out (nothing to change) / bài chưa được đăng (không có gì để sửa)"
TAKEN_DOWN = "the post was taken down already / bài đã được gỡ"


def decide_action(
    post: PostState | None,
    done: ActionState | None,
    *,
    platform: str,
    action: ActionKind,
    how: Unpublish | None,
    has_adapter: bool,
) -> ActionStep:
    """One action on one post, from the post's state and what the ledger knows of this action id (pure)."""
    if done in (ActionState.DONE, ActionState.FAILED):
        return Repeat()
    if post not in WENT_OUT:
        return Refuse(NOT_OUT)
    if not allows(platform, action, how) or not has_adapter:
        return Refuse(no_api(platform, action))
    if post is PostState.UNPUBLISHED and (action == "edit" or how == "private"):
        # A deleted post cannot be edited or hidden; deleting it again is harmless (a hidden one can be deleted).
        return Refuse(TAKEN_DOWN)
    return Act(again=done is ActionState.DOING)


# --- people's acts on citizens' comments and messages (feedback.actions)

# The acts that reach a platform; the others (assign, tag, handled, reopen) live in the inbox only.
ON_PLATFORM: frozenset[FeedbackActionKind] = frozenset({"reply", "hide", "unhide"})


@dataclass(frozen=True)
class Ignore:
    """Not the publisher's act (assign, tag, handled, reopen: the inbox's own)."""


FeedbackStep = Act | Repeat | Refuse | Ignore

UNKNOWN_CHANNEL = (
    "the channel is not configured in the publisher, or belongs to another ward / kênh chưa được cấu hình trong"
    " publisher, hoặc thuộc phường khác"
)


def no_feedback_api(platform: str, action: FeedbackActionKind) -> str:
    """Why a reply or a hide is refused on a platform whose API cannot do it (contracts.feedback.FEEDBACK_ABILITIES)."""
    what_en, what_vi = (
        ("reply", "trả lời") if action == "reply" else ("hide or show a comment", "ẩn hay hiện bình luận")
    )
    return (
        f"{platform} offers no API to {what_en}: do it in {platform}'s own app / {platform} không có API để {what_vi}:"
        f" hãy làm trực tiếp trong ứng dụng {platform}"
    )


def decide_feedback(
    action: FeedbackActionKind, done: ActionState | None, *, platform: str | None, has_adapter: bool
) -> FeedbackStep:
    """One act on one comment or message, from what the ledger knows of its action id (pure). `platform`: the
    channel's, None when the channel is not the publisher's (unknown here, or of another ward)."""
    if action not in ON_PLATFORM:
        return Ignore()
    if done in (ActionState.DONE, ActionState.FAILED):
        return Repeat()
    if platform is None:
        return Refuse(UNKNOWN_CHANNEL)
    if not can(platform, "reply" if action == "reply" else "hide") or not has_adapter:
        return Refuse(no_feedback_api(platform, action))
    # DOING: an earlier attempt may have reached the platform (a crash): a reply is looked for before it is made again.
    return Act(again=done is ActionState.DOING)
