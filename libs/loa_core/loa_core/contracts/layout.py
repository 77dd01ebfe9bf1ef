"""Where things live in object storage: the areas (top-level prefixes) and the one function building each key.

Keys cross service boundaries inside events (`SourceMedia.key`, `Rendition.key`, `Image.key`), so a reader
never builds a key: it takes the one in the event. Writers build every key here, nowhere else.

    raw/<footage_id>/source                   an upload as received                      (ingest)
    raw/<footage_id>/source.c2pa              its signed C2PA manifest (a sidecar: the bytes stay as sent) (ingest)
    renditions/<footage_id>/<profile>.mp4     each platform cut                          (transcode)
    renditions/<footage_id>/<kind>.jpg        the stills: thumbnail, cover                (transcode)
    renditions/<footage_id>/manifest.json     written last: "this set is complete"        (transcode)
    staging/transcode/<footage_id>/<attempt>/ a job's outputs before they move into place (transcode)
    staging/transcode/<footage_id>/chunks/<job>/<NNNNN>/  a chunk's file per cut, then its result (transcode)
    staging/transcode/<footage_id>/live/<NNNNN>/  a live chunk's measure, video, sound, stills, result (transcode)
    staging/transcode/<footage_id>/lease/<upload_event_id>/<NNNNN>  which worker does the job now (transcode)
    live/<archive_id>/segNNNNN.{ts,mp4}       a livestream's segments, stored as they close (archiver)
    live/<archive_id>/archive.mp4             the assembled livestream, announced as footage (archiver)
    branding/<ward>/<channel>/<kind>-<digest>.<ext>  a channel's logo, intro or outro, as uploaded   (ingest)
    subtitles/<ward>/<digest>.srt             an SRT file checked on upload (FootageMetadata.subtitles_key) (ingest)
    signed/<footage_id>/<channel>/<profile>.mp4   a post's cut with its C2PA manifest, signed once (publisher)
    signed/<footage_id>/<channel>/<profile>.json  written after it: what was signed (a retry reuses it)   (publisher)
    tus/<upload_id>/<offset>-<nonce>          a part of an unfinished tus upload, shared by replicas (ingest)
"""

from __future__ import annotations

import re
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
# Named by content: a new logo is a new key (so a new registry record), and a job that started with the old one
# still finds it.
BRANDING = Area("branding/", "ingest", "each channel's logo, intro and outro, as a ward admin uploaded them")

# Named by content and ward: the same file uploaded twice is one object, and a ward only names its own.
SUBTITLES = Area("subtitles/", "ingest", "SRT subtitle files as an editor uploaded them, checked (UTF-8, timings)")

# A post is a cut on a channel, and its manifest names the channel: one signed copy per post, made before its
# upload and reused by every retry (the upload session resumes the same bytes).
SIGNED = Area("signed/", "publisher", "each post's cut with its signed C2PA manifest, and what was signed")

# Only with LOA_TUS_SPOOL=shared: the bytes of unfinished uploads, one object per PATCH, readable by every replica;
# deleted when the upload is finished, refused, terminated or expired (raw/ gets the whole file, never a part).
TUS = Area("tus/", "ingest", "the parts of unfinished tus uploads shared by ingest replicas (deleted after)")

AREAS: tuple[Area, ...] = (RAW, RENDITIONS, STAGING, LIVE, BRANDING, SUBTITLES, SIGNED, TUS)
BRANDING_KINDS = ("logo", "intro", "outro")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")  # a ward id or a channel name (contracts/base.py)
_DIGEST = re.compile(r"^[0-9a-f]{16,64}$")
_EXTENSIONS = ("png", "jpg", "mp4", "mkv")


def _id(value: str) -> str:
    # Ids become path parts: anything but a Loa id would be a path traversal or a key in the wrong place.
    if not is_footage_id(value):
        raise ValueError(f"not a Loa id (32 hex digits): {value!r}")
    return value


def source_key(footage_id: str) -> str:
    return f"{RAW.prefix}{_id(footage_id)}/source"


def source_manifest_key(footage_id: str) -> str:
    return f"{RAW.prefix}{_id(footage_id)}/source.c2pa"


def renditions_prefix(footage_id: str) -> str:
    """Every object of one footage under renditions/ (list it to see what a job left in place)."""
    return f"{RENDITIONS.prefix}{_id(footage_id)}/"


def rendition_key(footage_id: str, profile: str) -> str:
    return f"{renditions_prefix(footage_id)}{profile}.mp4"


def image_key(footage_id: str, kind: str) -> str:
    return f"{renditions_prefix(footage_id)}{kind}.jpg"


def manifest_key(footage_id: str) -> str:
    return f"{renditions_prefix(footage_id)}manifest.json"


