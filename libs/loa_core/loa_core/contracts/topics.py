"""Every topic, declared once: name, key, event type, partitions, retention, and who writes and reads it.

The routing is data: a service subscribes to exactly `topics_consumed_by(service)` (`loa_core.streaming.consume`
refuses anything else), sends only on `topics_produced_by(service)` (`EventProducer` refuses anything else), and
the lag monitor's map of consumer groups is `consumer_groups()`.
"""

from __future__ import annotations

from dataclasses import dataclass

from loa_core.contracts.actions import PostAction, PostChanged
from loa_core.contracts.base import Event
from loa_core.contracts.channels import ChannelUpdated
from loa_core.contracts.chunks import TranscodeChunk
from loa_core.contracts.decisions import PostDecision
from loa_core.contracts.events import (
    DeadLetter,
    FootageUploaded,
    PostFailed,
    PostPublished,
    RenditionsReady,
    TranscodeProgress,
)
from loa_core.contracts.feedback import FeedbackAction, FeedbackDone, FeedbackReceived
from loa_core.contracts.live import LIVE_CHUNK_PARTITIONS, LiveChunk
from loa_core.contracts.schedule import PostSchedule

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    event: type[Event]
    key: str  # which field of the event is the record key
    partitions: int
    retention_ms: int
    producers: tuple[str, ...]  # the services that write it
    consumers: tuple[str, ...] = ()  # the services whose consumer group reads it (outside tools may read any)
    # The services each of whose processes reads the whole topic from the start, without a consumer group (a
    # configuration topic every replica needs all of, e.g. the channel registry).
    readers: tuple[str, ...] = ()
    # Compacted: Kafka keeps the newest record per key for ever (configuration), instead of deleting by age.
    compacted: bool = False

    def full_name(self, prefix: str = "") -> str:
        """Tests give each run its own prefix, so topics never leak between tests."""
        return f"{prefix}{self.name}"


# The services, by the name each uses for its consumer group (`loa-<name>`), its logs and its metrics.
INGEST, ARCHIVER, TRANSCODE, PUBLISHER, METRICS = "ingest", "archiver", "transcode", "publisher", "metrics"
SERVICES: tuple[str, ...] = (INGEST, ARCHIVER, TRANSCODE, PUBLISHER, METRICS)

# Everything about one footage is keyed by its id: one partition, so one worker at a time, owns it.
FOOTAGE_UPLOADED = TopicSpec(
    "footage.uploaded", FootageUploaded, "footage_id", 6, 30 * DAY_MS, (INGEST, ARCHIVER), (TRANSCODE, METRICS)
)
RENDITIONS_READY = TopicSpec(
    "renditions.ready", RenditionsReady, "footage_id", 6, 30 * DAY_MS, (TRANSCODE,), (PUBLISHER, METRICS)
)
POSTS_PUBLISHED = TopicSpec("posts.published", PostPublished, "footage_id", 6, 365 * DAY_MS, (PUBLISHER,), (METRICS,))
POSTS_FAILED = TopicSpec("posts.failed", PostFailed, "footage_id", 6, 90 * DAY_MS, (PUBLISHER,), (METRICS,))
# Approvers' decisions on posts to channels that require approval (ingest records each in its audit log first).
# Kept as long as published posts: a post held for approval for weeks must still find its decision.
POSTS_DECISIONS = TopicSpec(
    "posts.decisions", PostDecision, "footage_id", 6, 365 * DAY_MS, (INGEST,), (PUBLISHER, METRICS)
)
# People's fixes to published posts (edit the text, unpublish), from ingest (recorded in its audit log first), and
# what the publisher did about each on each post. Kept as long as the posts they change.
POSTS_ACTIONS = TopicSpec("posts.actions", PostAction, "footage_id", 6, 365 * DAY_MS, (INGEST,), (PUBLISHER,))
POSTS_CHANGED = TopicSpec("posts.changed", PostChanged, "footage_id", 6, 365 * DAY_MS, (PUBLISHER,), (METRICS,))
# People's changes to when a post goes out (reschedule, cancel), from ingest (recorded in its audit log first); kept
# as long as the posts: a post scheduled months ahead must still find its change.
POSTS_SCHEDULE = TopicSpec("posts.schedule", PostSchedule, "footage_id", 6, 365 * DAY_MS, (INGEST,), (PUBLISHER,))
# Citizens' comments and messages as the platforms gave them, keyed by channel: metrics collects them (its poller
# and the platforms' webhooks) and projects them into each ward's inbox. Kept a year, like the posts they answer, so
# a replay rebuilds the inbox.
FEEDBACK_RECEIVED = TopicSpec("feedback.received", FeedbackReceived, "channel", 6, 365 * DAY_MS, (METRICS,), (METRICS,))
# People's acts on the citizens' comments and messages in a ward's inbox (assign, tag, handled, reopen, hide, unhide,
# reply), from ingest (recorded in its audit log first), keyed by the inbox item: metrics applies each to the inbox,
# the publisher does the platform's part of reply, hide and unhide (once per action id, through its ledger).
# Kept a year: the inbox is a record of how a ward answered its citizens (the report upward counts it).
FEEDBACK_ACTIONS = TopicSpec(
    "feedback.actions", FeedbackAction, "item_id", 6, 365 * DAY_MS, (INGEST,), (PUBLISHER, METRICS)
)
# The publisher's platform outcome of a reply, hide or unhide (contracts.feedback), keyed by the inbox item; metrics
# shows it in the item's thread.
FEEDBACK_DONE = TopicSpec("feedback.done", FeedbackDone, "item_id", 6, 365 * DAY_MS, (PUBLISHER,), (METRICS,))
# A livestream's closed stretches, for transcode to encode while the live goes on (contracts/live.py); keyed by a
# slot that sends a live's chunks round the partitions, so every worker of the group takes its share (the join
# waits for them all, in any order). Needed only until the archive's job has joined them.
LIVE_CHUNKS = TopicSpec("live.chunks", LiveChunk, "slot", LIVE_CHUNK_PARTITIONS, 2 * DAY_MS, (ARCHIVER,), (TRANSCODE,))
# Progress is only interesting while a job runs; no service reads it (people and tools follow it, e.g. kcat).
TRANSCODE_PROGRESS = TopicSpec("transcode.progress", TranscodeProgress, "footage_id", 6, 7 * DAY_MS, (TRANSCODE,))
# Chunks of long footage for the whole transcode group (contracts/chunks.py): keyed by a slot that sends a job's
# chunks round the partitions, so every worker takes its share; more partitions than footage topics, since one
# footage's chunks should reach as many workers as run. A chunk matters only while its footage's job waits for it.
TRANSCODE_CHUNKS = TopicSpec("transcode.chunks", TranscodeChunk, "slot", 12, 1 * DAY_MS, (TRANSCODE,), (TRANSCODE,))
# Dead letters are kept long: each one is something a person must look at. Every service that consumes a topic
# dead-letters what it cannot process.
DEAD_LETTER = TopicSpec(
    "pipeline.deadletter", DeadLetter, "footage_id", 3, 90 * DAY_MS, (TRANSCODE, PUBLISHER, METRICS), (METRICS,)
)

