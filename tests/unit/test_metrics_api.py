"""The metrics HTTP API in process (FastAPI's test client) over a real SQLite projection."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loa_core.auth import hash_token
from loa_core.channels import Channel
from loa_metrics.api import create_api
from loa_metrics.engagement_store import PostStats
from loa_metrics.projection import Projection, open_projection
from loa_metrics.settings import MetricsSettings
from tests.support.bilingual import assert_bilingual
from tests.support.metrics_events import T0, new_id, published, renditions, uploaded

TOKEN = "test-token-for-the-metrics-api"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHANNELS = {
    "yt": Channel(name="yt", platform="youtube", profiles=("youtube",)),
    "tt": Channel(name="tt", platform="tiktok", profiles=("tiktok",)),
}


@pytest.fixture
def projection(tmp_path: Path) -> Projection:
    return open_projection(tmp_path / "p.sqlite3", CHANNELS)


@pytest.fixture
def client(projection: Projection) -> TestClient:
    settings = MetricsSettings(api_token_hashes=hash_token(TOKEN))
    return TestClient(create_api(settings, projection.views, projection.engagement))


def seed(projection: Projection) -> tuple[str, str]:
    a, b = new_id(), new_id()
    projection.events.footage_uploaded(uploaded(a, series="Hội thi", channels=("yt", "tt")))
    projection.events.renditions_ready(renditions(a, channels=("yt", "tt")))
    projection.events.post_published(published(a, "youtube", channel="yt", platform="youtube", post_id="ytA"))
    projection.events.post_published(published(a, "tiktok", channel="tt", platform="tiktok", post_id="ttA"))
    projection.events.footage_uploaded(uploaded(b, T0 + timedelta(days=20), series=None, channels=("yt",)))
    projection.engagement.record_post_stats("youtube", {"ytA": PostStats(200, 10, 5, None)}, T0)
    projection.engagement.record_post_stats("tiktok", {"ttA": PostStats(1000, 50, 20, 30)}, T0)
    projection.engagement.record_followers("tt", "default", "tiktok", 321, T0)
    return a, b


@pytest.mark.parametrize(
    "path", ["/footage", f"/footage/{'a' * 32}", "/posts", "/reports/weekly", "/reports/monthly?format=csv"]
)
def test_everything_but_health_needs_a_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_footage_by_id_keeps_the_cli_shape(client: TestClient, projection: Projection) -> None:
    a, _ = seed(projection)
    body = client.get(f"/footage/{a}", headers=AUTH).json()
    assert body["status"] == "published"
    assert {p["post_id"] for p in body["stages"]["published"]["posts"]} == {"ytA", "ttA"}
    assert body["errors"] == []
    unknown = client.get(f"/footage/{'b' * 32}", headers=AUTH)
    assert unknown.status_code == 404
    assert_bilingual(unknown.json()["detail"])
    for query in ("?limit=0", "?status=nonsense"):
        invalid = client.get(f"/footage{query}", headers=AUTH)
        assert invalid.status_code == 422
        assert_bilingual(invalid.json()["detail"])
        assert invalid.json()["errors"][0]["loc"] == ["query", query[1:].split("=")[0]]
    assert client.get("/footage/not-an-id", headers=AUTH).status_code == 422


def test_footage_list_filters(client: TestClient, projection: Projection) -> None:
    a, b = seed(projection)

    def ids(query: str) -> list[str]:
        response = client.get(f"/footage{query}", headers=AUTH)
        assert response.status_code == 200, response.text
        return [v["footage_id"] for v in response.json()["items"]]

    assert ids("") == [b, a]
    assert ids("?status=published") == [a]
    assert ids("?status=uploaded") == [b]
    assert ids("?series=H%E1%BB%99i%20thi") == [a]
    assert ids("?channel=tt") == [a]
    assert ids("?from=2026-12-01") == [b]
    assert ids("?to=2026-11-30") == [a]
    assert client.get("/footage?status=lost", headers=AUTH).status_code == 422
    assert client.get("/footage?from=yesterday", headers=AUTH).status_code == 422
    assert client.get("/footage?limit=0", headers=AUTH).status_code == 422


def test_posts_list(client: TestClient, projection: Projection) -> None:
    seed(projection)
    items = client.get("/posts?channel=tt", headers=AUTH).json()["items"]
    assert [(p["post_id"], p["views"], p["shares"]) for p in items] == [("ttA", 1000, 30)]
    assert len(client.get("/posts?series=H%E1%BB%99i%20thi", headers=AUTH).json()["items"]) == 2
    assert client.get("/posts?from=2026-12-01", headers=AUTH).json()["items"] == []


def test_monthly_report_json_and_csv(client: TestClient, projection: Projection) -> None:
    seed(projection)
    body = client.get("/reports/monthly?month=2026-11", headers=AUTH).json()
    assert body["period"] == "2026-11" and body["from"] == "2026-11-01" and body["to"] == "2026-12-01"
    rows = {(r["channel"], r["series"]): r for r in body["rows"]}
    assert rows[("tt", "Hội thi")]["avg_views_per_post"] == 1000.0
    assert rows[("tt", "Hội thi")]["engagement_rate"] == 0.1
    assert rows[("yt", "Hội thi")]["engagement_rate"] == 0.075
    assert rows[("tt", "Hội thi")]["views_in_period"] == 1000, "polled within November, published within November"
    assert body["followers"][0]["followers"] == 321

    response = client.get("/reports/monthly?month=2026-11&format=csv", headers=AUTH)
    assert response.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(response.text)))
    assert {(r["channel"], r["views"]) for r in parsed} == {("tt", "1000"), ("yt", "200")}

    assert client.get("/reports/monthly?month=2026-10", headers=AUTH).json()["rows"] == []
    refused = client.get("/reports/monthly?month=2026-13", headers=AUTH)
    assert refused.status_code == 422
    assert_bilingual(refused.json()["detail"])


def test_weekly_report(client: TestClient, projection: Projection) -> None:
    seed(projection)  # posts published on 2026-11-20, ISO week 2026-W47
    assert len(client.get("/reports/weekly?week=2026-W47", headers=AUTH).json()["rows"]) == 2
    assert client.get("/reports/weekly?week=2026-W48", headers=AUTH).json()["rows"] == []
    for week in ("2026-W99", "2027-W53"):  # not a week; a week 53 in a year of 52
        refused = client.get(f"/reports/weekly?week={week}", headers=AUTH)
        assert refused.status_code == 422
        assert_bilingual(refused.json()["detail"])
    assert client.get("/reports/weekly", headers=AUTH).status_code == 200


def test_requests_are_counted_by_route_template(client: TestClient, projection: Projection) -> None:
    from prometheus_client import REGISTRY

    def count(route: str, status: str) -> float:
        value = REGISTRY.get_sample_value(
            "loa_http_requests_total", {"method": "GET", "route": route, "status": status}
        )
        return value or 0.0

    before = count("/footage/{footage_id}", "404")
    client.get(f"/footage/{'c' * 32}", headers=AUTH)
    client.get(f"/footage/{'d' * 32}", headers=AUTH)
    assert count("/footage/{footage_id}", "404") == before + 2
    unmatched = count("unmatched", "404")
    client.get("/no/such/path")
    assert count("unmatched", "404") == unmatched + 1


def test_readiness_reports_the_reason(projection: Projection) -> None:
    async def not_yet() -> str | None:
        return "no partitions assigned yet"

    api = create_api(
        MetricsSettings(api_token_hashes=hash_token(TOKEN)), projection.views, projection.engagement, not_yet
    )
    response = TestClient(api).get("/readyz")
    assert response.status_code == 503 and response.json()["reason"] == "no partitions assigned yet"
    assert TestClient(api).get("/healthz").status_code == 200


def test_the_report_upward_in_each_format(client: TestClient, projection: Projection) -> None:
    seed(projection)
    month = T0.strftime("%Y-%m")
    body = client.get("/reports/upward", params={"period": month, "ward": "district"}, headers=AUTH).json()
    assert body["title"] == f"Báo cáo tháng {T0.month}/{T0.year}" and body["scope"] == "district"
    assert body["totals"]["posts"] == 2 and body["totals"]["views"] == 1200
    xlsx = client.get("/reports/upward", params={"period": month, "format": "xlsx"}, headers=AUTH)
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"  # a zip: the workbook
    assert f'filename="loa-bao-cao-district-{month}.xlsx"' in xlsx.headers["content-disposition"]
    for bad in ("2026-13", "2026-W54", "2026-Q5", "november"):
        refused = client.get("/reports/upward", params={"period": bad}, headers=AUTH)
        assert refused.status_code == 422, bad
        assert_bilingual(refused.json()["detail"])