def signed_key(footage_id: str, channel: str, profile: str) -> str:
    return f"{SIGNED.prefix}{_id(footage_id)}/{_slug(channel)}/{_slug(profile)}.mp4"


def signed_record_key(footage_id: str, channel: str, profile: str) -> str:
    return f"{SIGNED.prefix}{_id(footage_id)}/{_slug(channel)}/{_slug(profile)}.json"


def staging_prefix(footage_id: str) -> str:
    """Every transcode attempt's staging objects of one footage."""
    return f"{STAGING.prefix}transcode/{_id(footage_id)}/"


def staging_key(footage_id: str, attempt_id: str, final_key: str) -> str:
    """Where one transcode attempt writes the object that then moves to `final_key` (same file name)."""
    return f"{staging_prefix(footage_id)}{_id(attempt_id)}/{final_key.rsplit('/', 1)[-1]}"


def chunk_key(footage_id: str, job_id: str, index: int, name: str) -> str:
    """One object of a chunk of a chunked job (contracts/chunks.py): a cut's file `<profile>.mp4`, or its result.

    Under the footage's staging prefix: what a finished job's publish clears (a chunk that a slow worker writes after
    that is left behind; it is never read again)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,60}", name) or index < 0:
        raise ValueError(f"not a chunk object: {index!r} {name!r}")
    return f"{staging_prefix(footage_id)}chunks/{_id(job_id)}/{index:05d}/{name}"


def live_chunk_key(footage_id: str, index: int, name: str) -> str:
    """One object of a live chunk's encode (contracts/live.py): its measure (written first), a cut's video
    `<profile>.mp4`, its sound, the thumbnail candidates, or the result (written last). Under the footage's staging
    prefix: the archive's finished job clears it."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,60}", name) or index < 0:
        raise ValueError(f"not a live chunk object: {index!r} {name!r}")
    return f"{staging_prefix(footage_id)}live/{index:05d}/{name}"


def lease_prefix(footage_id: str, upload_event_id: str) -> str:
    """The leases of one upload's transcode job (loa_transcode/lease.py), one object per generation."""
    return f"{staging_prefix(footage_id)}lease/{_id(upload_event_id)}/"


def lease_key(footage_id: str, upload_event_id: str, generation: int) -> str:
    """A generation of a job's lease: created only where none is (Storage.create), so one worker takes each."""
    if generation < 0:
        raise ValueError(f"not a lease generation: {generation!r}")
    return f"{lease_prefix(footage_id, upload_event_id)}{generation:05d}"


def lease_generation(key: str) -> int:
    """The generation a lease key names (the inverse of lease_key's last part)."""
    return int(key.rsplit("/", 1)[-1])


def live_prefix(archive_id: str) -> str:
    return f"{LIVE.prefix}{_id(archive_id)}/"


def segment_key(archive_id: str, n: int, ext: str = "ts") -> str:
    return f"{live_prefix(archive_id)}seg{n:05d}.{ext}"


def archive_key(archive_id: str) -> str:
    return f"{live_prefix(archive_id)}archive.mp4"


def tus_part_key(upload_id: str, offset: int, nonce: str) -> str:
    """The bytes one PATCH brought to an upload from `offset`; `nonce` (a Loa id) keeps two replicas racing on the
    same offset from writing one object (the loser's part is deleted, never read)."""
    if offset < 0:
        raise ValueError(f"not an offset: {offset!r}")
    return f"{tus_prefix(upload_id)}{offset:015d}-{_id(nonce)}"


def tus_prefix(upload_id: str) -> str:
    return f"{TUS.prefix}{_id(upload_id)}/"


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(f"not a ward id or channel name: {value!r}")
    return value


def branding_key(ward: str, channel: str, kind: str, digest: str, ext: str) -> str:
    """A channel's logo, intro or outro; `digest` is the file's sha256 (hex, at least its first 16 digits)."""
    if kind not in BRANDING_KINDS or not _DIGEST.fullmatch(digest) or ext not in _EXTENSIONS:
        raise ValueError(f"not a branding file: {kind!r} {digest!r} {ext!r}")
    return f"{BRANDING.prefix}{_slug(ward)}/{_slug(channel)}/{kind}-{digest[:16]}.{ext}"


def subtitles_key(ward: str, digest: str) -> str:
    """An uploaded SRT file of `ward`; `digest` is the file's sha256 (hex, at least its first 16 digits)."""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"not a sha256: {digest!r}")
    return f"{SUBTITLES.prefix}{_slug(ward)}/{digest[:16]}.srt"


def subtitles_ward(key: str) -> str | None:
    """The ward whose subtitles `key` names, or None if it is not a key subtitles_key() builds."""
    match = re.fullmatch(rf"{SUBTITLES.prefix}([a-z0-9][a-z0-9_-]{{0,39}})/([0-9a-f]{{16}})\.srt", key)
    return match.group(1) if match else None
