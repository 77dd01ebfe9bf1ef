from __future__ import annotations

from pathlib import Path

from loa_core.settings import CommonSettings


class PublisherSettings(CommonSettings):
    http_port: int = 8003
    # Where the `local` adapter publishes: a folder with the cuts and an index.html to open in a browser.
    publish_dir: Path = Path(".cache/run/published")
