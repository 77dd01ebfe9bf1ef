"""The durable record of every (footage, channel, cut) post: what makes a redelivered event or a crash harmless.

A post moves PENDING → UPLOADING (the platform's resumable session is stored here before the first byte is sent)
→ POSTED (with the platform's id). SCHEDULED holds a post until `due_at` (a publish time, or a platform quota
that resets tomorrow, an approval); FAILED waits for a person (`loa retry`); REJECTED was refused by an approver.
A POSTED row is never posted again.

The newest approver's decision per (footage, channel) is kept here too (`decisions`), whether or not the post
exists yet: a decision that arrives before the renditions is applied when they do.

SQLite is the embedded default; PostgreSQL when replicas share one ledger (loa_core.db: one SQLAlchemy Core
implementation for both, the schema in loa_publisher/migrations). Every write is one statement in its own
transaction, durable when the call returns: upserts (`INSERT … ON CONFLICT … DO UPDATE`) and conditional
`UPDATE … WHERE state = …` claims, which only one worker can win.

The same database keeps rotated OAuth refresh tokens (Zalo's change on every refresh and must survive restarts),
encrypted with the operator's key (loa_core.secrets) and keyed by (channel, connection): a channel that is connected
again (a new Channel.connection_id) starts from the new connection's token, never the one it replaced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Engine, MetaData, Row, Table, Text, and_, func, select, update

from loa_core import db
from loa_core.contracts import DEFAULT_WARD, PUBLISHER, PostDecision, PostSchedule, utc_now
from loa_core.secrets import SecretBox, SecretKeyMissing, SecretUndecryptable, is_encrypted
from loa_core.streaming import PermanentError, RetryableError

T = TypeVar("T")


class PostState(StrEnum):
    PENDING = "PENDING"
    UPLOADING = "UPLOADING"
    SCHEDULED = "SCHEDULED"
    POSTED = "POSTED"
    FAILED = "FAILED"
    # An approver rejected it: never posted, and not retried; only a later approval of its cut and text re-drives it.
    REJECTED = "REJECTED"
    # Posted, then changed or taken down by a person's action (posts.actions): never posted again.
    EDITED = "EDITED"
    UNPUBLISHED = "UNPUBLISHED"


# States of a post that went out (the platform has, or had, its post id).
WENT_OUT = frozenset({PostState.POSTED, PostState.EDITED, PostState.UNPUBLISHED})


class ActionState(StrEnum):
    """One action (posts.actions) on one post: DOING once the platform may have been asked (a crash then does it
    again, which every platform call allows), DONE or FAILED once answered (never done again)."""

    DOING = "DOING"
    DONE = "DONE"
    FAILED = "FAILED"


@dataclass(frozen=True)
class ActionEntry:
    state: ActionState
    record: str | None  # the PostChanged announced (JSON), once DONE or FAILED


@dataclass(frozen=True)
class FeedbackEntry:
    """One feedback action (reply, hide, unhide) as the ledger knows it."""

    state: ActionState
    started_at: datetime
    reply_id: str | None
    record: str | None  # the FeedbackDone announced (JSON), once DONE or FAILED


@dataclass(frozen=True)
class PostKey:
    footage_id: str
    channel: str
    profile: str


@dataclass(frozen=True)
class LedgerEntry:
    key: PostKey
    state: PostState
    post_id: str | None
    url: str | None
    published_at: datetime | None
    error: str | None
    session: dict[str, Any] | None
    due_at: datetime | None
    # The renditions.ready event (JSON) that asked for this post: what a held or retried post is re-driven from.
    request: str | None
    # When the current run of transient failures began (None when the last attempt did not fail that way).
    failing_since: datetime | None = None
    # Last write or heartbeat: how another worker tells a live upload from an abandoned one.
    updated_at: datetime | None = None
    ward: str = DEFAULT_WARD  # the footage's (from the renditions.ready event that asked for the post)

    @property
    def footage_id(self) -> str:
        return self.key.footage_id

    @property
    def channel(self) -> str:
        return self.key.channel

    @property
    def profile(self) -> str:
        return self.key.profile


# The newest revision of the schema (loa_publisher/migrations/versions): every column TEXT, timestamps ISO-8601 UTC.
metadata = MetaData()
posts = Table(
    "posts",
    metadata,
    Column("footage_id", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("profile", Text, primary_key=True),
    Column("state", Text, nullable=False),
    Column("post_id", Text),
    Column("url", Text),
    Column("published_at", Text),
    Column("error", Text),
    Column("updated_at", Text, nullable=False),
    Column("session", Text),
    Column("due_at", Text),
    Column("request", Text),
    Column("failing_since", Text),
    Column("ward", Text, nullable=False, server_default=DEFAULT_WARD),
)
# The newest decision per (footage, channel): the PostDecision as received, and its time (which one is newest).
decisions = Table(
    "decisions",
    metadata,
    Column("footage_id", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("occurred_at", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("record", Text, nullable=False),
)
# People's schedule changes (reschedule, cancel): the newest per (footage, channel), like decisions.
schedule_changes = Table(
    "schedule_changes",
    metadata,
    Column("footage_id", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("occurred_at", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("record", Text, nullable=False),
)
# Each action on each post (cut): what makes a redelivered action harmless.
actions = Table(
    "actions",
    metadata,
    Column("action_id", Text, primary_key=True),
    Column("profile", Text, primary_key=True),
    Column("footage_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("record", Text),
    Column("updated_at", Text, nullable=False),
)
# People's acts on citizens' comments and messages (feedback.actions: reply, hide, unhide), one row per action id.
feedback_actions = Table(
    "feedback_actions",
    metadata,
    Column("action_id", Text, primary_key=True),
    Column("item_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("external_id", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("reply_id", Text),  # the reply's platform id, once known
    Column("record", Text),  # the FeedbackDone announced (JSON), once DONE or FAILED
    Column("started_at", Text, nullable=False),  # first asked of the platform: a reply made after it may be this one's
    Column("updated_at", Text, nullable=False),
)
# Facebook Reels started per Page (the Page's moving 24-hour cap), one row per reel.
reels = Table(
    "reels",
    metadata,
    Column("page_id", Text, primary_key=True),
    Column("video_id", Text, primary_key=True),
    Column("started_at", Text, nullable=False),
)
connection_tokens = Table(
    "connection_tokens",
    metadata,
    Column("channel", Text, primary_key=True),
    # The channel's Channel.connection_id; "" for credentials from the environment or secret files.
    Column("connection_id", Text, primary_key=True),
    Column("token", Text, nullable=False),  # encrypted (loa_core.secrets)
    Column("updated_at", Text, nullable=False),
)


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _is(key: PostKey) -> Any:
    return and_(posts.c.footage_id == key.footage_id, posts.c.channel == key.channel, posts.c.profile == key.profile)


def _entry(row: Row[Any]) -> LedgerEntry:
    return LedgerEntry(
        key=PostKey(row.footage_id, row.channel, row.profile),
        state=PostState(row.state),
        post_id=row.post_id,
        url=row.url,
        published_at=_ts(row.published_at),
        error=row.error,
        session=json.loads(row.session) if row.session else None,
        due_at=_ts(row.due_at),
        request=row.request,
        failing_since=_ts(row.failing_since),
        updated_at=_ts(row.updated_at),
        ward=row.ward,
    )


class Ledger:
    """`Ledger.open(location)` on start: a SQLite path, or `postgresql://…` for a ledger replicas share."""

    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime] = utc_now, secrets: SecretBox | None = None
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._secrets = secrets
        # Shared by several workers (PostgreSQL): an in-flight row may belong to another, live worker.
        self.shared = engine.dialect.name == "postgresql"

    @classmethod
    def open(
        cls, location: str | Path, *, clock: Callable[[], datetime] = utc_now, secrets: SecretBox | None = None
    ) -> Ledger:
        """Connect and bring the schema to the newest revision (an older ledger is upgraded in place). With the
        operator's keys, stored refresh tokens not encrypted with the first one (plaintext from before encryption,
        or an older key's) are encrypted with it."""
        # FULL: a lost POSTED or session row could post a video twice (docs/decisions/0007). Private: it holds
        # refresh tokens.
        engine = db.make_engine(location, service=PUBLISHER, synchronous="FULL", private=True)
        db.migrate(engine, PUBLISHER)
        ledger = cls(engine, clock=clock, secrets=secrets)
        if secrets is not None:
            ledger.reencrypt_refresh_tokens(secrets)
        return ledger

    def _now(self) -> str:
        return _iso(self._clock())

    def _run(self, work: Callable[[Connection], T]) -> T:
        """One transaction; a database that stays away is retryable: the post waits, it does not fail."""
        try:
            return db.transaction(self._engine, work)
        except db.DatabaseUnavailable as exc:
            raise RetryableError(f"ledger {exc}") from exc

    def close(self) -> None:
        self._engine.dispose()

    # --- reading

    def get(self, footage_id: str, channel: str, profile: str) -> LedgerEntry | None:
        key = PostKey(footage_id, channel, profile)
        row = self._run(lambda c: c.execute(select(posts).where(_is(key))).first())
        return _entry(row) if row else None

    def entries(self, footage_id: str) -> list[LedgerEntry]:
        query = select(posts).where(posts.c.footage_id == footage_id).order_by(posts.c.channel, posts.c.profile)
        return [_entry(r) for r in self._run(lambda c: c.execute(query).all())]

    def due(self, now: datetime) -> list[LedgerEntry]:
        """Held posts whose time has come, oldest first."""
        query = (
            select(posts)
            .where(posts.c.state == PostState.SCHEDULED.value, posts.c.due_at <= _iso(now))
            .order_by(posts.c.due_at)
        )
        return [_entry(r) for r in self._run(lambda c: c.execute(query).all())]

    def next_due(self) -> datetime | None:
        query = select(func.min(posts.c.due_at)).where(posts.c.state == PostState.SCHEDULED.value)
        return _ts(self._run(lambda c: c.execute(query).scalar()))

    # --- writing

    def _upsert(self, key: PostKey, **fields: str | None) -> None:
        values = {**vars(key), "updated_at": self._now(), **fields}
        self._run(lambda c: db.upsert(c, posts, values, update=["updated_at", *fields]))

    def _update(self, key: PostKey, *where: Any, **fields: str | None) -> int:
        """Change the row of `key` if it still matches `where`; how many rows changed (0 or 1)."""
        statement = update(posts).where(_is(key), *where).values(updated_at=self._now(), **fields)
        return self._run(lambda c: c.execute(statement).rowcount)

    def mark_pending(self, key: PostKey, request: str, ward: str) -> None:
        """About to post; keeps any stored upload session so a retry resumes it."""
        self._upsert(key, state=PostState.PENDING.value, error=None, due_at=None, request=request, ward=ward)

    def save_session(self, key: PostKey, session: dict[str, Any]) -> None:
        """The platform's resumable session, durable before any byte of it is sent."""
        self._upsert(key, state=PostState.UPLOADING.value, session=json.dumps(session, sort_keys=True))

    def clear_session(self, key: PostKey) -> None:
        self._update(key, session=None)

    def mark_posted(self, key: PostKey, *, post_id: str, url: str, published_at: datetime) -> None:
        self._upsert(
            key,
            state=PostState.POSTED.value,
            post_id=post_id,
            url=url,
            published_at=published_at.isoformat(),
            error=None,
            due_at=None,
            failing_since=None,
        )

    def mark_failed(self, key: PostKey, error: str, *, keep_session: bool = False) -> None:
        """A post a person must re-drive. After a permanent error the session is dropped (a re-driven post starts
        a fresh upload rather than a dead one); after transient failures it is kept, so `loa retry` resumes it."""
        if keep_session:
            self._upsert(key, state=PostState.FAILED.value, error=error)
        else:
            self._upsert(key, state=PostState.FAILED.value, error=error, session=None)

    def schedule(self, key: PostKey, due_at: datetime, *, request: str, ward: str, reason: str | None = None) -> None:
        """Hold the post until `due_at` (keeps the stored session: a quota wait resumes the same upload)."""
        fields = {"due_at": _iso(due_at), "request": request, "ward": ward, "error": reason}
        self._upsert(key, state=PostState.SCHEDULED.value, **fields)

    def hold_failing(
        self, key: PostKey, due_at: datetime, *, request: str, ward: str, reason: str, failing_since: datetime
    ) -> None:
        """Hold a post whose platform stayed down, remembering when its run of failures began."""
        self._upsert(
            key,
            state=PostState.SCHEDULED.value,
            due_at=_iso(due_at),
            request=request,
            ward=ward,
            error=reason,
            failing_since=_iso(failing_since),
        )

    def claim_due(self, key: PostKey) -> bool:
        """Take a held (or rejected, now approved) post for posting; False when another worker (or an earlier claim)
        already took it."""
        held = posts.c.state.in_([PostState.SCHEDULED.value, PostState.REJECTED.value])
        return self._update(key, held, state=PostState.PENDING.value) == 1

    def mark_rejected(self, key: PostKey, *, request: str, ward: str, reason: str) -> None:
        """An approver rejected the post: kept with its request, so a later approval can re-drive it."""
        fields = {"error": reason, "due_at": None, "request": request, "ward": ward, "session": None}
        self._upsert(key, state=PostState.REJECTED.value, **fields)

    # --- approvers' decisions

    def record_decision(self, decision: PostDecision) -> bool:
        """Keep the decision if it is the newest for its (footage, channel); whether it was (an older or repeated one
        is not)."""
        return self._keep_newest(decisions, decision)

    def record_schedule(self, change: PostSchedule) -> bool:
        """Keep the schedule change if it is the newest for its (footage, channel); whether it was."""
        return self._keep_newest(schedule_changes, change)

    def schedule_change(self, footage_id: str, channel: str) -> PostSchedule | None:
        """The newest schedule change of the footage's post to the channel, or None."""
        where = and_(schedule_changes.c.footage_id == footage_id, schedule_changes.c.channel == channel)
        record = self._run(lambda c: c.execute(select(schedule_changes.c.record).where(where)).scalar())
        return PostSchedule.read_json(record) if record is not None else None

    def _keep_newest(self, table: Table, event: PostDecision | PostSchedule) -> bool:
        """Keep a per-(footage, channel) event in `table` if it is the newest there (occurred_at, then event_id)."""
        where = and_(table.c.footage_id == event.footage_id, table.c.channel == event.channel)
        at = _iso(event.occurred_at)

        def work(c: Connection) -> bool:
            row = c.execute(select(table.c.occurred_at, table.c.event_id).where(where)).first()
            if row is not None and (row.occurred_at, row.event_id) >= (at, event.event_id):
                return False
            values = {
                "footage_id": event.footage_id,
                "channel": event.channel,
                "occurred_at": at,
                "event_id": event.event_id,
                "record": event.model_dump_json(),
            }
            db.upsert(c, table, values, update=["occurred_at", "event_id", "record"])
            return True

        return self._run(work)

    def decision(self, footage_id: str, channel: str) -> PostDecision | None:
        """The newest decision on the footage's post to the channel, or None."""
        where = and_(decisions.c.footage_id == footage_id, decisions.c.channel == channel)
        record = self._run(lambda c: c.execute(select(decisions.c.record).where(where)).scalar())
        return PostDecision.read_json(record) if record is not None else None

    # --- people's actions on posts that went out

    def action(self, action_id: str, profile: str) -> ActionEntry | None:
        where = and_(actions.c.action_id == action_id, actions.c.profile == profile)
        row = self._run(lambda c: c.execute(select(actions.c.state, actions.c.record).where(where)).first())
        return ActionEntry(ActionState(row.state), row.record) if row is not None else None

    def start_action(self, action_id: str, key: PostKey) -> None:
        """About to ask the platform: durable before the call, so a crash leaves DOING (done again, safely)."""
        values = {
            "action_id": action_id,
            "profile": key.profile,
            "footage_id": key.footage_id,
            "channel": key.channel,
            "state": ActionState.DOING.value,
            "record": None,
            "updated_at": self._now(),
        }
        self._run(lambda c: db.upsert(c, actions, values, update=["state", "updated_at"]))

    def finish_action(self, action_id: str, key: PostKey, *, record: str, post_state: PostState | None) -> None:
        """The platform answered: the action DONE (with `post_state`, the post's new state) or FAILED (None), with
        the PostChanged it announces, in one transaction."""
        state = ActionState.DONE if post_state is not None else ActionState.FAILED
        values = {
            "action_id": action_id,
            "profile": key.profile,
            "footage_id": key.footage_id,
            "channel": key.channel,
            "state": state.value,
            "record": record,
            "updated_at": self._now(),
        }

        def work(c: Connection) -> None:
            db.upsert(c, actions, values, update=["state", "record", "updated_at"])
            if post_state is not None:
                c.execute(update(posts).where(_is(key)).values(state=post_state.value, updated_at=values["updated_at"]))

        self._run(work)

    # --- people's acts on citizens' comments and messages (feedback.actions)

    def feedback(self, action_id: str) -> FeedbackEntry | None:
        query = select(feedback_actions).where(feedback_actions.c.action_id == action_id)
        row = self._run(lambda c: c.execute(query).first())
        if row is None:
            return None
        started = _ts(row.started_at)
        assert started is not None
        return FeedbackEntry(ActionState(row.state), started, row.reply_id, row.record)

    def start_feedback(self, action_id: str, *, item_id: str, channel: str, external_id: str, action: str) -> None:
        """About to ask the platform: durable before the call, so a crash leaves DOING (and when it began: a reply
        found in the thread afterwards, made since then and by no other action, is this one's)."""
        now = self._now()
        values = {
            "action_id": action_id,
            "item_id": item_id,
            "channel": channel,
            "external_id": external_id,
            "action": action,
            "state": ActionState.DOING.value,
            "started_at": now,
            "updated_at": now,
        }
        self._run(lambda c: db.insert_ignore(c, feedback_actions, values))

    def finish_feedback(self, action_id: str, *, done: bool, record: str, reply_id: str | None = None) -> None:
        """The platform answered: DONE (with the reply's id for a reply) or FAILED, with the FeedbackDone announced."""
        state = ActionState.DONE if done else ActionState.FAILED
        statement = (
            update(feedback_actions)
            .where(feedback_actions.c.action_id == action_id)
            .values(state=state.value, record=record, reply_id=reply_id, updated_at=self._now())
        )
        self._run(lambda c: c.execute(statement))

    def replies_made(self, channel: str, external_id: str) -> frozenset[str]:
        """The platform ids of the replies Loa's actions made to one comment or message: what a reply read back from
        the thread must not be (it belongs to another action)."""
        query = select(feedback_actions.c.reply_id).where(
            feedback_actions.c.channel == channel,
            feedback_actions.c.external_id == external_id,
            feedback_actions.c.reply_id.is_not(None),
        )
        return frozenset(str(r) for r in self._run(lambda c: c.execute(query).scalars().all()))

    # --- Facebook Reels per Page

    def reels_since(self, page_id: str, since: datetime) -> int:
        """How many reels the Page's posts started since `since`."""
        query = select(func.count()).where(reels.c.page_id == page_id, reels.c.started_at >= _iso(since))
        return int(self._run(lambda c: c.execute(query).scalar()) or 0)

    def record_reel(self, page_id: str, video_id: str) -> None:
        """A reel's upload session started (counted once, however often it is resumed)."""
        values = {"page_id": page_id, "video_id": video_id, "started_at": self._now()}
        self._run(lambda c: db.insert_ignore(c, reels, values))

    def updated_at(self, key: PostKey) -> datetime | None:
        return _ts(self._run(lambda c: c.execute(select(posts.c.updated_at).where(_is(key))).scalar()))

    def touch(self, key: PostKey) -> None:
        """Heartbeat of a post being uploaded: its row stays fresh, so no one takes it for abandoned."""
        self._update(key)

    def reclaim_abandoned(self, older_than: timedelta) -> list[PostKey]:
        """In-flight posts (PENDING/UPLOADING) whose heartbeat stopped `older_than` ago: their worker died.

        They become due now, keeping their upload session, so the scheduler resumes them. This is
        what rescues a held post that crashed mid-upload: its renditions.ready was committed long ago and will
        not come back.
        Each row is taken with a conditional UPDATE on the updated_at it was seen with, so one worker wins.
        """
        now = self._now()
        in_flight = posts.c.state.in_([PostState.PENDING.value, PostState.UPLOADING.value])
        query = select(posts.c.footage_id, posts.c.channel, posts.c.profile, posts.c.updated_at).where(
            in_flight, posts.c.updated_at <= _iso(self._clock() - older_than), posts.c.request.is_not(None)
        )
        reclaimed: list[PostKey] = []
        for footage_id, channel, profile, seen in self._run(lambda c: c.execute(query).all()):
            key = PostKey(footage_id, channel, profile)
            if self._update(key, in_flight, posts.c.updated_at == seen, state=PostState.SCHEDULED.value, due_at=now):
                reclaimed.append(key)
        return reclaimed

    def retry_failed(self, footage_id: str, ward: str | None) -> list[PostKey] | None:
        """`loa retry`: every FAILED post of the footage becomes due now, with a new give-up window. Only posts of
        `ward` (None: any ward); None when the footage has no post there (unknown, or another ward's)."""
        entries = [e for e in self.entries(footage_id) if ward is None or e.ward == ward]
        if not entries:
            return None
        failed = [e.key for e in entries if e.state is PostState.FAILED]
        for key in failed:
            self._update(
                key,
                posts.c.state == PostState.FAILED.value,
                state=PostState.SCHEDULED.value,
                due_at=self._now(),
                error=None,
                failing_since=None,
            )
        return failed

    # --- rotating refresh tokens

    def _box(self) -> SecretBox:
        if self._secrets is None:
            raise PermanentError(str(SecretKeyMissing()))
        return self._secrets

    def refresh_token(self, channel: str, connection: str) -> str | None:
        """The newest refresh token the platform gave this channel's connection, decrypted; None if none rotated."""
        where = and_(connection_tokens.c.channel == channel, connection_tokens.c.connection_id == connection)
        stored = self._run(lambda c: c.execute(select(connection_tokens.c.token).where(where)).scalar())
        if stored is None:
            return None
        box = self._box()
        if not is_encrypted(stored):  # from before encryption, and the ledger was opened without keys then
            self.store_refresh_token(channel, connection, stored)
            return str(stored)
        try:
            return box.decrypt(stored)
        except SecretUndecryptable as error:
            raise PermanentError(f"channel {channel!r}: {error}") from None

    def store_refresh_token(self, channel: str, connection: str, token: str) -> None:
        values = {"channel": channel, "connection_id": connection, "token": self._box().encrypt(token)}
        values["updated_at"] = self._now()
        self._run(lambda c: db.upsert(c, connection_tokens, values, update=["token", "updated_at"]))

    def reencrypt_refresh_tokens(self, box: SecretBox) -> int:
        """Encrypt with the first key every stored token that is not (plaintext, or an older key's); one that no
        key opens is left as it is (reading it says why). How many were re-encrypted."""

        def work(c: Connection) -> int:
            done = 0
            for row in c.execute(select(connection_tokens)).all():
                if not box.needs_reencryption(row.token):
                    continue
                try:
                    token = box.reencrypt(row.token) if is_encrypted(row.token) else box.encrypt(row.token)
                except SecretUndecryptable:
                    continue
                key = and_(
                    connection_tokens.c.channel == row.channel,
                    connection_tokens.c.connection_id == row.connection_id,
                    connection_tokens.c.token == row.token,
                )
                c.execute(update(connection_tokens).where(key).values(token=token))
                done += 1
            return done

        return self._run(work)
