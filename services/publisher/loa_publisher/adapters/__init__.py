"""One small interface for every platform; each adapter lives in its own module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from loa_core.channels import Channel
from loa_core.contracts import FootageMetadata, Rendition


@dataclass(frozen=True)
class PublishRequest:
    footage_id: str
    channel: Channel
    rendition: Rendition
    metadata: FootageMetadata


@dataclass(frozen=True)
class PostResult:
    post_id: str
    url: str


class Adapter(Protocol):
    platform: str

    async def publish(self, request: PublishRequest) -> PostResult: ...
