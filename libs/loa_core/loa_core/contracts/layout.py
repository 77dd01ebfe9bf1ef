"""Where things live in object storage: the areas (top-level prefixes) and the one function building each key.

Keys cross service boundaries inside events (`SourceMedia.key`, `Rendition.key`, `Image.key`), so a reader
never builds a key: it takes the one in the event. Writers build every key here, nowhere else.

    raw/<footage_id>/source                   an upload as received                      (ingest)
    renditions/<footage_id>/<profile>.mp4     each platform cut                          (transcode)
    renditions/<footage_id>/<kind>.jpg        the stills: thumbnail, cover                (transcode)
    renditions/<footage_id>/manifest.json     written last: "this set is complete"        (transcode)
    staging/transcode/<footage_id>/<attempt>/ a job's outputs before they move into place (transcode)
    live/<archive_id>/segNNNNN.{ts,mp4}       a livestream's segments, stored as they close (archiver)
    live/<archive_id>/archive.mp4             the assembled livestream, announced as footage (archiver)
"""

from __future__ import annotations

from dataclasses import dataclass

from loa_core.contracts.base import is_footage_id


@dataclass(frozen=True)
class Area:
    """One top-level prefix of the bucket: what it holds and which service writes it."""

    prefix: str
    writer: str
    holds: str


RAW = Area("raw/", "ingest", "each upload as received, before any processing")
RENDITIONS = Area("renditions/", "transcode", "the checked cuts and stills of each footage, and its manifest")
# Outside renditions/: a reader listing a footage's renditions never sees a half-finished attempt.
STAGING = Area("staging/", "transcode", "a job's outputs before they are moved into place (deleted after)")
LIVE = Area("live/", "archiver", "livestream segments as they close, and the assembled archive")

AREAS: tuple[Area, ...] = (RAW, RENDITIONS, STAGING, LIVE)


def _id(value: str) -> str:
    # Ids become path parts: anything but a Loa id would be a path traversal or a key in the wrong place.
    if not is_footage_id(value):
        raise ValueError(f"not a Loa id (32 hex digits): {value!r}")
    return value


def source_key(footage_id: str) -> str:
    return f"{RAW.prefix}{_id(footage_id)}/source"


def renditions_prefix(footage_id: str) -> str:
    """Every object of one footage under renditions/ (list it to see what a job left in place)."""
    return f"{RENDITIONS.prefix}{_id(footage_id)}/"


def rendition_key(footage_id: str, profile: str) -> str:
    return f"{renditions_prefix(footage_id)}{profile}.mp4"


def image_key(footage_id: str, kind: str) -> str:
    return f"{renditions_prefix(footage_id)}{kind}.jpg"


def manifest_key(footage_id: str) -> str:
    return f"{renditions_prefix(footage_id)}manifest.json"


def staging_prefix(footage_id: str) -> str:
    """Every transcode attempt's staging objects of one footage."""
    return f"{STAGING.prefix}transcode/{_id(footage_id)}/"


def staging_key(footage_id: str, attempt_id: str, final_key: str) -> str:
    """Where one transcode attempt writes the object that then moves to `final_key` (same file name)."""
    return f"{staging_prefix(footage_id)}{_id(attempt_id)}/{final_key.rsplit('/', 1)[-1]}"


def live_prefix(archive_id: str) -> str:
    return f"{LIVE.prefix}{_id(archive_id)}/"


def segment_key(archive_id: str, n: int, ext: str = "ts") -> str:
    return f"{live_prefix(archive_id)}seg{n:05d}.{ext}"


def archive_key(archive_id: str) -> str:
    return f"{live_prefix(archive_id)}archive.mp4"
