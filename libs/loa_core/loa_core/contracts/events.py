"""The events of the pipeline, in the order they happen for one footage."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from loa_core.contracts.base import ChannelName, Event, Id, ProfileName

Title = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class FootageMetadata(BaseModel):
    """What the media team says about the footage; carried along so no service has to ask another."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: Title
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    tags: tuple[Annotated[str, StringConstraints(min_length=1, max_length=100)], ...] = ()
    series: Annotated[str, StringConstraints(max_length=100)] | None = None
    channels: tuple[ChannelName, ...] = Field(min_length=1)


class SourceMedia(BaseModel):
    """What ffprobe found in the upload, so transcode can plan without probing first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    size_bytes: int = Field(ge=1)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    duration_s: float = Field(gt=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    has_audio: bool


class FootageUploaded(Event):
    """Raw footage is in storage and validated. Key: footage_id."""

    footage_id: Id
    source: Literal["upload", "livestream"] = "upload"
    metadata: FootageMetadata
    media: SourceMedia


class Rendition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    profile: ProfileName
    key: str
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    duration_s: float = Field(gt=0)
    size_bytes: int = Field(ge=1)
    video_codec: str
    audio_codec: str | None


class RenditionsReady(Event):
    """Every cut of one footage is in storage, checked against its profile. Key: footage_id."""

    footage_id: Id
    metadata: FootageMetadata
    renditions: tuple[Rendition, ...] = Field(min_length=1)


class PostPublished(Event):
    """One rendition is live on one channel. Key: footage_id."""

    footage_id: Id
    channel: ChannelName
    platform: str
    profile: ProfileName
    post_id: str
    url: str
    published_at: datetime


class PostFailed(Event):
    """A post that will not happen without a person acting (the platform's message says why). Key: footage_id."""

    footage_id: Id
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
    footage_id: Id | None = None
    # The original record, as text when it was UTF-8 and base64 otherwise, so nothing is lost.
    original_value: str
    original_encoding: Literal["utf-8", "base64"]
