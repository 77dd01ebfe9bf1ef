"""The platform's part of people's acts on citizens' comments and messages (feedback.actions), once per action id.

`reply`, `hide` and `unhide` reach the platform where its API allows it (contracts.feedback.FEEDBACK_ABILITIES); the
other acts (assign, tag, handled, reopen) are the inbox's own and are ignored here. Each outcome is said on
feedback.done (`replied` with the reply's platform id and text, `hidden`, `unhidden`, or `failed` with the reason),
with an event id derived from the action id, so an answer repeated after a redelivery is the same event.

Exactly once, through the ledger's `feedback_actions` (as posts.actions): the action is recorded DOING, with the
time, before the platform is asked, and DONE or FAILED (with the FeedbackDone) once it answers; a DONE or FAILED
action delivered again is answered again from the ledger, never done again. Hiding and showing are idempotent, so a
DOING one (a crash mid-call) is simply done again. A reply is not: posting it again would answer the citizen twice.
So a reply that may have reached the platform (DOING after a crash, or a retry after a 5xx or a dropped connection
whose answer was lost) is first looked for in the thread: a reply by the channel with exactly this text, written
since the action began and not made by another action (the ledger keeps every reply id Loa made). Found, it is this
action's; not found, the platform never made it, and it is posted now.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from loa_core.channels import Channel
from loa_core.contracts import FEEDBACK_DONE, FeedbackAction, FeedbackDone, utc_now
from loa_core.kafka import EventProducer
from loa_core.streaming import PermanentError, RetryableError
from loa_publisher import metrics
from loa_publisher.adapters import Adapter, FeedbackItem, ItemGone, Moderates, Replies
from loa_publisher.adapters.http import RetryPolicy, with_backoff
from loa_publisher.decide import Act, Ignore, Refuse, Repeat, decide_feedback
from loa_publisher.ledger import Ledger
from loa_publisher.publish import failure_reason

log = logging.getLogger(__name__)

# A reply read back from the thread counts as this action's if the platform dated it at most this long before the
# action began (the platform's clock and ours need not agree); the text, the author and the ledger's other replies
# are what tell it apart.
CLOCK_SKEW = timedelta(minutes=5)

GONE = (
    "the comment or message is no longer on the platform (deleted by its author or a moderator) / bình luận hoặc tin"
    " nhắn không còn trên nền tảng (người viết hoặc người kiểm duyệt đã xoá)"
)


def failed_because(platform: str, exc: Exception) -> str:
    """Why an act failed, for the person who asked (English, then Vietnamese): the platform's own words, and whether
    asking again later may help."""
    words = failure_reason(platform, exc)
    if " / " in words:  # already said in both languages (a Zalo window, a refusal of ours)
        return words
    if isinstance(exc, RetryableError):
        return (
            f"{words}: ask again once {platform} is back / {platform} chưa phản hồi hoặc đã hết hạn mức: hãy thử lại"
            f" sau ({words})"
        )
    return f"{words} / {platform} từ chối yêu cầu ({words})"


def done_id(action_id: str) -> str:
    """The feedback.done event id of one action: announcing it again repeats the same event."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"loa:feedback.done:{action_id}").hex


