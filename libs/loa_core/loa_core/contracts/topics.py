"""Every topic, declared once: name, key, event type, partitions and retention."""

from __future__ import annotations

from dataclasses import dataclass

from loa_core.contracts.base import Event
from loa_core.contracts.events import (
    DeadLetter,
    FootageUploaded,
    PostFailed,
    PostPublished,
    RenditionsReady,
    TranscodeProgress,
)

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    event: type[Event]
    key: str  # which field of the event is the record key
    partitions: int
    retention_ms: int

    def full_name(self, prefix: str = "") -> str:
        """Tests give each run its own prefix, so topics never leak between tests."""
        return f"{prefix}{self.name}"


# Everything about one footage is keyed by its id: one partition, so one worker at a time, owns it.
FOOTAGE_UPLOADED = TopicSpec("footage.uploaded", FootageUploaded, "footage_id", 6, 30 * DAY_MS)
RENDITIONS_READY = TopicSpec("renditions.ready", RenditionsReady, "footage_id", 6, 30 * DAY_MS)
POSTS_PUBLISHED = TopicSpec("posts.published", PostPublished, "footage_id", 6, 365 * DAY_MS)
POSTS_FAILED = TopicSpec("posts.failed", PostFailed, "footage_id", 6, 90 * DAY_MS)
# Progress is only interesting while a job runs.
TRANSCODE_PROGRESS = TopicSpec("transcode.progress", TranscodeProgress, "footage_id", 6, 7 * DAY_MS)
# Dead letters are kept long: each one is something a person must look at.
DEAD_LETTER = TopicSpec("pipeline.deadletter", DeadLetter, "footage_id", 3, 90 * DAY_MS)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    FOOTAGE_UPLOADED,
    RENDITIONS_READY,
    POSTS_PUBLISHED,
    POSTS_FAILED,
    DEAD_LETTER,
    TRANSCODE_PROGRESS,
)
