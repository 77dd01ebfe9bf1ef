"""Collecting the citizens' comments: the platforms' listings read newest first, incrementally, within quotas.

A listing (one channel's comment threads on YouTube, one video's comments on Facebook) is read page by page, newest
first, down to the cursor's mark: the newest time already collected. What one page means is decided by a pure
function (`after_page`), the HTTP clients only read pages, and `collect_listing` runs the two:

- each page's comments are sent on feedback.received, and only then is the cursor advanced (`save`): a crash between
  the two sends that page again on the next round, and its item ids make it the same items (no gap, no duplicate);
- a round reads at most `page_cap` pages of a listing. One that is not finished (a backlog, or a platform that
  pages for ever) keeps its page token and the newest time it began with, and the next round resumes it; only when
  it reaches the mark does the mark move up to that newest time. So nothing between the old mark and the listing's
  top is skipped, and no round loops;
- every call spends from the platform's budget first (YouTube: 1 unit per commentThreads.list call, the same
  Budget as the statistics); when it is spent, the round stops where it is and resumes next time.

Entries are ordered by their own time: a YouTube thread by its top comment's, a Facebook comment by its own. A
reply under an old thread is collected with its thread when the thread is listed (YouTube lists up to 5 replies
with it); a reply on a thread older than the mark waits for the platform's webhook where there is one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loa_core.channels import Channel
from loa_core.contracts import FeedbackReceived, clean_text, feedback_item_id
from loa_core.contracts.feedback import FeedbackKind
from loa_metrics.feedback_store import Cursor
from loa_metrics.store import ts

log = logging.getLogger(__name__)

# Pages of one listing a round reads at most (YouTube: 100 threads a page, so 1,000 threads and 10 units).
PAGE_CAP = 10


@dataclass(frozen=True)
class Seen:
    """One comment or message as a platform gave it (before cleaning)."""

    external_id: str
    text: str
    written_at: datetime
    kind: FeedbackKind = "comment"
    thread_id: str | None = None
    post_id: str | None = None
    author_name: str = ""
    author_id: str | None = None
    url: str | None = None
    by_channel: bool = False


@dataclass(frozen=True)
class Entry:
    """One entry of a listing, in the listing's order: a YouTube thread (its comments: the top one and the replies
    listed with it), a Facebook comment. `at` is the time the listing orders by."""

    at: datetime
    comments: tuple[Seen, ...]


@dataclass(frozen=True)
class Page:
    entries: tuple[Entry, ...]
    next_token: str | None


@dataclass(frozen=True)
class Step:
    """What one page means: the comments to send, the cursor once they are sent, whether to read on."""

    send: tuple[Seen, ...]
    cursor: Cursor
    more: bool


def after_page(cursor: Cursor, page: Page) -> Step:
    """Decide on one page of a listing read from `cursor` (from its page token, or from the top if none).

    Entries at or after the mark are new (an entry at exactly the mark may be one already sent: its id makes it the
    same item); an entry before it means the listing reached what is collected."""
    mark = datetime.fromisoformat(cursor.newest_at) if cursor.newest_at else None
    began = cursor.listing_newest_at if cursor.page_token else None
    tops = [t for t in (began and datetime.fromisoformat(began), mark, *(e.at for e in page.entries)) if t]
    top = ts(max(tops)) if tops else None
    fresh = [e for e in page.entries if mark is None or e.at >= mark]
    send = tuple(c for e in fresh for c in e.comments)
    reached = mark is not None and len(fresh) < len(page.entries)
    if reached or page.next_token is None:
        return Step(send, Cursor(top), more=False)
    return Step(send, Cursor(cursor.newest_at, page.next_token, top), more=True)


async def collect_listing(
    cursor: Cursor,
    fetch: Callable[[str | None], Awaitable[Page]],
    send: Callable[[Sequence[Seen]], Awaitable[None]],
    save: Callable[[Cursor], None],
    *,
    spend: Callable[[], bool],
    page_cap: int = PAGE_CAP,
) -> int:
    """Read one listing for one round; returns how many comments were sent. `spend` takes one call's cost from the
    platform's budget (False: spent, stop here). A platform error propagates: the cursor stays where it was saved."""
    sent = 0
    for _ in range(page_cap):
        if not spend():
            break
        step = after_page(cursor, await fetch(cursor.page_token))
        await send(step.send)
        save(step.cursor)
        sent += len(step.send)
        cursor = step.cursor
        if not step.more:
            break
    return sent


