"""Loa's cross-service contracts: one frozen, versioned event model per topic, plus the topic declarations."""

from loa_core.contracts.base import Event, new_id, utc_now
from loa_core.contracts.events import (
    DeadLetter,
    FootageMetadata,
    FootageUploaded,
    Image,
    PostFailed,
    PostPublished,
    Rendition,
    RenditionsReady,
    SourceMedia,
    TranscodeProgress,
)
from loa_core.contracts.topics import (
    ALL_TOPICS,
    DEAD_LETTER,
    FOOTAGE_UPLOADED,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    TRANSCODE_PROGRESS,
    TopicSpec,
)

__all__ = [
    "ALL_TOPICS",
    "DEAD_LETTER",
    "FOOTAGE_UPLOADED",
    "POSTS_FAILED",
    "POSTS_PUBLISHED",
    "RENDITIONS_READY",
    "TRANSCODE_PROGRESS",
    "DeadLetter",
    "Event",
    "FootageMetadata",
    "FootageUploaded",
    "Image",
    "PostFailed",
    "PostPublished",
    "Rendition",
    "RenditionsReady",
    "SourceMedia",
    "TopicSpec",
    "TranscodeProgress",
    "new_id",
    "utc_now",
]
