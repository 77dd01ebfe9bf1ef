"""Channel files: the JSON list of channels installations used before channels lived in the app.

`loa_core.contracts.channels.Channel` is the channel; this module reads a file of them (the import path for existing
installations, and the embedded default `make run` starts with).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter

from loa_core.contracts.channels import Channel

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


__all__ = ["DEFAULT_CHANNELS", "Channel", "dump_channels", "load_channels"]
