"""Settings every service shares. Each service subclasses `CommonSettings` once with its own fields."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    # Imported where used: loa_core.auth brings FastAPI, loa_core.storage boto3, loa_core.secrets cryptography,
    # which a process that serves no API and stores nothing (the metrics poller) should not load (about 25 MiB).
    from loa_core.auth import IngestRoles
    from loa_core.secrets import SecretBox
    from loa_core.storage import StorageSettings


class CommonSettings(BaseSettings):
    """Read from LOA_* environment variables (and secret files under /run/secrets when present)."""

    model_config = SettingsConfigDict(env_prefix="LOA_", secrets_dir=None, extra="ignore")

    # Kafka brokers to bootstrap from, comma-separated host:port.
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Prepended to every topic and consumer group: tests run many pipelines side by side on one broker.
    topic_prefix: str = ""
    # The service's local state: its SQLite databases, Faust's tables, work folders and spools.
    data_dir: Path = Path(".cache/run/data")
    # The service's database (loa_core.db): postgresql://user@host/db (psycopg 3) for state shared by replicas; all
    # services may share one database (each keeps its own tables and migration history). Unset: SQLite files in
    # data_dir, the embedded default.
    database_url: str | None = None
    # This process's name among its service's replicas, stable across its restarts (`make run` names each service;
    # a StatefulSet's pod name). With it a Faust worker is a static member of its consumer group (KIP-345): killed
    # and restarted, it takes its partitions back at once instead of waiting out its old session (Faust's
    # broker_session_timeout, 60 s) in a rebalance. The trade: a static member that stops for good (scaled down, or
    # replaced under a new name by a rolling update) does not leave the group, so its partitions wait out that same
    # session before moving. Unset: a dynamic member, which leaves at once on a clean stop.
    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    # Where the service's HTTP server (API, /healthz, /readyz, /metrics) listens.
    http_host: str = "127.0.0.1"
    http_port: int = 8000

    # The least severe log records written (to stderr, one line each).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # Object storage for sources and cuts: a local folder (storage_root) or an S3-compatible bucket.
    storage_backend: Literal["local", "s3"] = "local"
    storage_root: Path = Path(".cache/run/storage")

    # The S3 bucket and how to reach it (storage_backend=s3); no endpoint URL means AWS.
    s3_bucket: str = "loa"
    s3_endpoint_url: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"

    # sha256 hex digests of the API tokens allowed in; the tokens themselves are never stored.
    api_token_hashes: str = ""
    # Where ingest answers /whoami. The other services' APIs then also take ingest's role tokens (`loa token
    # create`), asking ingest about each (loa_core.auth.IngestRoles). None: the static tokens only.
    ingest_url: str | None = None
    # A JSON list of channels ({name, platform, profiles, options}); None: one `local` channel with both cuts.
    channels_file: Path | None = None

    # The key that encrypts secrets at rest (channel tokens, refresh tokens): a Fernet key (`python -m
    # loa_core.secrets` prints one), or several comma-separated: the first encrypts, all decrypt (key rotation).
    # Needed by the services that keep secrets (ingest, publisher); `make run` generates one.
    secret_key: SecretStr | None = None
    # A file holding the key(s), comma- or line-separated (a Docker or Kubernetes secret); read after secret_key.
    secret_key_file: Path | None = None

    # On SIGTERM (docker stop, a rolling deploy, Ctrl-C) a worker lets its jobs in flight finish for this long, then
    # abandons the rest: their records are not committed, so the partition's next owner redoes them. Keep it well
    # under the time the platform waits before SIGKILL (Docker 10 s, Kubernetes 30 s, `make run` 30 s).
    shutdown_grace_s: float = Field(default=5.0, ge=0)
    # The dead-letter limit (loa_core.streaming.DeadLetterLimit): at most this many records in a row go to the
    # dead-letter topic; the next one that fails is not dead-lettered: the service stops consuming that topic and
    # says why (/readyz 503, loa_consumer_stopped, alert LoaConsumerStopped). That record and those after it stay
    # uncommitted, so a restart after the fix (a bad deploy, storage back) processes them.
    dead_letter_max_consecutive: int = Field(default=10, ge=1)
    # The dead-letter limit's other bound: at most this share of the last `dead_letter_window` records may be
    # dead-lettered (checked once that many records were seen); one more stops consuming, as above.
    dead_letter_max_ratio: float = Field(default=0.5, gt=0, le=1)
    # How many of the latest records `dead_letter_max_ratio` is measured over.
    dead_letter_window: int = Field(default=100, ge=1)

    def token_hashes(self) -> frozenset[str]:
        from loa_core.auth import token_hashes

        return token_hashes(self.api_token_hashes)

    def secret_box(self) -> SecretBox | None:
        """The operator's keys, None when none is configured (SecretKeyError for a key that is not one)."""
        from loa_core.secrets import SecretBox, read_keys

        key = self.secret_key.get_secret_value() if self.secret_key is not None else None
        keys = read_keys(key, self.secret_key_file)
        return SecretBox(keys) if keys else None

    def required_secret_box(self) -> SecretBox:
        """The operator's keys for a service that keeps secrets: SecretKeyMissing (bilingual) when none is set."""
        from loa_core.secrets import SecretKeyMissing

        box = self.secret_box()
        if box is None:
            raise SecretKeyMissing()
        return box

    def ingest_roles(self) -> IngestRoles | None:
        from loa_core.auth import IngestRoles

        return IngestRoles(self.ingest_url) if self.ingest_url else None

    def storage(self) -> StorageSettings:
        from loa_core.storage import StorageSettings

        return StorageSettings(
            backend=self.storage_backend,
            root=self.storage_root,
            s3_bucket=self.s3_bucket,
            s3_endpoint_url=self.s3_endpoint_url,
            s3_access_key=self.s3_access_key,
            s3_secret_key=self.s3_secret_key,
            s3_region=self.s3_region,
        )
