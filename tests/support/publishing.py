"""Helpers for publisher tests: a stored rendition of random bytes, requests, sessions backed by a real ledger."""

from __future__ import annotations

import os

from loa_core.channels import Channel
from loa_core.contracts import FootageMetadata, Rendition, RenditionsReady, layout, new_id
from loa_core.posttext import render
from loa_core.storage import LocalStorage
from loa_publisher.adapters import PublishRequest, UploadSession
from loa_publisher.adapters.http import RetryPolicy
from loa_publisher.ledger import Ledger, PostKey

FAST = RetryPolicy(attempts=6, initial_s=0.01, max_s=0.05)


def stored_rendition(
    storage: LocalStorage, size: int, profile: str = "youtube", footage_id: str | None = None
) -> Rendition:
    """Random bytes stored as a rendition (the adapters never look inside the video)."""
    footage_id = footage_id or new_id()
    key = layout.rendition_key(footage_id, profile)
    path = storage.root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        remaining = size
        while remaining:
            piece = min(remaining, 4 * 1024 * 1024)
            out.write(os.urandom(piece))
            remaining -= piece
    return Rendition(
        profile=profile,
        key=key,
        width=1920,
        height=1080,
        duration_s=12.0,
        size_bytes=size,
        video_codec="h264",
        audio_codec="aac",
    )


def metadata(channels: tuple[str, ...], **extra: object) -> FootageMetadata:
    return FootageMetadata(
        title="Lễ kỷ niệm 80 năm Cách mạng Tháng Tám — phường Bến Nghé",
        description="Toàn cảnh buổi lễ tại nhà văn hoá phường. Người dân tham dự đông đủ.",
        tags=("phường Bến Nghé", "lễ kỷ niệm", "Cách mạng Tháng Tám"),
        channels=channels,
        **extra,  # type: ignore[arg-type]
    )


def request_for(channel: Channel, rendition: Rendition, footage_id: str, meta: FootageMetadata) -> PublishRequest:
    return PublishRequest(
        footage_id=footage_id,
        channel=channel,
        rendition=rendition,
        metadata=meta,
        text=render(channel, meta, footage_id),
        publish_at=meta.publish_at.get(channel.name),
    )


def ledger_session(ledger: Ledger, key: PostKey) -> UploadSession:
    entry = ledger.get(key.footage_id, key.channel, key.profile)
    return UploadSession(
        entry.session if entry else None,
        _save=lambda data: ledger.save_session(key, data),
        _clear=lambda: ledger.clear_session(key),
    )


def event_for(footage_id: str, meta: FootageMetadata, *renditions: Rendition) -> RenditionsReady:
    return RenditionsReady(footage_id=footage_id, metadata=meta, renditions=renditions)
