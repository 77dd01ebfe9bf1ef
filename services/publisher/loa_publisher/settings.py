from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from loa_core.auth import token_hashes
from loa_core.db import database_url
from loa_core.settings import CommonSettings


class PublisherSettings(CommonSettings):
    model_config = SettingsConfigDict(populate_by_name=True)  # database_url=… too, beside its two variable names

    http_port: int = 8003
    # Where the `local` adapter publishes: a folder with the cuts and an index.html to open in a browser.
    publish_dir: Path = Path(".cache/run/published")
    # The ledger's database: postgresql://… when replicas share it, else <data_dir>/publisher-ledger.sqlite3.
    # LOA_LEDGER_URL, its name before every service had a database, is still read.
    database_url: str | None = Field(default=None, validation_alias=AliasChoices("LOA_DATABASE_URL", "LOA_LEDGER_URL"))
    # Channel secrets: LOA_SECRET_<CHANNEL>_<NAME>, else the file <secrets_dir>/<channel>/<name>.
    secrets_dir: Path | None = None
    # The service token that reads connected channels' credentials from ingest (LOA_INGEST_URL); ingest knows its
    # sha256 (LOA_SERVICE_TOKEN_HASHES). `make run` generates one.
    service_token: SecretStr | None = None
    # sha256 hex digests of the service tokens that may take a connected TikTok or Zalo channel's access token
    # (/internal/access_tokens: metrics' LOA_SERVICE_TOKEN; their refresh tokens rotate, so only the publisher
    # refreshes). No person's token ever may. `make run` generates one.
    service_token_hashes: str = ""
    # Sign every post's cut with its ward's key (a C2PA manifest, from ingest over the service token) before its
    # upload; a cut that cannot be signed is not published. Off only for test stacks that post synthetic bytes.
    sign_cuts: bool = True
    # YouTube chunk size: a multiple of 256 KiB. Chunks are streamed from storage in 2 MiB pieces, so this sets
    # how much is re-sent after an interruption and how many round trips an upload takes, not memory.
    youtube_chunk_bytes: int = 32 * 1024 * 1024
    # TikTok's preferred chunk size, 5–64 MiB (TikTok's limits for one chunk). The plan follows TikTok's rules for
    # each file: a cut that fits in one allowed chunk goes whole, one over 64 MiB is never sent as a single chunk,
    # and one that would need more than 1000 chunks gets bigger ones. Sets how much is re-sent after an
    # interruption, not memory (chunks are streamed from storage).
    tiktok_chunk_bytes: int = Field(default=10 * 1024 * 1024, ge=5 * 1024 * 1024, le=64 * 1024 * 1024)
    # Backoff for 5xx/429/dropped connections, per request: attempts, first and longest wait (full jitter).
    retry_attempts: int = 8
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0
    # A post whose platform stayed down through the backoff is held this long, then tried again (resuming).
    hold_after_transient_s: float = 300.0
    # A post whose platform keeps failing transiently (5xx, 429, dropped connections) this long after its first
    # failure is shown as failed (posts.failed, retryable) and waits for `loa retry`, which resumes its upload.
    give_up_after_s: float = 86400.0
    # How often held posts (publish times, quota waits, `loa retry`) are checked.
    schedule_poll_s: float = 5.0
    # A post being uploaded refreshes its ledger row this often; one whose row went quiet for
    # `abandoned_after_s` belonged to a worker that died, and is resumed (with its session) by the scheduler.
    heartbeat_s: float = 30.0
    abandoned_after_s: float = 300.0
    # How often platform-side processing (TikTok status, Zalo verify) is polled, and for how long at most.
    status_poll_s: float = 5.0
    status_timeout_s: float = 3600.0
    # Notices to approvers when a post first waits for approval (loa_publisher/notify.py): e-mail over SMTP (sent
    # when smtp_host is set, to the ward's addresses in approval_emails, JSON {ward: [address, …]}) and a generic
    # webhook (a JSON POST to approval_webhook_url). The link in each notice: approval_link, with {ingest_url},
    # {footage_id} and {channel} filled in (the page requires signing in; the link carries no credential).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "loa@localhost"
    approval_emails: dict[str, list[str]] = Field(default_factory=dict)
    approval_webhook_url: str | None = None
    approval_link: str = "{ingest_url}/ui/footage/{footage_id}?channel={channel}"
    # Kafka consumer session timeout; unset keeps Faust's default. Tests shorten it so a SIGKILLed
    # worker's partitions move to its replacement quickly.
    broker_session_timeout_s: float | None = None

    def service_tokens(self) -> frozenset[str]:
        return token_hashes(self.service_token_hashes)

    def ledger_location(self) -> str:
        return database_url(self, "publisher-ledger.sqlite3")
