"""Post every cut of a footage to every channel that wants it, exactly once, guided by the ledger.

Two ways in, one way through: `handle` for a renditions.ready event from Kafka, `run_due` for posts the ledger
held (a publish time, a quota that resets tomorrow, a platform that stayed down, `loa retry`). Both end in
`_post`, serialized per (footage, channel, cut): it asks the pure `decide.decide` what to do from the ledger's
record and the time, and does the I/O: never posting what the ledger says is POSTED, handing the adapter its
stored upload session so an interrupted upload resumes, and showing as failed (retryable) a post whose platform
stayed down for `give_up_after`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from loa_core.channels import Channel
from loa_core.contracts import (
    POSTS_CHANGED,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    PUBLISHER,
    RENDITIONS_READY,
    ChannelState,
    PostAction,
    PostChanged,
    PostDecision,
    PostFailed,
    PostPublished,
    PostSchedule,
    Rendition,
    RenditionsReady,
    approval_of,
    chosen_frame,
    chosen_text,
    utc_now,
)
from loa_core.contracts import PostText as ApprovedText
from loa_core.ingest_credentials import AuthorizationLost
from loa_core.kafka import EventProducer, dead_letter_for, send_dead_letter
from loa_core.observability import redact
from loa_core.posttext import approved, render
from loa_core.streaming import PermanentError, RetryableError
from loa_publisher import metrics
from loa_publisher.adapters import (
    Adapter,
    EditsText,
    LivePost,
    PostText,
    PublishRequest,
    QuotaExceeded,
    Reschedules,
    Unpublishes,
    UploadSession,
)
from loa_publisher.decide import (
    AWAITING_APPROVAL,
    DISCONNECTED,
    Act,
    Announce,
    Fail,
    GiveUp,
    Hold,
    Leave,
    Post,
    Refuse,
    Reject,
    Repeat,
    Seen,
    after_transient,
    decide,
    decide_action,
)
from loa_publisher.ledger import ActionEntry, Ledger, LedgerEntry, PostKey, PostState
from loa_publisher.notify import AwaitingApproval
from loa_publisher.signing import CutNotSigned, CutSigner

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


def announcement_id(key: PostKey, post_id: str) -> str:
    """The posts.published event id, derived from the post: announcing it again (a redelivery, a crash between the
    post and the commit, another replica) repeats the same event, as transcode's renditions.ready does."""
    name = f"loa:posts.published:{key.footage_id}:{key.channel}:{key.profile}:{post_id}"
    return uuid.uuid5(uuid.NAMESPACE_URL, name).hex


