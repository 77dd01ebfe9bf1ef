"""The publisher worker: a thin Faust agent around `Publisher`, a timer for held posts, and `POST /posts/{id}/retry`."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
from fastapi import HTTPException
from faust.types import TP
from faust.web import Request, Response, View

from loa_core.auth import check_authorization
from loa_core.contracts import (
    FEEDBACK_ACTIONS,
    POSTS_ACTIONS,
    POSTS_DECISIONS,
    POSTS_SCHEDULE,
    PUBLISHER,
    RENDITIONS_READY,
    FeedbackAction,
    PostAction,
    PostDecision,
    PostSchedule,
    RenditionsReady,
    is_footage_id,
)
from loa_core.ingest_credentials import IngestCredentials
from loa_core.kafka import EventProducer
from loa_core.storage import Storage
from loa_core.streaming import ServiceApp, consume, follow_channels, make_app
from loa_publisher.access_tokens import serve_access_tokens
from loa_publisher.adapters import Adapter
from loa_publisher.adapters.facebook import FacebookAdapter
from loa_publisher.adapters.http import RetryPolicy
from loa_publisher.adapters.local import LocalAdapter
from loa_publisher.adapters.tiktok import TikTokAdapter
from loa_publisher.adapters.youtube import YouTubeAdapter
from loa_publisher.adapters.zalo import ZaloAdapter
from loa_publisher.auth import Secrets
from loa_publisher.decide import replica_conflict
from loa_publisher.feedback import Responder
from loa_publisher.ledger import Ledger
from loa_publisher.notify import Notifier
from loa_publisher.publish import Publisher
from loa_publisher.settings import PublisherSettings
from loa_publisher.signing import CutSigner, IngestKeys, NoKeys

SERVICE = PUBLISHER
log = logging.getLogger(__name__)
NO_POSTS = "No posts of this footage here (unknown, or not of your ward). / Không có bài đăng nào của video này."


def build_adapters(
    settings: PublisherSettings, storage: Storage, ledger: Ledger, http: httpx.AsyncClient
) -> dict[str, Adapter]:
    # A connected channel's credentials come from ingest (with the service token); env and files for the others.
    token = settings.service_token.get_secret_value() if settings.service_token else None
    connections = IngestCredentials(settings.ingest_url, token, http) if settings.ingest_url and token else None
    secrets = Secrets(settings.secrets_dir, connections=connections)
    policy = retry_policy(settings)
    return {
        "local": LocalAdapter(storage, settings.publish_dir),
        "youtube": YouTubeAdapter(
            storage, http, secrets, ledger, chunk_size=settings.youtube_chunk_bytes, policy=policy
        ),
        "tiktok": TikTokAdapter(
            storage,
            http,
            secrets,
            ledger,
            chunk_size=settings.tiktok_chunk_bytes,
            policy=policy,
            poll_s=settings.status_poll_s,
            poll_timeout_s=settings.status_timeout_s,
        ),
        "facebook": FacebookAdapter(storage, http, secrets, policy=policy, reels=ledger),
        "zalo": ZaloAdapter(
            storage,
            http,
            secrets,
            ledger,
            policy=policy,
            poll_s=settings.status_poll_s,
            poll_timeout_s=settings.status_timeout_s,
        ),
    }


def cut_signer(settings: PublisherSettings, storage: Storage, http: httpx.AsyncClient) -> CutSigner | None:
    """Each post's cut signed with its ward's key from ingest (none without LOA_INGEST_URL and LOA_SERVICE_TOKEN:
    then every post fails, said so, rather than go out unsigned)."""
    if not settings.sign_cuts:
        log.warning("LOA_SIGN_CUTS is off: cuts are published without a C2PA manifest")
        return None
    token = settings.service_token.get_secret_value() if settings.service_token else None
    keys = IngestKeys(settings.ingest_url, token, http) if settings.ingest_url and token else NoKeys()
    return CutSigner(storage, keys, settings.data_dir / "signing")


def retry_policy(settings: PublisherSettings) -> RetryPolicy:
    return RetryPolicy(settings.retry_attempts, settings.retry_initial_s, settings.retry_max_s)


def http_client() -> httpx.AsyncClient:
    # Long write/read timeouts: a chunk of several MB on a slow uplink; connect fails fast.
    return httpx.AsyncClient(timeout=httpx.Timeout(connect=15.0, read=300.0, write=300.0, pool=30.0))


def create_app(settings: PublisherSettings, storage: Storage, producer: EventProducer, ledger: Ledger) -> ServiceApp:
    overrides: dict[str, Any] = {}
    if settings.broker_session_timeout_s is not None:
        overrides["broker_session_timeout"] = settings.broker_session_timeout_s
    app = make_app(SERVICE, settings, stream_wait_empty=False, **overrides)
    # httpx logs every request line at INFO, query string included (Graph API tokens travel there): the
    # formatter would mask them, but they need not be written at all.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Channels as the registry says now (seeded from LOA_CHANNELS_FILE): added, changed or disconnected ones apply
    # at once; a post whose channel is not connected waits in the ledger (decide.DISCONNECTED).
    channels = follow_channels(app, settings, SERVICE)
    http = http_client()
    adapters = build_adapters(settings, storage, ledger, http)
    publisher = Publisher(
        channels=channels,
        adapters=adapters,
        ledger=ledger,
        producer=producer,
        hold_after_transient=timedelta(seconds=settings.hold_after_transient_s),
        give_up_after=timedelta(seconds=settings.give_up_after_s),
        heartbeat=timedelta(seconds=settings.heartbeat_s),
        abandoned_after=timedelta(seconds=settings.abandoned_after_s),
        notify=Notifier(settings, http).awaiting,
        signer=cut_signer(settings, storage, http),
    )

    async def handle(event: RenditionsReady) -> None:
        await channels.wait_ready()  # a channel not read yet is not one that does not exist
        await publisher.handle(event)

    consume(app, RENDITIONS_READY, service=SERVICE, prefix=settings.topic_prefix, producer=producer, handler=handle)

    async def decided(decision: PostDecision) -> None:
        await channels.wait_ready()
        await publisher.decided(decision)

    # Approvers' decisions: kept in the ledger; the posts waiting for them are asked about again at once.
    consume(app, POSTS_DECISIONS, service=SERVICE, prefix=settings.topic_prefix, producer=producer, handler=decided)

    async def act(action: PostAction) -> None:
        await channels.wait_ready()
        await publisher.act(action)

    # People's fixes to posts that went out (edit the text, unpublish): once per action id, through the ledger.
    consume(app, POSTS_ACTIONS, service=SERVICE, prefix=settings.topic_prefix, producer=producer, handler=act)

    async def rescheduled(change: PostSchedule) -> None:
        await channels.wait_ready()
        await publisher.rescheduled(change)

    # People's changes to when a post goes out (reschedule, cancel): kept in the ledger, held posts re-decided.
    consume(app, POSTS_SCHEDULE, service=SERVICE, prefix=settings.topic_prefix, producer=producer, handler=rescheduled)
    responder = Responder(
        channels=channels, adapters=adapters, ledger=ledger, producer=producer, policy=retry_policy(settings)
    )

    async def feedback(action: FeedbackAction) -> None:
        await channels.wait_ready()
        await responder.handle(action)

    # People's replies to citizens and their hiding of comments: on the platform once per action id, through the
    # ledger; the inbox's own acts (assign, tag, handled, reopen) are passed over.
    consume(app, FEEDBACK_ACTIONS, service=SERVICE, prefix=settings.topic_prefix, producer=producer, handler=feedback)
    topic = RENDITIONS_READY.full_name(settings.topic_prefix)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode's signal typing predates async receivers
    async def _alone_on_an_embedded_ledger(app: ServiceApp, assigned: set[TP], **_: Any) -> None:
        owned = sum(1 for tp in assigned if tp.topic == topic)
        conflict = replica_conflict(shared_ledger=ledger.shared, owned=owned, partitions=RENDITIONS_READY.partitions)
        if conflict is not None:
            # As at the dead-letter limit: nothing more is consumed (or acked) until a person fixes it and restarts.
            app.consumption.stop_topic(app, RENDITIONS_READY, topic, conflict)

    @app.timer(interval=settings.schedule_poll_s)
    async def post_held() -> None:
        # Held posts: publish times, quota waits, platforms that were down, `loa retry`. Survives restarts
        # because the ledger is the schedule. Drained at a stop like the agent's jobs: a post cut short stays
        # UPLOADING in the ledger with its session, and the next worker reclaims it.
        if app.consumption.stopping or not channels.ready:
            return
        try:
            await app.consumption.run(publisher.run_due())
        except Exception:
            log.exception("posting held posts failed; trying again at the next tick")

    roles = settings.ingest_roles()

    @app.page("/posts/{footage_id}/retry")
    class Retry(View):
        async def post(self, request: Request, footage_id: str) -> Response:
            try:
                # Re-driving a failed post is the media team's call: an uploader token or higher.
                caller = await check_authorization(
                    request.headers.get("Authorization"), settings.token_hashes(), roles, need="editor"
                )
            except HTTPException as refused:
                headers = dict(refused.headers or {})  # WWW-Authenticate, Retry-After
                return self.json({"detail": refused.detail}, status=refused.status_code, headers=headers)
            if not is_footage_id(footage_id):
                return self.json({"detail": "Not a footage id. / Mã video không hợp lệ."}, status=404)
            keys = publisher.retry(footage_id, caller.ward_filter())
            if keys is None:  # another ward's footage is not even confirmed to exist
                return self.json({"detail": NO_POSTS}, status=404)
            body: dict[str, Any] = {
                "footage_id": footage_id,
                "retried": [{"channel": k.channel, "profile": k.profile} for k in keys],
            }
            return self.json(body)

    # Metrics polls connected TikTok and Zalo channels with the access tokens this publisher's refreshers hold.
    tiktok, zalo = adapters["tiktok"], adapters["zalo"]
    assert isinstance(tiktok, TikTokAdapter) and isinstance(zalo, ZaloAdapter)
    serve_access_tokens(app, channels, {"tiktok": tiktok.tokens, "zalo": zalo.tokens}, settings.service_tokens())

    # Closed at the stop once the jobs in flight are drained (loa_core.streaming.Consumption), never under them.
    app.consumption.closers.append(http.aclose)
    return app