class Responder:
    def __init__(
        self,
        *,
        channels: Mapping[str, Channel],
        adapters: Mapping[str, Adapter],
        ledger: Ledger,
        producer: EventProducer,
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.channels = channels
        self.adapters = adapters
        self.ledger = ledger
        self.producer = producer
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    async def handle(self, action: FeedbackAction) -> FeedbackDone | None:
        """One feedback.actions event (first delivery or a redelivery): the FeedbackDone said, or None for an act
        that is not the publisher's."""
        async with self._locks.setdefault(action.item_id, asyncio.Lock()):
            return await self._handle_locked(action)

    async def _handle_locked(self, action: FeedbackAction) -> FeedbackDone | None:
        entry = self.ledger.feedback(action.event_id)
        channel = self.channels.get(action.channel)
        if channel is not None and channel.ward != action.ward:
            channel = None  # another ward's channel is not this action's to touch
        adapter = self.adapters.get(channel.platform) if channel is not None else None
        able = isinstance(adapter, Replies) if action.action == "reply" else isinstance(adapter, Moderates)
        step = decide_feedback(
            action.action,
            entry.state if entry is not None else None,
            platform=channel.platform if channel is not None else None,
            has_adapter=able,
        )
        match step:
            case Ignore():
                return None
            case Repeat():
                assert entry is not None and entry.record is not None
                done = FeedbackDone.read_json(entry.record)
                await self.producer.send(FEEDBACK_DONE, done)
                return done
            case Refuse(reason):
                log.info("feedback action %s refused: %s", action.event_id, reason)
                self._start(action)
                return await self._answer(action, channel.platform if channel else "unknown", "failed", reason=reason)
            case Act(again):
                assert channel is not None and adapter is not None
                if again:
                    log.warning("feedback action %s was cut short; finishing it", action.event_id)
                self._start(action)
                return await self._on_platform(action, channel, adapter, again=again)
        raise AssertionError(f"unhandled step {step!r}")  # pragma: no cover

    def _start(self, action: FeedbackAction) -> None:
        self.ledger.start_feedback(
            action.event_id,
            item_id=action.item_id,
            channel=action.channel,
            external_id=action.external_id,
            action=action.action,
        )

    async def _on_platform(
        self, action: FeedbackAction, channel: Channel, adapter: Adapter, *, again: bool
    ) -> FeedbackDone:
        item = FeedbackItem(channel, action.external_id, action.thread_id, action.author_id)
        try:
            if action.action == "reply":
                assert isinstance(adapter, Replies) and action.text is not None
                reply_id = await self._reply_once(action, adapter, item, action.text, look_first=again)
                return await self._answer(action, channel.platform, "replied", reply_id=reply_id)
            assert isinstance(adapter, Moderates)
            await with_backoff(self.policy, action.action, lambda: adapter.set_hidden(item, action.action == "hide"))
            return await self._answer(action, channel.platform, "hidden" if action.action == "hide" else "unhidden")
        except ItemGone as exc:
            reason = f"{GONE}: {failure_reason(channel.platform, exc)}"
        except (RetryableError, PermanentError) as exc:
            # The adapter and the backoff already retried (a quota spent is a RetryableError too). Rather than hold
            # the partition, every later act waiting behind it, the act is answered failed with the platform's words
            # (AuthorizationLost: the channel must be connected again); a person asks again once it can work.
            reason = failed_because(channel.platform, exc)
        log.warning("feedback action %s failed: %s", action.event_id, reason)
        return await self._answer(action, channel.platform, "failed", reason=reason)

    async def _reply_once(
        self, action: FeedbackAction, adapter: Replies, item: FeedbackItem, text: str, *, look_first: bool
    ) -> str:
        """Post the reply, unless it is already there: looked for first when an earlier attempt may have reached the
        platform (a crash, or a retry here after a 5xx or a dropped connection)."""
        entry = self.ledger.feedback(action.event_id)
        assert entry is not None
        since = entry.started_at - CLOCK_SKEW
        tried = look_first

        async def attempt() -> str:
            nonlocal tried
            if tried:
                known = self.ledger.replies_made(item.channel.name, item.external_id)
                found = await adapter.find_reply(item, text, since, known)
                if found is not None:
                    log.info("feedback action %s: its reply %s was already on the platform", action.event_id, found)
                    return found
            tried = True
            return await adapter.reply(item, text)

        return await with_backoff(self.policy, "reply", attempt)

    async def _answer(
        self,
        action: FeedbackAction,
        platform: str,
        state: str,
        *,
        reply_id: str | None = None,
        reason: str | None = None,
    ) -> FeedbackDone:
        """Record the outcome in the ledger, then say it on feedback.done."""
        done = FeedbackDone(
            event_id=done_id(action.event_id),
            item_id=action.item_id,
            ward=action.ward,
            channel=action.channel,
            action_id=action.event_id,
            state=state,  # type: ignore[arg-type]  # one of DoneState, by the callers
            reply_id=reply_id,
            text=action.text if state == "replied" else None,
            reason=reason[:2000] if reason else None,
        )
        self.ledger.finish_feedback(
            action.event_id, done=state != "failed", record=done.model_dump_json(), reply_id=reply_id
        )
        metrics.FEEDBACK_ACTIONS.labels(platform, action.action, state).inc()
        await self.producer.send(FEEDBACK_DONE, done)
        return done