# Configuration as events: every channel's current configuration, keyed by its name; ingest (which keeps channels in
# its database) writes it; every process of every service reads all of it. Compacted, so retention is unlimited.
CHANNEL_REGISTRY = TopicSpec(
    "channels.registry",
    ChannelUpdated,
    "name",
    1,
    -1,
    (INGEST,),
    readers=(INGEST, ARCHIVER, TRANSCODE, PUBLISHER, METRICS),
    compacted=True,
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    FOOTAGE_UPLOADED,
    RENDITIONS_READY,
    POSTS_PUBLISHED,
    POSTS_FAILED,
    POSTS_DECISIONS,
    POSTS_ACTIONS,
    POSTS_CHANGED,
    POSTS_SCHEDULE,
    FEEDBACK_ACTIONS,
    FEEDBACK_DONE,
    FEEDBACK_RECEIVED,
    DEAD_LETTER,
    TRANSCODE_PROGRESS,
    TRANSCODE_CHUNKS,
    LIVE_CHUNKS,
    CHANNEL_REGISTRY,
)


class UndeclaredTopic(RuntimeError):
    """A service reads or writes a topic its TopicSpec does not name it for: a bug to fix in code, not at runtime."""


def group_id(service: str, prefix: str = "") -> str:
    """A service's consumer group id (Faust's app id) and the name its group goes by in metrics (no prefix)."""
    return f"{prefix}loa-{service}"


def topics_consumed_by(service: str) -> tuple[TopicSpec, ...]:
    """The topics `service` subscribes to, in declaration order."""
    return tuple(s for s in ALL_TOPICS if service in s.consumers)


def topics_produced_by(service: str) -> tuple[TopicSpec, ...]:
    return tuple(s for s in ALL_TOPICS if service in s.producers)


def consumer_groups() -> dict[str, tuple[TopicSpec, ...]]:
    """Every service with a consumer group, and the topics that group reads (the lag monitor's map)."""
    return {service: topics for service in SERVICES if (topics := topics_consumed_by(service))}


def check_consumes(service: str, spec: TopicSpec) -> None:
    if service not in spec.consumers:
        raise UndeclaredTopic(
            f"{service} subscribes to {spec.name}, whose TopicSpec names only {', '.join(spec.consumers) or 'no'} "
            "consumer(s): declare it in loa_core/contracts/topics.py first"
        )


def check_produces(service: str, spec: TopicSpec) -> None:
    if service not in spec.producers:
        raise UndeclaredTopic(
            f"{service} sends on {spec.name}, whose TopicSpec names only {', '.join(spec.producers)} as producer(s): "
            "declare it in loa_core/contracts/topics.py first"
        )
