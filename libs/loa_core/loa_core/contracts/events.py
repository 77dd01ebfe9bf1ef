"""The events of the pipeline, in the order they happen for one footage."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from loa_core.contracts.base import DEFAULT_WARD, ChannelName, Contract, Event, FootageId, ProfileName, WardId

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class FootageMetadata(Contract):
    """What the media team says about the footage; carried along so no service has to ask another."""

    title: Title
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    tags: tuple[Annotated[str, StringConstraints(min_length=1, max_length=100)], ...] = ()
    series: Annotated[str, StringConstraints(max_length=100)] | None = None
    channels: tuple[ChannelName, ...] = Field(min_length=1)
    # The day the event took place (not the upload day): for titles, archives and the status list's date filter.
    event_date: date | None = None
    # Edits for transcode (all optional): keep only [trim_start_s, trim_end_s) of the source, burn in the
    # subtitles stored at subtitles_key (SRT, UTF-8), and frame horizontal footage vertically either by
    # fitting it on a blurred background ("blur") or by following the faces in it ("subject").
    trim_start_s: float | None = Field(default=None, ge=0)
    trim_end_s: float | None = Field(default=None, gt=0)
    subtitles_key: str | None = None
    vertical_framing: Literal["blur", "subject"] = "blur"
    # When each channel should show the post (timezone-aware); a channel not listed posts as soon as it can.
    # The publisher holds the post until then (or hands YouTube a publishAt), across restarts.
    publish_at: dict[ChannelName, AwareDatetime] = Field(default_factory=dict)


class SourceMedia(Contract):
    """What ffprobe found in the upload, so transcode can plan without probing first."""

    key: str
    size_bytes: int = Field(ge=1)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    duration_s: float = Field(gt=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    has_audio: bool


class FootageUploaded(Event):
    """Raw footage is in storage and validated. Key: footage_id."""

    footage_id: FootageId
    # The ward that owns the footage (and so every cut and post of it); events from before wards: the default.
    ward: WardId = DEFAULT_WARD
    source: Literal["upload", "livestream"] = "upload"
    metadata: FootageMetadata
    media: SourceMedia
    # A livestream's archive transcoded while live: how many live.chunks (contracts/live.py) it is made of, in
    # order from 0; None: not chunked (transcode encodes the whole file).
    live_chunks: int | None = Field(default=None, ge=1)


# What transcode did to the footage to make a cut, as the C2PA actions of its signed manifest say it
# (loa_core.provenance.actions_for): a span kept, reframed to another aspect ratio, scaled, subtitles burned in,
# the channel's logo drawn over it, its intro or outro added, its loudness normalised.
Edit = Literal["trimmed", "reframed", "resized", "subtitles", "logo", "intro", "outro", "loudness"]


class Rendition(Contract):
    profile: ProfileName
    key: str
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    duration_s: float = Field(gt=0)
    size_bytes: int = Field(ge=1)
    video_codec: str
    audio_codec: str | None
    # sha256 of the file: what an approval pins (contracts.decisions). None in events from before it was recorded.
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    # The cut's perceptual fingerprint (loa_core.fingerprint's text form, "pf1:..."), so a copy re-encoded by a
    # platform can be recognised (contracts.verification). None in events from before it was computed.
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=400_000)] | None = None
    # What was done to the footage to make this cut; empty in events from before it was recorded.
    edits: tuple[Edit, ...] = ()


class Image(Contract):
    """A still made for the footage (JPEG): the 16:9 `thumbnail` and the 9:16 `cover` (the default picks), and the
    candidates a person may pick instead, `thumbnail-1..3` and `cover-1..3` (spread over the footage)."""

    kind: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    key: str
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    size_bytes: int = Field(ge=1)
    # Where in the footage (seconds after its trim's start, before any intro) the frame was taken; None: not said.
    at_s: float | None = Field(default=None, ge=0)


class RenditionsReady(Event):
    """Every cut of one footage is in storage, checked against its profile. Key: footage_id."""

    footage_id: FootageId
    # The ward that owns the footage (and so every cut and post of it); events from before wards: the default.
    ward: WardId = DEFAULT_WARD
    metadata: FootageMetadata
    renditions: tuple[Rendition, ...] = Field(min_length=1)
    images: tuple[Image, ...] = ()
    # The raw footage's sha256 (SourceMedia.sha256), which each cut's C2PA manifest names; None in older events.
    source_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None


class TranscodeProgress(Event):
    """How far one transcode job is: `running` every few seconds, then `done` or `failed` (with the reason).

    Informational (a lost progress event changes nothing); a failure is also on the dead-letter topic.
    Key: footage_id.
    """

    footage_id: FootageId
    # The ward that owns the footage (and so every cut and post of it); events from before wards: the default.
    ward: WardId = DEFAULT_WARD
    state: Literal["running", "done", "failed"]
    percent: float = Field(ge=0, le=100)
    fps: float | None = None
    eta_s: float | None = None
    # The footage.uploaded event this job works on (a redelivered job reports under the same id).
    upload_event_id: str = ""
    reason: str | None = None
    # A live being transcoded as it goes (live.chunks): how long the chunk now starting waited since the archiver
    # announced it. Near zero when the workers keep up; growing when they do not.
    live_backlog_s: float | None = Field(default=None, ge=0)


class PostPublished(Event):
    """One rendition is live on one channel. Key: footage_id."""

    footage_id: FootageId
    # The ward that owns the footage (and so every cut and post of it); events from before wards: the default.
    ward: WardId = DEFAULT_WARD
    channel: ChannelName
    platform: str
    profile: ProfileName
    post_id: str
    url: str
    published_at: datetime
    # sha256 of the bytes the platform received: the cut with its signed C2PA manifest (a copy downloaded from the
    # post before any re-encoding hashes to it, not to Rendition.sha256). None: not signed, or an older event.
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None


class PostFailed(Event):
    """A post that will not happen without a person acting (the platform's message says why). Key: footage_id."""

    footage_id: FootageId
    # The ward that owns the footage (and so every cut and post of it); events from before wards: the default.
    ward: WardId = DEFAULT_WARD
    channel: ChannelName
    platform: str
    reason: str
    retryable: bool = False


class DeadLetter(Event):
    """A record that could not be processed, with why and where it came from. Key: the original key."""

    origin_service: str
    origin_topic: str
    origin_partition: int | None = None
    origin_offset: int | None = None
    reason: str
    error_type: str
    footage_id: FootageId | None = None
    # The ward of the original record, when it could be read (a dead letter is shown to that ward's people).
    ward: WardId | None = None
    # The original record, as text when it was UTF-8 and base64 otherwise, so nothing is lost.
    original_value: str
    original_encoding: Literal["utf-8", "base64"]
