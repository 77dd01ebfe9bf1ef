"""`loa report` and `loa status`, and ingest's status relay, against the metrics API served over real HTTP (uvicorn
on a free port, own thread): each reads the status view with the contract (`FootageView`) metrics answers with."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from loa_cli.main import app as cli
from loa_core.auth import hash_token
from loa_core.channels import Channel
from loa_core.contracts import FootageList, FootageStatus, FootageView
from loa_ingest.status import StatusRefused, StatusRelay
from loa_metrics.api import create_api
from loa_metrics.engagement_store import PostStats
from loa_metrics.projection import open_projection
from loa_metrics.settings import MetricsSettings
from tests.support.asgi_server import serve_in_thread
from tests.support.metrics_events import T0, dead_letter, new_id, post_failed, published, renditions, uploaded

TOKEN = "cli-report-token"
# ingest's page reads the view with this module's progressOf (the status line of each upload it follows).
PAGE_STATUS = Path(__file__).resolve().parents[2] / "services/ingest/loa_ingest/web/status.mjs"


RETRIED = new_id()
STILL_FAILED = new_id()


@pytest.fixture
def metrics_url(tmp_path: Path) -> Iterator[str]:
    projection = open_projection(
        tmp_path / "p.sqlite3", {"tt": Channel(name="tt", platform="tiktok", profiles=("tiktok",))}
    )
    fid = new_id()
    projection.events.footage_uploaded(uploaded(fid, series="Hội thi", channels=("tt",)))
    projection.events.post_published(published(fid, "tiktok", channel="tt", platform="tiktok", post_id="v1"))
    projection.engagement.record_post_stats(
        "tiktok", {"v1": PostStats(800, 40, 30, 10)}, published(fid, "tiktok").published_at
    )
    # Failed on tt (the failure and the publisher's dead letter), then posted by `loa retry` an hour later.
    projection.events.footage_uploaded(uploaded(RETRIED, channels=("tt",)))
    projection.events.renditions_ready(renditions(RETRIED, channels=("tt",)))
    projection.events.failure(post_failed(RETRIED, "tt", "tiktok", at=T0 + timedelta(minutes=2)))
    projection.events.failure(dead_letter(RETRIED, "publisher", "renditions.ready", at=T0 + timedelta(minutes=2)))
    at = T0 + timedelta(hours=1)
    projection.events.post_published(published(RETRIED, "tiktok", channel="tt", platform="tiktok", at=at))
    projection.events.footage_uploaded(uploaded(STILL_FAILED, channels=("tt",)))
    projection.events.renditions_ready(renditions(STILL_FAILED, channels=("tt",)))
    projection.events.failure(post_failed(STILL_FAILED, "tt", "tiktok", at=T0 + timedelta(minutes=3)))
    with serve_in_thread(
        create_api(MetricsSettings(api_token_hashes=hash_token(TOKEN)), projection.views, projection.engagement)
    ) as url:
        yield url


def run(metrics_url: str, tmp_path: Path, *args: str, command: str = "report") -> tuple[int, str]:
    env = {"LOA_METRICS_URL": metrics_url, "LOA_TOKEN": TOKEN, "LOA_CLI_CONFIG": str(tmp_path / "none.json")}
    result = CliRunner().invoke(cli, [command, *args], env=env)
    return result.exit_code, result.output


def test_status_after_a_successful_retry(metrics_url: str, tmp_path: Path) -> None:
    code, out = run(metrics_url, tmp_path, RETRIED, command="status")
    assert code == 0, out
    assert "[published]" in out
    assert "error (publish, resolved / đã khắc phục): token revoked" in out


def test_status_as_json_is_the_contracts_view(metrics_url: str, tmp_path: Path) -> None:
    code, out = run(metrics_url, tmp_path, RETRIED, "--json", command="status")
    assert code == 0, out
    view = FootageView.from_bytes(out.encode())
    assert view.status == FootageStatus.PUBLISHED and [e.resolved for e in view.errors] == [True, True]


def test_ingest_relays_the_view_metrics_serves(metrics_url: str) -> None:
    async def ask() -> tuple[FootageView, FootageList]:
        relay = StatusRelay(metrics_url)
        try:
            view = await relay.footage(RETRIED, TOKEN)
            listing = await relay.footage_list({"status": "published", "channel": None}, TOKEN)
            with pytest.raises(StatusRefused) as unknown:
                await relay.footage(new_id(), TOKEN)
            assert unknown.value.status_code == 404 and "Chưa thấy" in unknown.value.detail
            return view, listing
        finally:
            await relay.close()

    view, listing = asyncio.run(ask())
    assert view.footage_id == RETRIED and view.status == FootageStatus.PUBLISHED
    assert [(e.stage, e.reason, e.resolved) for e in view.errors] == [
        ("publish", "token revoked", True),
        ("publisher", "MediaError: bad input", True),
    ]
    assert [p.channel for p in view.stages.published.posts] == ["tt"]
    assert RETRIED in {v.footage_id for v in listing.items} and listing.limit == 100


def _page_progress(view: bytes) -> dict[str, object]:
    """The page's progressOf run by node on a view as metrics serves it."""
    script = (
        f"import {{ progressOf }} from {json.dumps(PAGE_STATUS.as_uri())};"
        "import { readFileSync } from 'node:fs';"
        "process.stdout.write(JSON.stringify(progressOf(JSON.parse(readFileSync(0, 'utf8')))));"
    )
    done = subprocess.run(["node", "--input-type=module", "-e", script], input=view, capture_output=True, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_page_shows_only_the_failures_that_still_stand(metrics_url: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    retried = _page_progress(httpx.get(f"{metrics_url}/footage/{RETRIED}", headers=headers).content)
    # Published by `loa retry`: no failure reason beside "published"; the resolved ones are shown as such.
    assert retried["state"] == "published" and retried["reason"] == ""
    assert retried["resolved"] == "token revoked; MediaError: bad input"
    failed = _page_progress(httpx.get(f"{metrics_url}/footage/{STILL_FAILED}", headers=headers).content)
    assert failed == {"state": "failed", "posts": [], "reason": "token revoked", "resolved": ""}


def test_report_month_as_table_csv_and_json(metrics_url: str, tmp_path: Path) -> None:
    code, out = run(metrics_url, tmp_path, "--month", "2026-11")
    assert code == 0, out
    assert "Loa report 2026-11" in out
    assert "Hội thi" in out and "800" in out and "0.1" in out

    code, out = run(metrics_url, tmp_path, "--month", "2026-11", "--format", "csv")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["channel"] == "tt" and rows[0]["engagement_rate"] == "0.1"

    target = tmp_path / "out.json"
    code, _ = run(metrics_url, tmp_path, "--week", "2026-W47", "--format", "json", "--output", str(target))
    assert code == 0
    assert json.loads(target.read_text())["rows"][0]["posts"] == 1

    code, out = run(metrics_url, tmp_path, "--month", "2026-10")
    assert code == 0 and "no posts" in out


def test_report_errors(metrics_url: str, tmp_path: Path) -> None:
    code, out = run(metrics_url, tmp_path, "--month", "2026-13")
    assert code == 1 and "422" in out
    assert run(metrics_url, tmp_path, "--month", "2026-11", "--week", "2026-W47")[0] == 2
    assert run(metrics_url, tmp_path, "--format", "xml")[0] == 2
