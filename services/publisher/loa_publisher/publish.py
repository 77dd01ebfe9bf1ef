"""Post every cut of a footage to every channel that wants it, exactly once, guided by the ledger."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from loa_core.channels import Channel
from loa_core.contracts import (
    POSTS_FAILED,
    POSTS_PUBLISHED,
    PostFailed,
    PostPublished,
    Rendition,
    RenditionsReady,
    utc_now,
)
from loa_core.kafka import EventProducer
from loa_core.streaming import PermanentError, RetryableError
from loa_publisher.adapters import Adapter, PublishRequest
from loa_publisher.ledger import Ledger, PostState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannedPost:
    channel: Channel
    rendition: Rendition


def plan_posts(event: RenditionsReady, channels: Mapping[str, Channel]) -> tuple[list[PlannedPost], list[str]]:
    """Which cut goes to which channel (pure). Returns the posts and the problems that block some of them."""
    by_profile = {r.profile: r for r in event.renditions}
    posts: list[PlannedPost] = []
    problems: list[str] = []
    for name in event.metadata.channels:
        channel = channels.get(name)
        if channel is None:
            problems.append(f"channel {name!r} is not configured in the publisher")
            continue
        for profile in channel.profiles:
            rendition = by_profile.get(profile)
            if rendition is None:
                problems.append(f"channel {name!r} wants the {profile!r} cut, which was not produced")
            else:
                posts.append(PlannedPost(channel, rendition))
    return posts, problems


async def publish_all(
    event: RenditionsReady,
    *,
    channels: Mapping[str, Channel],
    adapters: Mapping[str, Adapter],
    ledger: Ledger,
    producer: EventProducer,
) -> None:
    posts, problems = plan_posts(event, channels)
    for post in posts:
        try:
            await _publish_one(event, post, adapters, ledger, producer)
        except PermanentError as exc:
            problems.append(str(exc))
    if problems:
        # The dead letter keeps the whole event: re-driving it re-tries only what the ledger has not POSTED.
        raise PermanentError("; ".join(problems))


async def _publish_one(
    event: RenditionsReady, post: PlannedPost, adapters: Mapping[str, Adapter], ledger: Ledger, producer: EventProducer
) -> None:
    footage_id, channel, profile = event.footage_id, post.channel, post.rendition.profile
    entry = ledger.get(footage_id, channel.name, profile)
    if entry is not None and entry.state is PostState.POSTED:
        # Posted before a crash or redelivery: announce again (consumers upsert), never post again.
        assert entry.post_id and entry.url and entry.published_at
        await producer.send(
            POSTS_PUBLISHED,
            PostPublished(
                footage_id=footage_id,
                channel=channel.name,
                platform=channel.platform,
                profile=profile,
                post_id=entry.post_id,
                url=entry.url,
                published_at=entry.published_at,
            ),
        )
        return
    adapter = adapters.get(channel.platform)
    if adapter is None:
        raise PermanentError(f"no adapter for platform {channel.platform!r} (channel {channel.name!r})")
    ledger.mark_pending(footage_id, channel.name, profile)
    try:
        result = await adapter.publish(
            PublishRequest(footage_id=footage_id, channel=channel, rendition=post.rendition, metadata=event.metadata)
        )
    except RetryableError:
        raise
    except PermanentError as exc:
        reason = f"{channel.platform}: {exc}"
        ledger.mark_failed(footage_id, channel.name, profile, reason)
        await producer.send(
            POSTS_FAILED,
            PostFailed(footage_id=footage_id, channel=channel.name, platform=channel.platform, reason=reason),
        )
        raise PermanentError(reason) from exc
    published_at = utc_now()
    ledger.mark_posted(
        footage_id, channel.name, profile, post_id=result.post_id, url=result.url, published_at=published_at
    )
    log.info("posted %s/%s to %s: %s", footage_id, profile, channel.name, result.url)
    await producer.send(
        POSTS_PUBLISHED,
        PostPublished(
            footage_id=footage_id,
            channel=channel.name,
            platform=channel.platform,
            profile=profile,
            post_id=result.post_id,
            url=result.url,
            published_at=published_at,
        ),
    )
