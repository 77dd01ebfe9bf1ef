"""The database behind the metrics service: its tables, the time helpers, and one way in for reads and writes.

The write model (`projector`), the read views (`views`) and the engagement store (`engagement_store`) share it.
SQLite (`<data_dir>/metrics-projection.sqlite3`) by default, PostgreSQL (`LOA_DATABASE_URL`) when replicas share it;
the schema's history is loa_metrics/migrations (loa_core.db's pattern).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Column, Connection, Engine, Integer, MetaData, Table, Text, TextClause, bindparam, text
from sqlalchemy import inspect as sa_inspect

from loa_core import db
from loa_core.contracts import METRICS
from loa_core.errors import RetryableError

T = TypeVar("T")

# The newest revision of the schema (loa_metrics/migrations/versions). Times are UTC ISO-8601 text.
metadata = MetaData()
footage = Table(
    "footage",
    metadata,
    Column("footage_id", Text, primary_key=True),
    Column("title", Text),
    Column("series", Text),
    Column("channels", Text),  # JSON list
    Column("source", Text),
    Column("uploaded_at", Text),
    Column("transcoded_at", Text),
    Column("renditions", Text),  # JSON list of {profile, key, width, height, duration_s, size_bytes, sha256,
    # fingerprinted}
    Column("published_counted", Integer, nullable=False, server_default="0"),
    Column("source_bytes", Integer),
    # The ward the footage belongs to (from its events; before its upload event is seen, the first event's).
    Column("ward", Text, nullable=False, server_default="default"),
    Column("text_sha256", Text),  # the footage's own text's fingerprint (contracts.decisions), from its renditions
)
posts = Table(
    "posts",
    metadata,
    Column("footage_id", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("profile", Text, primary_key=True),
    Column("platform", Text, nullable=False),
    Column("post_id", Text),
    Column("url", Text),
    Column("published_at", Text),
    Column("views", Integer),
    Column("likes", Integer),
    Column("comments", Integer),
    Column("shares", Integer),
    Column("stats_at", Text),  # when the platform last answered for this post
    # When the publisher announced the post (the event's time, in the clock its failures use); rows from before
    # this column fall back to published_at.
    Column("announced_at", Text),
    Column("ward", Text, nullable=False, server_default="default"),  # the footage's ward
    # After a person's action (posts.changed): edited or unpublished; NULL while it stands as published.
    Column("state", Text),
    Column("title", Text),  # the title an edit put on the platform
    Column("sha256", Text),  # the file uploaded (its signed copy), what a check by hash finds (revision 0011)
)
# The newest approver's decision per (footage, channel): the PostDecision as received.
decisions = Table(
    "decisions",
    metadata,
    Column("footage_id", Text, primary_key=True),
    Column("channel", Text, primary_key=True),
    Column("occurred_at", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("record", Text, nullable=False),
)
failures = Table(
    "failures",
    metadata,
    Column("event_id", Text, primary_key=True),  # a redelivered failure is recorded once
    Column("footage_id", Text),
    Column("stage", Text, nullable=False),
    Column("channel", Text),
    Column("reason", Text, nullable=False),
    Column("at", Text, nullable=False),
    Column("platform", Text),  # a failed post's platform (None: another stage, or a row from before)
)
post_views_daily = Table(
    "post_views_daily",
    metadata,
    Column("platform", Text, primary_key=True),
    Column("post_id", Text, primary_key=True),
    Column("day", Text, primary_key=True),  # YYYY-MM-DD (UTC)
    Column("views", Integer, nullable=False),
)
channel_stats = Table(
    "channel_stats",
    metadata,
    Column("channel", Text, primary_key=True),
    Column("platform", Text, nullable=False),
    Column("followers", Integer, nullable=False),
    Column("polled_at", Text, nullable=False),
)

# Followers of each channel over time: the last figure polled on each UTC day (revision 0007).
followers_daily = Table(
    "followers_daily",
    metadata,
    Column("channel", Text, primary_key=True),
    Column("day", Text, primary_key=True),  # YYYY-MM-DD (UTC)
    Column("ward", Text, nullable=False),  # the channel's ward when polled (a removed channel keeps its history)
    Column("platform", Text, nullable=False),
    Column("followers", Integer, nullable=False),
)
# Every cut's sha256 and perceptual fingerprint (renditions.ready), what a copy found elsewhere is checked against
# (loa_metrics.verification); `event_id`: the announcement it came from (a redone transcode replaces the row).
cut_fingerprints = Table(
    "cut_fingerprints",
    metadata,
    Column("footage_id", Text, primary_key=True),
    Column("profile", Text, primary_key=True),
    Column("ward", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("sha256", Text),
    Column("fingerprint", Text),
)
# Verification requests (the public page and `loa verify`) per UTC day, the ward of the post they matched ("none"
# when none did), the answer and where they came from: what the report upward counts.
verifications = Table(
    "verifications",
    metadata,
    Column("day", Text, primary_key=True),
    Column("ward", Text, primary_key=True),
    Column("answer", Text, primary_key=True),
    Column("via", Text, primary_key=True),
    Column("count", Integer, nullable=False),
)
# The citizens' comments and messages (loa_metrics.feedback_store), one row per item id (migration 0006).
feedback_items = Table(
    "feedback_items",
    metadata,
    Column("item_id", Text, primary_key=True),
    Column("ward", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("external_id", Text, nullable=False),
    Column("thread_id", Text),
    Column("post_id", Text),
    Column("footage_id", Text),
    Column("author_name", Text, nullable=False, server_default=""),
    Column("author_id", Text),
    Column("text", Text, nullable=False),
    Column("truncated", Integer, nullable=False, server_default="0"),
    Column("url", Text),
    Column("written_at", Text, nullable=False),
    Column("by_channel", Integer, nullable=False, server_default="0"),
    Column("received_at", Text, nullable=False),
)
# Where each collection stands, per channel and scope ("" or a platform post id).
feedback_cursors = Table(
    "feedback_cursors",
    metadata,
    Column("channel", Text, primary_key=True),
    Column("scope", Text, primary_key=True),
    Column("newest_at", Text),
    Column("page_token", Text),
    Column("listing_newest_at", Text),
    Column("updated_at", Text, nullable=False),
)
# Which replica runs a singleton task until when (loa_metrics.feedback_store.FeedbackStore.take_lease).
leases = db.lease_table(metadata)
# The citizens' inbox (revision 0009, loa_metrics/inbox.py): people's acts, the platform's outcomes, a ward's rules.
inbox_state = Table(
    "inbox_state",
    metadata,
    Column("item_id", Text, primary_key=True),
    Column("ward", Text, nullable=False),
    Column("assignee", Text),  # an account id
    Column("topic", Text),  # a person's tag
    Column("rule_topic", Text),  # what the ward's rules found in the text when it arrived
    Column("handled", Integer, nullable=False, server_default="0"),
    Column("handled_at", Text),
    Column("hidden", Integer, nullable=False, server_default="0"),  # the newest hide/unhide asked
    Column("hide_action", Text),  # that hide/unhide's action id (its outcome: inbox_done)
    Column("first_reply_at", Text),  # when a reply was first posted on the platform
)
inbox_actions = Table(
    "inbox_actions",
    metadata,
    Column("action_id", Text, primary_key=True),  # the FeedbackAction's event id: a redelivery is applied once
    Column("item_id", Text, nullable=False),
    Column("ward", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("by", Text, nullable=False),
    Column("at", Text, nullable=False),
    Column("assignee", Text),
    Column("topic", Text),
    Column("text", Text),  # a reply's words
)
inbox_done = Table(
    "inbox_done",
    metadata,
    Column("action_id", Text, primary_key=True),  # the action it answers
    Column("item_id", Text, nullable=False),
    Column("state", Text, nullable=False),  # replied | hidden | unhidden | failed
    Column("reply_id", Text),
    Column("reason", Text),
    Column("at", Text, nullable=False),
)
inbox_settings = Table(
    "inbox_settings",
    metadata,
    Column("ward", Text, primary_key=True),
    Column("target_hours", Integer, nullable=False),
    Column("rules", Text),  # JSON; NULL: the shipped defaults (loa_metrics/triage.py)
    Column("updated_by", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

# Each report upward mailed (revision 0010): claimed by one replica, then sent; once per scope and period.
report_sends = Table(
    "report_sends",
    metadata,
    Column("scope", Text, primary_key=True),  # a ward, or "district"
    Column("period", Text, primary_key=True),  # 2026-11
    Column("claimed_at", Text, nullable=False),
    Column("sent_at", Text),
    Column("recipients", Text, nullable=False),  # comma-separated, as mailed
)


def ts(moment: datetime) -> str:
    """Stored times are UTC ISO strings, so text order is time order and the first 10 characters are the UTC day."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())


