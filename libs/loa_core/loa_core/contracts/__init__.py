"""Loa's cross-service contracts: every convention that crosses a service boundary lives here and nowhere else.

- `events`: one frozen, versioned event model per topic (the evolution rule is in `base`);
- `topics`: each topic's name, key, partitions, retention, producers and consumers;
- `status`: the footage-status vocabulary;
- `layout`: the storage key layout;
- `base`: ids (`FootageId`), channel and profile names.
"""

from loa_core.contracts import layout
from loa_core.contracts.base import (
    ChannelName,
    Contract,
    Event,
    FootageId,
    Id,
    ProfileName,
    UnsupportedSchemaVersion,
    is_footage_id,
    new_id,
    utc_now,
)
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
from loa_core.contracts.status import FOOTAGE_STATUSES, IN_PROGRESS, SETTLED, FootageStatus
from loa_core.contracts.topics import (
    ALL_TOPICS,
    DEAD_LETTER,
    FOOTAGE_UPLOADED,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    SERVICES,
    TRANSCODE_PROGRESS,
    TopicSpec,
    UndeclaredTopic,
    check_consumes,
    check_produces,
    consumer_groups,
    group_id,
    topics_consumed_by,
    topics_produced_by,
)

__all__ = [
    "ALL_TOPICS",
    "DEAD_LETTER",
    "FOOTAGE_STATUSES",
    "FOOTAGE_UPLOADED",
    "IN_PROGRESS",
    "POSTS_FAILED",
    "POSTS_PUBLISHED",
    "RENDITIONS_READY",
    "SERVICES",
    "SETTLED",
    "TRANSCODE_PROGRESS",
    "ChannelName",
    "Contract",
    "DeadLetter",
    "Event",
    "FootageId",
    "FootageMetadata",
    "FootageStatus",
    "FootageUploaded",
    "Id",
    "Image",
    "PostFailed",
    "PostPublished",
    "ProfileName",
    "Rendition",
    "RenditionsReady",
    "SourceMedia",
    "TopicSpec",
    "TranscodeProgress",
    "UndeclaredTopic",
    "UnsupportedSchemaVersion",
    "check_consumes",
    "check_produces",
    "consumer_groups",
    "group_id",
    "is_footage_id",
    "layout",
    "new_id",
    "topics_consumed_by",
    "topics_produced_by",
    "utc_now",
]
