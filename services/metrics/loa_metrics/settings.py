from __future__ import annotations

from loa_core.settings import CommonSettings


class MetricsSettings(CommonSettings):
    http_port: int = 8004
