"""A channel registry for tests that build a service's rooms by hand (no reader, no broker)."""

from __future__ import annotations

from loa_core.channel_registry import ChannelRegistry
from loa_core.contracts import Channel


def known(*names: str) -> ChannelRegistry:
    """A registry that knows `local` channels of these names and is read up to date."""
    registry = ChannelRegistry(Channel(name=n, platform="local", profiles=("youtube",)) for n in names)
    registry.mark_ready()
    return registry
