from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from loa_core.db import database_url
from loa_core.settings import CommonSettings


class IngestSettings(CommonSettings):
    http_port: int = 8001
    # Limits a source must meet before it is announced; beyond them the upload is refused with the reason.
    max_upload_bytes: int = 20 * 1024**3  # 20 GiB: a long ceremony in high quality
    max_duration_s: float = 6 * 3600.0
    min_side_px: int = 16
    max_side_px: int = 8192
    # An unfinished tus upload is kept this long after its last byte arrived (a ward office's evening outage).
    upload_expiry_s: float = 24 * 3600.0
    # Per API token: requests per second on average and the burst allowed (a tus client sends one PATCH per chunk).
    rate_limit_per_s: float = 20.0
    rate_limit_burst: int = 200
    # The metrics service, whose status API the web page shows (ingest proxies it: same origin, one token).
    metrics_url: str = "http://127.0.0.1:8004"
    # The token ingest sends to metrics when it relays status for the page; without it, the caller's own token is
    # relayed (works for the LOA_API_TOKEN_HASHES tokens metrics knows, not for ingest's role tokens).
    metrics_token: SecretStr | None = None
    # A channel's branding, uploaded by its ward admin (loa_ingest/channels_api.py): a logo image (PNG or JPEG) and
    # intro/outro clips, each refused beyond these limits.
    max_logo_bytes: int = 2 * 1024**2
    max_logo_side_px: int = 4096
    max_branding_clip_bytes: int = 200 * 1024**2
    max_branding_clip_s: float = 60.0
    # node_modules holding Uppy (scripts/setup.sh installs it with npm); None: the repository's .cache/web.
    web_vendor_dir: Path | None = None

    def state_location(self) -> str:
        """LOA_DATABASE_URL, else <data_dir>/ingest.sqlite3 (tus upload records, catalog, role tokens)."""
        return database_url(self, "ingest.sqlite3")
