from __future__ import annotations

from loa_core.settings import CommonSettings


class IngestSettings(CommonSettings):
    http_port: int = 8001
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