def received(channel: Channel, seen: Seen, footage_of: Callable[[str], str | None]) -> FeedbackReceived:
    """The event for one comment: text cleaned and marked when cut, ids bounded, a link only if it is one."""
    text, truncated = clean_text(seen.text)
    author, _ = clean_text(seen.author_name, 200)
    return FeedbackReceived(
        item_id=feedback_item_id(channel.name, seen.external_id),
        ward=channel.ward,
        channel=channel.name,
        platform=channel.platform,
        kind=seen.kind,
        external_id=seen.external_id[:200],
        thread_id=seen.thread_id[:200] if seen.thread_id else None,
        post_id=seen.post_id[:200] if seen.post_id else None,
        footage_id=footage_of(seen.post_id) if seen.post_id else None,
        author_name=author,
        author_id=seen.author_id[:200] if seen.author_id else None,
        text=text,
        truncated=truncated,
        url=seen.url if seen.url and seen.url.startswith(("https://", "http://")) and len(seen.url) <= 2000 else None,
        written_at=seen.written_at,
        by_channel=seen.by_channel,
    )


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def youtube_page(body: dict[str, Any], own_channel_id: str) -> Page:
    """A commentThreads.list answer (part=snippet,replies) as a page: each thread with its listed replies."""
    entries = []
    for thread in body.get("items") or []:
        snippet = thread.get("snippet") or {}
        video_id = snippet.get("videoId")
        top = (snippet.get("topLevelComment") or {}).copy()
        comments = [_youtube_comment(top, None, video_id, own_channel_id)]
        comments += [
            _youtube_comment(reply, top.get("id"), video_id, own_channel_id)
            for reply in (thread.get("replies") or {}).get("comments") or []
        ]
        entries.append(Entry(comments[0].written_at, tuple(comments)))
    return Page(tuple(entries), body.get("nextPageToken") or None)


def _youtube_comment(comment: dict[str, Any], thread_id: str | None, video_id: str | None, own: str) -> Seen:
    s = comment.get("snippet") or {}
    author = (s.get("authorChannelId") or {}).get("value")
    link = f"https://www.youtube.com/watch?v={video_id}&lc={comment['id']}" if video_id else None
    return Seen(
        external_id=str(comment["id"]),
        # textOriginal is what the author wrote; textDisplay may be HTML.
        text=str(s.get("textOriginal") or s.get("textDisplay") or ""),
        written_at=_time(s["publishedAt"]),
        thread_id=thread_id,
        post_id=video_id,
        author_name=str(s.get("authorDisplayName") or ""),
        author_id=author,
        url=link,
        by_channel=author is not None and author == own,
    )


def facebook_page(body: dict[str, Any], video_id: str, page_id: str | None) -> Page:
    """A `GET /{video-id}/comments?filter=stream` answer as a page (newest first: order=reverse_chronological)."""
    entries = []
    for comment in body.get("data") or []:
        author = comment.get("from") or {}
        parent = (comment.get("parent") or {}).get("id")
        seen = Seen(
            external_id=str(comment["id"]),
            text=str(comment.get("message") or ""),
            written_at=_time(comment["created_time"]),
            thread_id=parent,
            post_id=video_id,
            author_name=str(author.get("name") or ""),
            author_id=author.get("id"),
            url=comment.get("permalink_url"),
            by_channel=page_id is not None and author.get("id") == page_id,
        )
        entries.append(Entry(seen.written_at, (seen,)))
    paging = body.get("paging") or {}
    after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
    return Page(tuple(entries), after)
