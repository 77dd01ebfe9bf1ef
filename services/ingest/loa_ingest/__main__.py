"""`python -m loa_ingest`: the one bootstrap for ingest."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from loa_core.channels import load_channels
from loa_core.contracts import INGEST
from loa_core.kafka import EventProducer, ensure_topics
from loa_core.netsafe import Policy
from loa_core.observability import setup_logging
from loa_core.secrets import SecretKeyError
from loa_core.storage import make_storage
from loa_ingest.access import RateLimiter
from loa_ingest.accounts import ENCRYPTED_COLUMNS as ACCOUNT_SECRETS
from loa_ingest.accounts import LockoutPolicy, People
from loa_ingest.api import create_api
from loa_ingest.audit import AuditLog
from loa_ingest.channels import ChannelStore
from loa_ingest.credentials import reencrypt
from loa_ingest.oauth_api import ChannelSignIn
from loa_ingest.provenance_api import provenance_router
from loa_ingest.provenance_keys import ProvenanceKeys, provenance_keys
from loa_ingest.service import IngestService
from loa_ingest.settings import IngestSettings
from loa_ingest.signin import Gate
from loa_ingest.state import open_state
from loa_ingest.status import StatusRelay
from loa_ingest.tus import TusUploads
from loa_ingest.verify_page import VerifyPage

log = logging.getLogger("loa_ingest")
SWEEP_EVERY_S = 60.0


def verify_page(settings: IngestSettings, keys: ProvenanceKeys | None, engine: Engine) -> VerifyPage:
    """The public verification page (loa_ingest/verify_page.py) with its own limits, trusting the installation's
    roots (none before a first key is made, nor without the operator's key: a manifest then reads untrusted)."""
    private = tuple(h.strip() for h in settings.verify_allowed_private.split(",") if h.strip())
    return VerifyPage(
        metrics_url=settings.metrics_url.rstrip("/"),
        trust=keys.trust_if_any if keys is not None else lambda: None,
        limiter=RateLimiter.for_replicas(settings.verify_rate_per_s, settings.verify_rate_burst, engine, "verify"),
        scratch=settings.data_dir / "verify",
        max_bytes=settings.verify_max_bytes,
        fetch_policy=Policy(("*",), private, private_setting="LOA_VERIFY_ALLOWED_PRIVATE"),
        fetch_timeout_s=settings.verify_fetch_timeout_s,
    )


def build_app(settings: IngestSettings) -> FastAPI:
    producer = EventProducer(settings.kafka_bootstrap, settings.topic_prefix, service=INGEST)
    data = settings.data_dir
    state = open_state(settings.state_location(), settings.tus_spool_dir())
    relay = StatusRelay(settings.metrics_url, publisher_url=settings.publisher_url)
    keys = provenance_keys(settings, state.engine)  # the C2PA signing keys (loa_ingest/provenance_keys.py)
    sign_source = keys.sign_source if keys is not None else None
    service = IngestService(settings, make_storage(settings.storage()), producer, state.catalog, sign_source)
    channels = ChannelStore(state.engine, producer)
    audit = AuditLog(state.engine, producer)  # approvers' decisions (loa_ingest/audit.py)
    try:
        sign_in = ChannelSignIn.build(settings, state.engine)  # connecting channels with the platforms' sign-in
    except SecretKeyError as error:
        raise SystemExit(str(error)) from None
    # Channels live in the database; the first start of an installation imports its file (or the embedded `local`).
    if imported := channels.import_if_empty(load_channels(settings.channels_file).values()):
        log.info("imported %d channel(s) from %s", imported, settings.channels_file or "the embedded default")
    policy = LockoutPolicy(settings.signin_max_failures, settings.signin_lockout_s)
    people = People(state.engine, settings.secret_box(), policy)
    if (box := settings.secret_box()) and (reencrypted := reencrypt(state.engine, box, ACCOUNT_SECRETS)):
        log.info("re-encrypted %d person's second-factor secret(s) with the first key", reencrypted)
    people.ensure_first_admin(data)  # zero configuration: the default ward and its admin, on the first start
    api = create_api(
        service,
        channels,
        state.tokens,
        state.uploads,
        RateLimiter.for_replicas(settings.rate_limit_per_s, settings.rate_limit_burst, state.engine, "api"),
        relay,
        Gate(people, settings, settings.token_hashes, state.tokens),
        sign_in,
        audit,
        verify_page(settings, keys, state.engine),
    )
    api.include_router(provenance_router(settings, keys))
    tus: TusUploads = api.state.tus

    # The outboxes: what was recorded to be sent on Kafka and is not known to be sent (a crash, a failed send).
    outboxes: tuple[tuple[str, Callable[[], Awaitable[int]]], ...] = (
        ("announcements", service.announce_pending),
        ("channel registry records", channels.send_pending),
        ("post decisions", audit.send_pending),
    )

    async def send_pending() -> None:
        for what, send in outboxes:
            try:
                if sent := await send():
                    log.info("sent %d %s recorded but not known to be sent", sent, what)
            except Exception:
                log.exception("sending recorded %s failed; trying again later", what)

    async def sweep() -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            await send_pending()
            try:
                if expired := await tus.expire_due():
                    log.info("dropped %d expired uploads", expired)
            except Exception:
                log.exception("sweeping expired uploads failed; trying again later")
            try:
                sign_in.sign_ins.sweep()  # channel sign-ins that expired a day ago
            except Exception:
                log.exception("sweeping expired sign-ins failed; trying again later")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap, settings.topic_prefix)
        await producer.start()
        await send_pending()  # what a crash left between recording something and sending it (and imported channels)
        sweeper = asyncio.create_task(sweep())
        yield
        sweeper.cancel()
        await relay.close()
        await sign_in.http.aclose()
        await producer.stop()
        state.close()

    api.router.lifespan_context = lifespan
    return api


def main() -> None:
    settings = IngestSettings()
    setup_logging(INGEST, settings.log_level)
    uvicorn.run(build_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning")


if __name__ == "__main__":
    main()