def day_range(
    column: str, date_from: date | None, date_to: date | None, where: list[str], params: dict[str, Any]
) -> None:
    """Add an inclusive filter on the UTC day of an ISO timestamp column (its first 10 characters)."""
    if date_from is not None:
        where.append(f"substr({column}, 1, 10) >= :day_from")
        params["day_from"] = date_from.isoformat()
    if date_to is not None:
        where.append(f"substr({column}, 1, 10) <= :day_to")
        params["day_to"] = date_to.isoformat()


class Database:
    """The projection's engine; `version` counts this process's writes, so readers can cache between them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # PostgreSQL is how replicas share the projection: there another process's writes change what a read sees,
        # which this process's own count cannot tell. A SQLite file is this process's alone.
        self.shared = engine.dialect.name != "sqlite"
        self._lock = threading.Lock()
        self._version = 0

    @classmethod
    def open(cls, location: str | Path) -> Database:
        """Connect and bring the schema to the newest revision (an older projection is upgraded in place)."""
        # A read model: with WAL, NORMAL loses nothing when the process dies, only the last commits on a power
        # cut, and replaying the topics (a new consumer group) rebuilds it. FULL fsyncs every event, which
        # capped catching up at ~100-150 events/s on the test machine (bench/metrics_scrape.py).
        engine = db.make_engine(location, service=METRICS, synchronous="NORMAL")
        db.migrate(engine, METRICS)
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()

    def has_table(self, name: str) -> bool:
        """Whether the schema has this table (a table another revision adds, read when present)."""
        return self._run(lambda c: sa_inspect(c).has_table(name))

    @property
    def version(self) -> int | None:
        """This process's write count, or None when other replicas write too (nothing can be cached then)."""
        if self.shared:
            return None
        with self._lock:
            return self._version

    def _run(self, work: Callable[[Connection], T]) -> T:
        try:
            return db.transaction(self._engine, work)
        except db.DatabaseUnavailable as exc:
            raise RetryableError(f"metrics {exc}") from exc

    def write(self, work: Callable[[Connection], T]) -> T:
        """One transaction that writes (it moves `version` on)."""
        try:
            return self._run(work)
        finally:
            with self._lock:
                self._version += 1

    def read(self, work: Callable[[Connection], T]) -> T:
        """One transaction that only reads (SQLAlchemy Core)."""
        return self._run(work)

    def rows(
        self, sql: str, params: Mapping[str, Any] | None = None, *, lists: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """A read, in SQL both databases speak, with :named parameters; those named in `lists` take a list of
        values (`footage_id IN :ids`)."""
        statement = _text(sql, lists)
        return self._run(lambda c: [dict(r._mapping) for r in c.execute(statement, dict(params or {}))])


@functools.lru_cache(maxsize=256)
def _text(sql: str, lists: tuple[str, ...] = ()) -> TextClause:
    # Parsed once per query (the filters make a few dozen shapes): parsing costs more than running it on SQLite.
    statement = text(sql)
    return statement.bindparams(*(bindparam(name, expanding=True) for name in lists)) if lists else statement
