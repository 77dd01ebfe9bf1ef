"""GET /feedback/collection: per channel of the caller's ward, what is collected and how, with the quota spent; a
TikTok channel says it collects nothing and why, in both languages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from loa_core.auth import Caller
from loa_core.channels import Channel
from loa_metrics.engagement import Budget
from loa_metrics.feedback_api import collection_router
from loa_metrics.feedback_store import Cursor
from loa_metrics.projection import open_projection

CHANNELS = {
    c.name: c
    for c in (
        Channel(name="p1-yt", platform="youtube", profiles=("youtube",), ward="p1"),
        Channel(name="p1-tt", platform="tiktok", profiles=("tiktok",), ward="p1"),
        Channel(
            name="p1-fb", platform="facebook", profiles=("youtube",), ward="p1", options={"feedback_webhook": True}
        ),
        Channel(name="p1-zalo", platform="zalo", profiles=("zalo",), ward="p1"),
        Channel(name="p2-yt", platform="youtube", profiles=("youtube",), ward="p2"),
    )
}


def test_each_channel_of_the_ward_says_what_it_collects_how_and_the_quota_spent(tmp_path: Path) -> None:
    projection = open_projection(tmp_path / "m.sqlite3", CHANNELS)
    projection.feedback.advance("p1-yt", "", Cursor("2026-12-01T02:00:00+00:00"), datetime(2026, 12, 1, 3, tzinfo=UTC))
    youtube = Budget(2000, 24 * 3600)
    assert youtube.try_spend() and youtube.try_spend()

    async def caller() -> Caller:
        return Caller(id="t", role="viewer", ward="p1")

    app = FastAPI()
    app.include_router(collection_router(caller, CHANNELS, projection.feedback, {"youtube": youtube}))
    answer = TestClient(app).get("/feedback/collection").json()
    by_name = {c["channel"]: c for c in answer}
    assert sorted(by_name) == ["p1-fb", "p1-tt", "p1-yt", "p1-zalo"]  # not another ward's
    assert by_name["p1-yt"]["collects"] == ["comments"] and by_name["p1-yt"]["how"] == "polling"
    assert by_name["p1-yt"]["quota"] == {"used": 2, "limit": 2000, "window_s": 86400.0}
    assert by_name["p1-yt"]["last_collected_at"] == "2026-12-01T03:00:00+00:00"
    tiktok = by_name["p1-tt"]
    assert tiktok["collects"] == [] and tiktok["how"] == "none" and tiktok["quota"] is None
    assert "Business" in tiktok["note"] and "ứng dụng TikTok" in tiktok["note"]
    assert by_name["p1-fb"]["how"] == "webhook" and by_name["p1-zalo"]["collects"] == ["messages"]
    assert by_name["p1-zalo"]["how"] == "webhook" and by_name["p1-zalo"]["note"] is None
    projection.close()
