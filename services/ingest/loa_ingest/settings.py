from __future__ import annotations

from loa_core.settings import CommonSettings


class IngestSettings(CommonSettings):
    http_port: int = 8001
    max_upload_bytes: int = 20 * 1024**3  # 20 GiB: a long ceremony in high quality
    max_duration_s: float = 6 * 3600.0
    min_side_px: int = 16
    max_side_px: int = 8192
