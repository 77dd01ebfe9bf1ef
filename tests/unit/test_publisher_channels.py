"""The example channels file loads, every platform in it has an adapter, and each names its secrets."""

from __future__ import annotations

from pathlib import Path

import httpx

from loa_core.channels import load_channels
from loa_core.storage import LocalStorage
from loa_publisher.app import build_adapters
from loa_publisher.auth import Secrets
from loa_publisher.ledger import Ledger
from loa_publisher.settings import PublisherSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "services" / "publisher" / "channels.example.json"


async def test_example_channels_have_adapters(tmp_path: Path) -> None:
    channels = load_channels(EXAMPLE)
    assert {c.platform for c in channels.values()} == {"local", "youtube", "tiktok", "facebook", "zalo"}
    settings = PublisherSettings(data_dir=tmp_path, publish_dir=tmp_path / "published")
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")
    async with httpx.AsyncClient() as http:
        adapters = build_adapters(settings, LocalStorage(tmp_path / "storage"), ledger, http)
    assert all(c.platform in adapters for c in channels.values())
    ledger.close()


def test_secret_names_follow_the_channel_name() -> None:
    assert Secrets.env_name("phuong-youtube", "refresh_token") == "LOA_SECRET_PHUONG_YOUTUBE_REFRESH_TOKEN"
    assert Secrets.env_name("bao-doi-tac", "page_token") == "LOA_SECRET_BAO_DOI_TAC_PAGE_TOKEN"
