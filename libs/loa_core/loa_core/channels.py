"""Channels are configuration: which platform each one posts to and which cuts it receives."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from loa_core.contracts.base import ChannelName, ProfileName


class Channel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ChannelName
    platform: str
    profiles: tuple[ProfileName, ...] = Field(min_length=1)
    # Platform settings for the publisher's adapter (base URLs, page id, privacy, TikTok mode, templates).
    # Never credentials: those come from the environment or secret files, by channel name.
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # The channel's look, applied by transcode to every cut it makes for this channel's footage (storage
    # keys): the official logo watermark (a PNG with transparency), and intro/outro clips around the footage.
    logo_key: str | None = None
    intro_key: str | None = None
    outro_key: str | None = None


# The embedded default: one `local` channel that receives both cuts, so `make run` needs no configuration.
DEFAULT_CHANNELS: dict[str, Channel] = {
    "local": Channel(name="local", platform="local", profiles=("tiktok", "youtube")),
}

_channel_list = TypeAdapter(list[Channel])


def load_channels(path: Path | None) -> dict[str, Channel]:
    """Read a JSON list of channels; no file means the embedded default."""
    if path is None:
        return dict(DEFAULT_CHANNELS)
    channels = _channel_list.validate_json(Path(path).read_bytes())
    names = [c.name for c in channels]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: channel names must be unique, got {names}")
    return {c.name: c for c in channels}


def dump_channels(channels: list[Channel]) -> str:
    return json.dumps([c.model_dump(mode="json") for c in channels], ensure_ascii=False, indent=2)