def change_id(action_id: str, profile: str) -> str:
    """The posts.changed event id of one action on one cut: announcing it again repeats the same event."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"loa:posts.changed:{action_id}:{profile}").hex


def failure_reason(platform: str, exc: Exception) -> str:
    """What the ledger and posts.failed say: the platform named once, here, before the adapter's own words
    (adapters and their HTTP helpers never name their platform, so it is not repeated)."""
    return redact(f"{platform}: {exc}")


class Publisher:
    def __init__(
        self,
        *,
        channels: Mapping[str, Channel],
        adapters: Mapping[str, Adapter],
        ledger: Ledger,
        producer: EventProducer,
        hold_after_transient: timedelta = timedelta(minutes=5),
        give_up_after: timedelta = timedelta(hours=24),
        heartbeat: timedelta = timedelta(seconds=30),
        abandoned_after: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utc_now,
        notify: Callable[[AwaitingApproval], Awaitable[None]] | None = None,
        signer: CutSigner | None = None,
    ) -> None:
        self.channels = channels
        self.adapters = adapters
        self.ledger = ledger
        self.producer = producer
        self.hold_after_transient = hold_after_transient
        self.give_up_after = give_up_after
        self.heartbeat = heartbeat
        self.abandoned_after = abandoned_after
        self.clock = clock
        self.notify = notify  # tells the ward's approvers when a post first waits for them
        # Signs each post's cut (C2PA) before its upload; the bootstrap always passes one (None: tests that post
        # synthetic bytes, which are no video).
        self.signer = signer
        self._locks: dict[PostKey, asyncio.Lock] = {}

    async def handle(self, event: RenditionsReady) -> None:
        """A renditions.ready event (first delivery or a redelivery)."""
        posts, problems = plan_posts(event, self.channels)
        for post in posts:
            try:
                await self._post(event, post)
            except PermanentError as exc:
                problems.append(str(exc))
        if problems:
            # The dead letter keeps the whole event; `loa retry` re-drives the FAILED posts from the ledger.
            raise PermanentError("; ".join(problems))

    async def run_due(self) -> int:
        """Post what the ledger held and is now due. Returns how many were attempted."""
        for key in self.ledger.reclaim_abandoned(self.abandoned_after):
            log.warning("resuming %s: the worker that was posting it stopped", key)
        attempted = 0
        for entry in self.ledger.due(self.clock()):
            if entry.request is None:
                continue
            event = RenditionsReady.from_bytes(entry.request.encode("utf-8"))  # a read: the evolution rule applies
            channel = self.channels.get(entry.channel)
            rendition = next((r for r in event.renditions if r.profile == entry.profile), None)
            attempted += 1
            try:
                if channel is None or rendition is None:
                    # Configuration changed while the post was held: say so, as any failure is said.
                    reason = f"channel {entry.channel!r} or its {entry.profile!r} cut is no longer configured"
                    self.ledger.mark_failed(entry.key, reason)
                    platform = channel.platform if channel else "unknown"
                    await self._failed(entry.key, event.ward, entry.channel, platform, reason, retryable=False)
                    raise PermanentError(reason)
                await self._post(event, PlannedPost(channel, rendition))
            except PermanentError as exc:
                # No Kafka record is being processed here, so the dead letter is sent by hand, carrying the
                # stored renditions.ready event, as the worker's own path would have.
                letter = dead_letter_for(
                    entry.request.encode("utf-8"),
                    service=PUBLISHER,
                    topic=RENDITIONS_READY.name,
                    error=exc,
                    footage_id=entry.footage_id,
                )
                await send_dead_letter(self.producer, letter)
            except RetryableError as exc:
                log.warning("held post %s will be retried: %s", entry.key, exc)
        return attempted

    async def decided(self, decision: PostDecision) -> int:
        """A posts.decisions event: kept in the ledger if it is the newest on its (footage, channel), then that
        channel's posts of the footage which wait for it (held, or rejected) are asked about again at once. A decision
        on posts not seen yet is only kept: `handle` applies it when their renditions arrive. Returns how many posts
        were asked about."""
        if not self.ledger.record_decision(decision):
            log.info(
                "decision %s is not the newest on %s/%s: ignored",
                decision.event_id,
                decision.footage_id,
                decision.channel,
            )
            return 0
        log.info("%s %s/%s (by %s)", decision.decision, decision.footage_id, decision.channel, decision.by)
        return await self._ask_again(decision.footage_id, decision.channel, (PostState.SCHEDULED, PostState.REJECTED))

    async def _ask_again(self, footage_id: str, channel_name: str, states: tuple[PostState, ...]) -> int:
        """Decide again, now, about the footage's posts to the channel that the ledger has in one of `states`."""
        channel = self.channels.get(channel_name)
        asked = 0
        for entry in self.ledger.entries(footage_id):
            if entry.channel != channel_name or entry.state not in states or entry.request is None or channel is None:
                continue
            event = RenditionsReady.from_bytes(entry.request.encode("utf-8"))
            rendition = next((r for r in event.renditions if r.profile == entry.profile), None)
            if rendition is None:
                continue
            asked += 1
            await self._post(event, PlannedPost(channel, rendition))
        return asked

    async def rescheduled(self, change: PostSchedule) -> int:
        """A posts.schedule event, if it is the newest on its (footage, channel): first the posts a platform holds
        for its own time (YouTube's publishAt: uploaded, not shown yet) get the new time there, then the change is
        kept in the ledger and the channel's held posts of the footage are asked about again at once (held until the
        new time, posted now if it has passed, held for ever if cancelled). A change on posts not seen yet is only
        kept: `handle` applies it when their renditions arrive; a post that was shown is not changed. A change cut
        short by a crash is redone when it is delivered again (the platform call sets the same time again).
        Returns how many posts were changed or asked about."""
        newest = self.ledger.schedule_change(change.footage_id, change.channel)
        if newest is not None and (newest.occurred_at, newest.event_id) >= (change.occurred_at, change.event_id):
            log.info("schedule change %s on %s/%s is not the newest: ignored", change.event_id, change.footage_id,
                     change.channel)  # fmt: skip
            return 0
        when = change.publish_at.isoformat() if change.publish_at else "now"
        what = "cancelled" if change.cancelled else f"moved to {when}"
        log.info("%s/%s %s (by %s)", change.footage_id, change.channel, what, change.by)
        moved = await self._reschedule_on_platform(change, newest)
        self.ledger.record_schedule(change)
        return moved + await self._ask_again(change.footage_id, change.channel, (PostState.SCHEDULED,))

    async def _reschedule_on_platform(self, change: PostSchedule, before: PostSchedule | None) -> int:
        """Move or cancel the platform's own schedule of the footage's posts on the channel that it has not shown yet:
        uploaded with a time still ahead (the previous change's, else the footage's), or cancelled before."""
        channel = self.channels.get(change.channel)
        adapter = self.adapters.get(channel.platform) if channel is not None else None
        if channel is None or not isinstance(adapter, Reschedules):
            return 0
        moved = 0
        for entry in self.ledger.entries(change.footage_id):
            posted = entry.state in (PostState.POSTED, PostState.EDITED)
            if entry.channel != change.channel or not posted or entry.post_id is None or entry.request is None:
                continue
            event = RenditionsReady.from_bytes(entry.request.encode("utf-8"))
            was = event.metadata.publish_at.get(channel.name) if before is None else before.publish_at
            if not ((before is not None and before.cancelled) or (was is not None and was > self.clock())):
                continue  # shown already (or posted at once): only an edit or an unpublish changes it now
            post = LivePost(channel=channel, post_id=entry.post_id, metadata=event.metadata)
            await adapter.reschedule(post, change.publish_at, change.cancelled)
            log.info("%s: %s on %s too", entry.key, "cancelled" if change.cancelled else "moved", channel.platform)
            moved += 1
        return moved

    async def act(self, action: PostAction) -> int:
        """A posts.actions event: change or take down every cut of the footage posted on the channel, once per
        action id (the ledger's `actions`), each answered on posts.changed. Returns how many posts were answered.
        An action on a footage with no post on that channel in its ward is a PermanentError (dead-lettered)."""
        entries = [
            e for e in self.ledger.entries(action.footage_id) if e.channel == action.channel and e.ward == action.ward
        ]
        if not entries:
            raise PermanentError(
                f"no post of footage {action.footage_id} on channel {action.channel!r} in ward {action.ward!r}"
            )
        for entry in entries:
            async with self._lock(entry.key):
                await self._act_locked(action, entry.key)
        return len(entries)

    async def _act_locked(self, action: PostAction, key: PostKey) -> None:
        entry = self.ledger.get(key.footage_id, key.channel, key.profile)
        assert entry is not None
        done = self.ledger.action(action.event_id, key.profile)
        channel = self.channels.get(key.channel)
        platform = channel.platform if channel is not None else "unknown"
        adapter = self.adapters.get(platform)
        able = EditsText if action.action == "edit" else Unpublishes
        step = decide_action(
            entry.state,
            done.state if done is not None else None,
            platform=platform,
            action=action.action,
            how=action.how,
            has_adapter=channel is not None and isinstance(adapter, able),
        )
        match step:
            case Repeat():
                assert done is not None
                await self._changed_again(done)
            case Refuse(reason):
                log.info("%s: action %s refused: %s", key, action.event_id, reason)
                await self._changed(action, key, entry, platform, None, reason=reason)
            case Act(again):
                assert channel is not None and adapter is not None and entry.post_id is not None
                if again:
                    log.warning("%s: action %s was cut short; doing it again", key, action.event_id)
                self.ledger.start_action(action.event_id, key)
                await self._act_on_platform(action, key, entry, channel, adapter)

    async def _act_on_platform(
        self, action: PostAction, key: PostKey, entry: LedgerEntry, channel: Channel, adapter: Adapter
    ) -> None:
        assert entry.post_id is not None and entry.request is not None
        event = RenditionsReady.from_bytes(entry.request.encode("utf-8"))
        post = LivePost(channel=channel, post_id=entry.post_id, metadata=event.metadata)
        text: PostText | None = None
        try:
            if action.action == "edit":
                assert isinstance(adapter, EditsText) and action.title is not None
                text = approved(channel, ApprovedText(title=action.title, description=action.description or ""))
                await adapter.update_text(post, text)
            else:
                assert isinstance(adapter, Unpublishes) and action.how is not None
                await adapter.unpublish(post, action.how)
        except (RetryableError, PermanentError, AuthorizationLost) as exc:
            # The adapter already backed off (QuotaExceeded is a RetryableError too). Rather than hold the topic's
            # partition, every later action waiting behind it, the action is answered failed with the platform's
            # words; a person asks again (a new action) once the platform is back, the quota reset or the channel
            # reconnected.
            reason = failure_reason(channel.platform, exc)
            log.warning("%s: action %s failed: %s", key, action.event_id, reason)
            await self._changed(action, key, entry, channel.platform, None, reason=reason)
            return
        state = PostState.EDITED if action.action == "edit" else PostState.UNPUBLISHED
        log.info("%s: %s on %s (action %s)", key, state.value.lower(), channel.name, action.event_id)
        await self._changed(action, key, entry, channel.platform, state, text=text)

    async def _changed(
        self,
        action: PostAction,
        key: PostKey,
        entry: LedgerEntry,
        platform: str,
        state: PostState | None,
        *,
        text: PostText | None = None,
        reason: str | None = None,
    ) -> None:
        """Record the outcome of the action on the post (with the post's new state), then announce it."""
        change = PostChanged(
            event_id=change_id(action.event_id, key.profile),
            footage_id=key.footage_id,
            ward=entry.ward,
            channel=key.channel,
            platform=platform,
            profile=key.profile,
            post_id=entry.post_id,
            action_id=action.event_id,
            state="failed" if state is None else ("edited" if state is PostState.EDITED else "unpublished"),
            title=text.title if text else None,
            description=text.description if text else None,
            how=action.how if state is PostState.UNPUBLISHED else None,
            reason=reason,
        )
        self.ledger.finish_action(action.event_id, key, record=change.model_dump_json(), post_state=state)
        metrics.POST_ACTIONS.labels(platform, action.action, change.state).inc()
        await self.producer.send(POSTS_CHANGED, change)

    async def _changed_again(self, done: ActionEntry) -> None:
        assert done.record is not None
        await self.producer.send(POSTS_CHANGED, PostChanged.read_json(done.record))

    def retry(self, footage_id: str, ward: str | None) -> list[PostKey] | None:
        """`loa retry ID`: every FAILED post of the footage is due now (the next `run_due` posts it), if the footage
        has posts in `ward` (None: any ward); else None (unknown here, or another ward's)."""
        return self.ledger.retry_failed(footage_id, ward)

    async def _heartbeat(self, key: PostKey) -> None:
        """Keep the row fresh while its upload runs (see `Ledger.reclaim_abandoned`)."""
        while True:
            await asyncio.sleep(self.heartbeat.total_seconds())
            try:
                self.ledger.touch(key)
            except Exception:  # a missed beat only risks an early reclaim, which the per-key lock serializes
                log.warning("ledger heartbeat for %s failed", key, exc_info=True)

    def _lock(self, key: PostKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _post(self, event: RenditionsReady, post: PlannedPost) -> None:
        key = PostKey(event.footage_id, post.channel.name, post.rendition.profile)
        async with self._lock(key):
            await self._post_locked(event, post, key)

    async def _post_locked(self, event: RenditionsReady, post: PlannedPost, key: PostKey) -> None:
        """The I/O around `decide`: read the ledger, act on the answer."""
        channel = post.channel
        entry = self.ledger.get(key.footage_id, key.channel, key.profile)
        seen = Seen()
        if entry is not None:
            seen = Seen(entry.state, entry.due_at, entry.updated_at, entry.failing_since, entry.error)
        change = self.ledger.schedule_change(key.footage_id, key.channel)
        publish_at = change.publish_at if change is not None else event.metadata.publish_at.get(channel.name)
        decision = self.ledger.decision(key.footage_id, key.channel)
        approval = approval_of(
            channel.approval_required,
            decision,
            profile=key.profile,
            cut_sha256=post.rendition.sha256,
            own_text_sha256=ApprovedText.of(event.metadata).sha256(),
        )
        action = decide(
            seen,
            now=self.clock(),
            platform=channel.platform,
            publish_at=publish_at,
            has_adapter=channel.platform in self.adapters,
            connected=channel.state is ChannelState.CONNECTED,
            shared_ledger=self.ledger.shared,
            abandoned_after=self.abandoned_after,
            approval=approval,
            cancelled=change is not None and change.cancelled,
        )
        match action:
            case Announce():
                assert entry is not None
                await self._announce(entry, channel)
            case Leave(why):
                # A post waiting for its channel or an approver is asked about at every tick: said once, when held.
                quiet = why in (DISCONNECTED, AWAITING_APPROVAL)
                log.log(logging.DEBUG if quiet else logging.INFO, "%s: nothing to do now (%s)", key, why)
            case Hold(until, _, reason):
                self.ledger.schedule(key, until, request=event.model_dump_json(), ward=event.ward, reason=reason)
                log.info("holding %s until %s%s", key, until.isoformat(), f": {reason}" if reason else "")
                if reason == AWAITING_APPROVAL and self.notify is not None:
                    # Held for approval now (not before: then decide leaves it): the approvers hear of it once.
                    notice = AwaitingApproval(
                        footage_id=key.footage_id,
                        ward=channel.ward,  # whose approvers decide (ingest checks the channel's ward)
                        channel=channel.name,
                        platform=channel.platform,
                        profile=key.profile,
                        title=event.metadata.title,
                        cut_sha256=post.rendition.sha256,
                        text_sha256=ApprovedText.of(event.metadata).sha256(),
                    )
                    await self.notify(notice)
            case Fail(reason):
                raise PermanentError(f"{reason} (channel {channel.name!r})")
            case Reject(reason):
                # A person decided: not a processing failure (no dead letter), but the editor must hear why.
                self.ledger.mark_rejected(key, request=event.model_dump_json(), ward=event.ward, reason=reason)
                log.info("%s rejected: %s", key, reason)
                await self._failed(key, event.ward, channel.name, channel.platform, reason, retryable=False)
            case Post(claim):
                if claim and not self.ledger.claim_due(key):
                    return  # another worker took it
                # A person's words (an editor's edit, an approver's change); else the channel's templates over the
                # footage's own.
                changed = chosen_text(decision, approval)
                text = approved(channel, changed) if changed else render(channel, event.metadata, key.footage_id)
                frame = chosen_frame(decision, approval)
                await self._attempt(event, post, key, publish_at, seen.failing_since, text, frame)

    async def _attempt(
        self,
        event: RenditionsReady,
        post: PlannedPost,
        key: PostKey,
        publish_at: datetime | None,
        failing_since: datetime | None,
        text: PostText,
        frame: int | None = None,
    ) -> None:
        """One call to the adapter, with its outcome written to the ledger (and announced)."""
        channel, request_json = post.channel, event.model_dump_json()
        adapter = self.adapters[channel.platform]
        self.ledger.mark_pending(key, request_json, event.ward)
        stored = self.ledger.get(key.footage_id, key.channel, key.profile)
        session = UploadSession(
            stored.session if stored else None,
            _save=lambda data: self.ledger.save_session(key, data),
            _clear=lambda: self.ledger.clear_session(key),
        )
        request = PublishRequest(
            footage_id=key.footage_id,
            channel=channel,
            rendition=post.rendition,
            metadata=event.metadata,
            text=text,
            publish_at=publish_at,
            images=event.images,
            frame=frame,
        )
        heartbeat = asyncio.create_task(self._heartbeat(key))
        try:
            if self.signer is not None:
                # Signed once, before the first byte goes out: a retry finds the same signed copy.
                signed = await self.signer.signed(event, post.rendition, channel, publish_at)
                request = replace(request, rendition=signed)
            with metrics.upload(channel.platform):
                result = await adapter.publish(request, session)
        except QuotaExceeded as exc:
            # Not a failure: the platform's day is over. The stored session (if any) is resumed then.
            reason = failure_reason(channel.platform, exc)
            self.ledger.schedule(key, exc.retry_at, request=request_json, ward=event.ward, reason=reason)
            log.warning("quota exhausted for %s: holding until %s", key, exc.retry_at.isoformat())
            return
        except RetryableError as exc:
            # The adapter already backed off; hold the post rather than block this partition, and try later,
            # until the failures have lasted too long to keep quiet about.
            reason = failure_reason(channel.platform, exc)
            now = self.clock()
            match after_transient(
                failing_since, now=now, hold=self.hold_after_transient, give_up_after=self.give_up_after
            ):
                case Hold(until, since):
                    assert since is not None
                    self.ledger.hold_failing(
                        key, until, request=request_json, ward=event.ward, reason=reason, failing_since=since
                    )
                    log.warning("%s still failing (%s): holding until %s", key, reason, until.isoformat())
                case GiveUp(since):
                    # Shown as failed, retryable: the session is kept, so `loa retry` resumes the upload.
                    self.ledger.mark_failed(key, reason, keep_session=True)
                    log.error("%s failing since %s: shown as failed (%s)", key, since.isoformat(), reason)
                    await self._failed(key, event.ward, channel.name, channel.platform, reason, retryable=True)
            return
        except AuthorizationLost:
            # The platform revoked the channel's sign-in and ingest now shows it disconnected: the post waits (as
            # for any disconnected channel) and goes out once a ward admin connects the channel again.
            self.ledger.schedule(key, self.clock(), request=request_json, ward=event.ward, reason=DISCONNECTED)
            log.warning("%s waits: channel %s lost its authorization on %s", key, channel.name, channel.platform)
            return
        except CutNotSigned as exc:
            # Not published, and said so; retryable (`loa retry`) once the key or the cut is fixed.
            reason = redact(str(exc))
            self.ledger.mark_failed(key, reason)
            await self._failed(key, event.ward, channel.name, channel.platform, reason, retryable=True)
            raise PermanentError(reason) from exc
        except PermanentError as exc:
            reason = failure_reason(channel.platform, exc)
            self.ledger.mark_failed(key, reason)
            await self._failed(key, event.ward, channel.name, channel.platform, reason, retryable=False)
            raise PermanentError(reason) from exc
        finally:
            heartbeat.cancel()
        self.ledger.mark_posted(key, post_id=result.post_id, url=result.url, published_at=self.clock())
        log.info("posted %s to %s: %s", key, channel.name, result.url)
        posted = self.ledger.get(key.footage_id, key.channel, key.profile)
        assert posted is not None
        await self._announce(posted, channel)

    async def _failed(
        self, key: PostKey, ward: str, channel: str, platform: str, reason: str, *, retryable: bool
    ) -> None:
        await self.producer.send(
            POSTS_FAILED,
            PostFailed(
                footage_id=key.footage_id,
                ward=ward,
                channel=channel,
                platform=platform,
                reason=reason,
                retryable=retryable,
            ),
        )

    async def _announce(self, entry: LedgerEntry, channel: Channel) -> None:
        assert entry.post_id and entry.url and entry.published_at
        signed = None
        if self.signer is not None:
            signed = await self.signer.uploaded_sha256(entry.footage_id, channel.name, entry.profile)
        await self.producer.send(
            POSTS_PUBLISHED,
            PostPublished(
                event_id=announcement_id(entry.key, entry.post_id),
                footage_id=entry.footage_id,
                ward=entry.ward,
                channel=channel.name,
                platform=channel.platform,
                profile=entry.profile,
                post_id=entry.post_id,
                url=entry.url,
                published_at=entry.published_at,
                sha256=signed,
            ),
        )
