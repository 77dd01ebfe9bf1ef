"""The words for where a footage stands, shared by metrics (which derives them), ingest (which relays them), the
status API's filters and the CLI (which waits for them). One vocabulary, in pipeline order."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class FootageStatus(StrEnum):
    """Where one footage is; the members are in pipeline order (`FOOTAGE_STATUSES`)."""

    UNKNOWN = "unknown"  # only a later stage's event has been seen (topics are read independently)
    UPLOADED = "uploaded"  # in storage and announced; not transcoded yet
    TRANSCODED = "transcoded"  # every cut is in storage; nothing posted yet
    PUBLISHING = "publishing"  # some of the expected posts are out
    PUBLISHED = "published"  # every expected post is out
    FAILED = "failed"  # something needs a person (the errors say what); `loa retry` can take it up again


FOOTAGE_STATUSES: Final[tuple[FootageStatus, ...]] = tuple(FootageStatus)
# Still on its way: the pipeline owes this footage a next step.
IN_PROGRESS: Final = frozenset({FootageStatus.UPLOADED, FootageStatus.TRANSCODED, FootageStatus.PUBLISHING})
# Nothing more happens without a person: where `loa status --wait` stops waiting.
SETTLED: Final = frozenset({FootageStatus.PUBLISHED, FootageStatus.FAILED})
