"""Builders of pipeline events for the metrics service's tests (valid contracts, fixed or given times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loa_core.contracts import (
    DeadLetter,
    FootageMetadata,
    FootageUploaded,
    PostFailed,
    PostPublished,
    Rendition,
    RenditionsReady,
    SourceMedia,
    layout,
    new_id,
)

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def metadata(
    title: str = "Lễ ra mắt", series: str | None = "Sự kiện phường", channels: tuple[str, ...] = ("local",)
) -> FootageMetadata:
    return FootageMetadata(title=title, series=series, channels=channels)


def uploaded(footage_id: str, at: datetime = T0, **meta: object) -> FootageUploaded:
    return FootageUploaded(
        footage_id=footage_id,
        occurred_at=at,
        metadata=metadata(**meta),  # type: ignore[arg-type]
        media=SourceMedia(
            key=layout.source_key(footage_id),
            size_bytes=1000,
            sha256="0" * 64,
            duration_s=2.0,
            width=640,
            height=360,
            has_audio=True,
        ),
    )


def renditions(footage_id: str, at: datetime = T0 + timedelta(seconds=30), **meta: object) -> RenditionsReady:
    return RenditionsReady(
        footage_id=footage_id,
        occurred_at=at,
        metadata=metadata(**meta),  # type: ignore[arg-type]
        renditions=tuple(
            Rendition(
                profile=profile,
                key=layout.rendition_key(footage_id, profile),
                width=w,
                height=h,
                duration_s=2.0,
                size_bytes=500,
                video_codec="h264",
                audio_codec="aac",
            )
            for profile, w, h in (("tiktok", 1080, 1920), ("youtube", 1920, 1080))
        ),
    )


def published(
    footage_id: str,
    profile: str,
    *,
    channel: str = "local",
    platform: str = "local",
    post_id: str | None = None,
    at: datetime = T0 + timedelta(seconds=60),
) -> PostPublished:
    return PostPublished(
        footage_id=footage_id,
        occurred_at=at,
        channel=channel,
        platform=platform,
        profile=profile,
        post_id=post_id or f"{footage_id}/{profile}",
        url=f"https://example.invalid/{footage_id}/{profile}",
        published_at=at,
    )


def post_failed(
    footage_id: str, channel: str = "local", platform: str = "local", *, at: datetime | None = None
) -> PostFailed:
    return PostFailed(
        footage_id=footage_id,
        occurred_at=at or datetime.now(UTC),
        channel=channel,
        platform=platform,
        reason="token revoked",
    )


def dead_letter(
    footage_id: str | None, service: str = "transcode", topic: str = "footage.uploaded", *, at: datetime | None = None
) -> DeadLetter:
    return DeadLetter(
        occurred_at=at or datetime.now(UTC),
        origin_service=service,
        origin_topic=topic,
        reason="MediaError: bad input",
        error_type="MediaError",
        footage_id=footage_id,
        original_value="{}",
        original_encoding="utf-8",
    )


__all__ = ["T0", "dead_letter", "new_id", "post_failed", "published", "renditions", "uploaded"]
