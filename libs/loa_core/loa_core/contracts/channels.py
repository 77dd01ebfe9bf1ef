"""Channels: where a ward's cuts are posted, and the registry event that carries each channel to every service.

Channels live in ingest's database (managed on the page by a ward admin) and reach every service through the
compacted `channels.registry` topic: one record per channel, keyed by its name, each the channel's whole current
configuration, so the newest record per key is all a reader needs. Every process of every service reads the whole
topic from the start (no consumer group) and keeps the result in memory, so a change applies everywhere within
seconds, without a restart.

Credentials never travel here: a record says only whether the channel is connected and under which
`connection_id` (which changes on every OAuth sign-in); the publisher fetches the credentials of that connection
from ingest over an authenticated internal call.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from loa_core.contracts.base import DEFAULT_WARD, ChannelName, Contract, Event, ProfileName, WardId

Platform = Literal["local", "youtube", "tiktok", "facebook", "zalo"]
PLATFORMS: tuple[Platform, ...] = ("local", "youtube", "tiktok", "facebook", "zalo")
# The cuts transcode makes (loa_transcode/profiles.py PROFILES, checked equal by a test): what a channel may receive.
PROFILE_NAMES: tuple[str, ...] = ("tiktok", "shorts", "youtube", "zalo")
# The cuts a new channel of each platform receives unless its ward admin picks others.
DEFAULT_PROFILES: dict[str, tuple[str, ...]] = {
    "local": ("tiktok", "youtube"),
    "youtube": ("youtube",),
    "tiktok": ("tiktok",),
    "facebook": ("youtube",),
    "zalo": ("zalo",),
}


class ChannelState(StrEnum):
    """Whether a channel can post now. Posts to a channel that is not CONNECTED wait (they do not fail)."""

    CONNECTED = "connected"  # ready: `local`, or a platform channel whose OAuth sign-in holds
    DISCONNECTED = "disconnected"  # never signed in, or the platform revoked it: a ward admin reconnects it
    REMOVED = "removed"  # deleted by a ward admin: readers forget it


class Channel(Contract):
    """One channel's configuration: its ward, platform, cuts, adapter options, approval rule and branding."""

    name: ChannelName  # unique in the installation (e.g. "p1-youtube"): the ledger, metrics and events key by it
    platform: str
    profiles: tuple[ProfileName, ...] = Field(min_length=1)
    # Platform settings for the publisher's adapter (base URLs, page id, privacy, TikTok mode, templates).
    # Never credentials: those come from the channel's OAuth connection, the environment or secret files.
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # The channel's look, applied by transcode to every cut it makes for this channel's footage (storage
    # keys): the official logo watermark (a PNG with transparency), and intro/outro clips around the footage.
    logo_key: str | None = None
    intro_key: str | None = None
    outro_key: str | None = None
    ward: WardId = DEFAULT_WARD
    # Posts wait for an approver's decision before they go out (on by default for platform channels).
    approval_required: bool = False
    state: ChannelState = ChannelState.CONNECTED
    # Changes on every OAuth sign-in: the publisher keys fetched credentials and rotated refresh tokens by it, so a
    # reconnection never reuses a token of the connection it replaced. None: credentials from env/secret files.
    connection_id: str | None = None


class ChannelUpdated(Event):
    """A channel's whole current configuration (or its removal). Key: the channel's name. Compacted topic."""

    channel: Channel
    # Counts this channel's changes: a reader keeps the highest it has seen, so a replayed older record is ignored.
    revision: int = Field(ge=1)

    @property
    def name(self) -> str:
        """The record key."""
        return self.channel.name
