from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from loa_core.auth import token_hashes
from loa_core.db import database_url
from loa_core.settings import CommonSettings
from loa_ingest.oauth import PlatformApp


class IngestSettings(CommonSettings):
    http_port: int = 8001
    # Limits a source must meet before it is announced; beyond them the upload is refused with the reason.
    max_upload_bytes: int = 20 * 1024**3  # 20 GiB: a long ceremony in high quality
    max_duration_s: float = 6 * 3600.0
    min_side_px: int = 16
    max_side_px: int = 8192
    # An unfinished tus upload is kept this long after its last byte arrived (a ward office's evening outage).
    upload_expiry_s: float = 24 * 3600.0
    # Where unfinished tus uploads keep their bytes: `local`, a spool file on this machine's disk (the fastest; one
    # replica), or `shared`, one part per PATCH in object storage (LOA_STORAGE_*: S3 for replicas on several
    # machines) with the offsets in the database, so replicas behind one address share every upload (an upload
    # started on one resumes on another). Replicas also need a shared LOA_DATABASE_URL (PostgreSQL).
    tus_spool: Literal["local", "shared"] = "local"
    # Per API token: requests per second on average and the burst allowed (a tus client sends one PATCH per chunk).
    rate_limit_per_s: float = 20.0
    rate_limit_burst: int = 200
    # The public verification page (/verify, no sign-in): the largest file it checks (uploaded or linked), the checks
    # per second each client may make on average and in a burst, the time a linked file may take to download, and
    # hosts a link may point to although they are loopback or private (tests; comma-separated).
    verify_max_bytes: int = Field(default=512 * 1024**2, ge=1)
    verify_rate_per_s: float = Field(default=0.2, gt=0)
    verify_rate_burst: int = Field(default=5, ge=1)
    verify_fetch_timeout_s: float = Field(default=60.0, gt=0)
    verify_allowed_private: str = ""
    # The metrics service, whose status API the web page shows (ingest relays it with the caller's own token, so
    # metrics answers with what the caller's ward may see).
    metrics_url: str = "http://127.0.0.1:8004"
    # The publisher, whose POST /posts/{id}/retry the page's retry button reaches through ingest (relayed with the
    # caller's own token or session, as the status is: the publisher checks the role and the ward).
    publisher_url: str = "http://127.0.0.1:8003"
    # A channel's branding, uploaded by its ward admin (loa_ingest/channels_api.py): a logo image (PNG or JPEG) and
    # intro/outro clips, each refused beyond these limits.
    max_logo_bytes: int = 2 * 1024**2
    max_logo_side_px: int = 4096
    max_branding_clip_bytes: int = 200 * 1024**2
    max_branding_clip_s: float = 60.0
    # Failed sign-ins in a row (a wrong password or TOTP code) that lock a person's account (loa_ingest/accounts.py).
    signin_max_failures: int = Field(default=5, ge=1)
    # How long such a lock lasts; a locked account is refused even with the right password.
    signin_lockout_s: float = Field(default=15 * 60.0, ge=0)
    # Sign-in attempts allowed per username, on average per minute (then 429 with Retry-After).
    signin_per_username_per_min: float = Field(default=10.0, gt=0)
    # The burst of sign-in attempts allowed per username.
    signin_per_username_burst: int = Field(default=10, ge=1)
    # Sign-in attempts allowed per client address, on average per minute (then 429 with Retry-After).
    signin_per_address_per_min: float = Field(default=30.0, gt=0)
    # The burst of sign-in attempts allowed per client address.
    signin_per_address_burst: int = Field(default=30, ge=1)
    # How long a browser session lasts from sign-in; then the person signs in again.
    session_ttl_s: float = Field(default=8 * 3600.0, gt=0)
    # How long a person has between a right password and the TOTP code.
    signin_step_s: float = Field(default=5 * 60.0, gt=0)
    # The session cookie's Secure flag. Chromium keeps a Secure cookie from http://127.0.0.1 and http://localhost
    # (loopback is a secure context), so `make run` needs no TLS; a plain-http address on a LAN needs false.
    session_cookie_secure: bool = True
    # node_modules holding Uppy (scripts/setup.sh installs it with npm); None: the repository's .cache/web.
    web_vendor_dir: Path | None = None

    # -- connecting channels with the platforms' own sign-in (loa_ingest/oauth.py) --
    # Where people reach this ingest from their browsers (e.g. https://loa.quan4.gov.vn): the platforms send them
    # back to <public_url>/oauth/callback, which must be registered as a redirect URI in each platform's app.
    public_url: str = "http://127.0.0.1:8001"
    # How long a started sign-in may take before its state expires.
    oauth_state_ttl_s: float = Field(default=600.0, gt=0)
    # Loa's app on each platform: id and secret (the secret also from a file: *_secret_file), and its endpoints
    # (the platforms' own by default). A platform whose id or secret is unset cannot be connected.
    youtube_client_id: str | None = None
    youtube_client_secret: SecretStr | None = None
    youtube_client_secret_file: Path | None = None
    youtube_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    youtube_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    tiktok_client_key: str | None = None
    tiktok_client_secret: SecretStr | None = None
    tiktok_client_secret_file: Path | None = None
    tiktok_authorize_url: str = "https://www.tiktok.com/v2/auth/authorize/"
    tiktok_token_url: str = "https://open.tiktokapis.com/v2/oauth/token/"  # noqa: S105 (a URL)
    facebook_app_id: str | None = None
    facebook_app_secret: SecretStr | None = None
    facebook_app_secret_file: Path | None = None
    facebook_authorize_url: str = "https://www.facebook.com/v25.0/dialog/oauth"
    # The Graph API the code exchange, the long-lived token and /me/accounts are asked from.
    facebook_graph_url: str = "https://graph.facebook.com/v25.0"
    zalo_app_id: str | None = None
    zalo_secret_key: SecretStr | None = None
    zalo_secret_key_file: Path | None = None
    zalo_authorize_url: str = "https://oauth.zaloapp.com/v4/oa/permission"
    zalo_token_url: str = "https://oauth.zaloapp.com/v4/oa/access_token"  # noqa: S105 (a URL)
    # sha256 hex digests of the service tokens that may read channel credentials (/internal/credentials: the
    # publisher's LOA_SERVICE_TOKEN); no person's token ever may. `make run` generates one.
    service_token_hashes: str = ""

    def platform_apps(self) -> dict[str, PlatformApp]:
        """Loa's app on each platform whose id and secret are configured."""
        apps = {
            "youtube": (self.youtube_client_id, self.youtube_client_secret, self.youtube_client_secret_file,
                        self.youtube_authorize_url, self.youtube_token_url),
            "tiktok": (self.tiktok_client_key, self.tiktok_client_secret, self.tiktok_client_secret_file,
                       self.tiktok_authorize_url, self.tiktok_token_url),
            "facebook": (self.facebook_app_id, self.facebook_app_secret, self.facebook_app_secret_file,
                         self.facebook_authorize_url, self.facebook_graph_url),
            "zalo": (self.zalo_app_id, self.zalo_secret_key, self.zalo_secret_key_file,
                     self.zalo_authorize_url, self.zalo_token_url),
        }  # fmt: skip
        found = {}
        for platform, (client, secret, secret_file, authorize_url, token_url) in apps.items():
            value = secret.get_secret_value() if secret is not None else None
            if value is None and secret_file is not None:
                value = secret_file.read_text("utf-8").strip()
            if client and value:
                found[platform] = PlatformApp(platform, client, value, authorize_url, token_url)
        return found

    def service_tokens(self) -> frozenset[str]:
        return token_hashes(self.service_token_hashes)

    def tus_spool_dir(self) -> Path | None:
        """The local spool's folder; None with the shared spool (the parts are in object storage)."""
        return self.data_dir / "ingest-spool" / "tus" if self.tus_spool == "local" else None

    def state_location(self) -> str:
        """LOA_DATABASE_URL, else <data_dir>/ingest.sqlite3 (tus upload records, catalog, role tokens)."""
        return database_url(self, "ingest.sqlite3")
