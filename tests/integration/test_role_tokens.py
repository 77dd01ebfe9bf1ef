"""Metrics, the archiver and the publisher take ingest's role tokens (`loa token create`): they ask a real ingest's
/whoami."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from loa_cli.main import app as cli
from loa_core.auth import ROLES, hash_token
from loa_core.channels import Channel
from loa_dev.kafka import KafkaBroker, free_port
from loa_metrics.api import create_api
from loa_metrics.projection import open_projection
from loa_metrics.settings import MetricsSettings
from tests.support.archiver import ArchiverProcess, archiver_process
from tests.support.asgi_server import serve_in_thread
from tests.support.bilingual import assert_bilingual
from tests.support.ingest import IngestProcess, run_ingest
from tests.support.metrics_events import new_id, uploaded
from tests.support.publisher_process import PublisherProcess

STATIC = "static-admin-token-of-the-metrics-test"
BURST = 20


@pytest.fixture(scope="module")
def ingest(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    env = {"LOA_RATE_LIMIT_PER_S": "0.5", "LOA_RATE_LIMIT_BURST": str(BURST)}
    with run_ingest(tmp_path_factory.mktemp("ingest-roles"), kafka_broker.bootstrap, env) as process:
        yield process


@contextmanager
def serve_metrics(tmp_path: Path, ingest_url: str | None) -> Iterator[str]:
    projection = open_projection(
        tmp_path / "p.sqlite3", {"tt": Channel(name="tt", platform="tiktok", profiles=("tiktok",))}
    )
    projection.events.footage_uploaded(uploaded(new_id(), series="Hội thi", channels=("tt",)))
    settings = MetricsSettings(api_token_hashes=hash_token(STATIC), ingest_url=ingest_url)
    with serve_in_thread(create_api(settings, projection.views, projection.engagement)) as url:
        yield url


@pytest.fixture
def metrics(tmp_path: Path, ingest: IngestProcess) -> Iterator[str]:
    with serve_metrics(tmp_path, ingest.url) as url:
        yield url


def create_token(ingest: IngestProcess, role: str) -> dict[str, str]:
    body = {"role": role, "label": f"metrics {role}"}
    answer = httpx.post(f"{ingest.url}/tokens", headers=ingest.headers(), json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, str] = answer.json()
    return created


def get_footage(metrics: str, token: str) -> httpx.Response:
    return httpx.get(f"{metrics}/footage", headers={"Authorization": f"Bearer {token}"})


def test_a_viewer_token_reads_status_and_reports_until_it_is_revoked(
    ingest: IngestProcess, metrics: str, tmp_path: Path
) -> None:
    viewer = create_token(ingest, "viewer")
    answer = get_footage(metrics, viewer["token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"][0]["series"] == "Hội thi"

    env = {"LOA_METRICS_URL": metrics, "LOA_TOKEN": viewer["token"], "LOA_CLI_CONFIG": str(tmp_path / "none.json")}
    report = CliRunner().invoke(cli, ["report", "--month", "2026-11", "--format", "json"], env=env)
    assert report.exit_code == 0, report.output

    assert httpx.delete(f"{ingest.url}/tokens/{viewer['token_id']}", headers=ingest.headers()).is_success
    answer = get_footage(metrics, viewer["token"])
    assert answer.status_code == 401, "a revoked token must stop working at once"
    assert "Cần mã truy cập hợp lệ" in answer.json()["detail"]


def test_a_person_signed_in_on_ingest_reads_status_through_the_relayed_session(
    ingest: IngestProcess, metrics: str
) -> None:
    # What ingest's status relay does for a person signed in on the page: it forwards the session's id, which
    # metrics checks with ingest's /whoami like a token (and so filters by the person's ward).
    body = {"username": "xem.trang.thai", "role": "viewer", "ward": "default", "password": "mật-khẩu-đủ-dài-2"}
    assert httpx.post(f"{ingest.url}/accounts", json=body, headers=ingest.headers()).status_code == 201
    signed_in = httpx.post(f"{ingest.url}/signin", data={"username": body["username"], "password": body["password"]})
    assert signed_in.status_code == 303, signed_in.text
    session = re.search(r"loa_session=([^;]+)", signed_in.headers["set-cookie"])
    assert session
    answer = get_footage(metrics, session.group(1))
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"][0]["series"] == "Hội thi"
    # Signed out: the same id is refused.
    csrf = httpx.get(f"{ingest.url}/session", cookies={"loa_session": session.group(1)}).json()["csrf_token"]
    signout = httpx.post(f"{ingest.url}/signout", cookies={"loa_session": session.group(1)}, data={"csrf_token": csrf})
    assert signout.status_code == 303
    assert get_footage(metrics, session.group(1)).status_code == 401


def test_unknown_tokens_are_refused_and_static_ones_need_no_ingest(ingest: IngestProcess, metrics: str) -> None:
    assert get_footage(metrics, "made-up-token").status_code == 401
    assert httpx.get(f"{metrics}/footage").status_code == 401
    assert get_footage(metrics, STATIC).status_code == 200


def test_ingest_rate_limit_applies_and_says_when_to_come_back(ingest: IngestProcess, metrics: str) -> None:
    viewer = create_token(ingest, "viewer")
    codes = [get_footage(metrics, viewer["token"]) for _ in range(BURST + 5)]
    limited = [answer for answer in codes if answer.status_code == 429]
    assert limited, [answer.status_code for answer in codes]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert {answer.status_code for answer in codes} <= {200, 429}


def test_without_ingest_role_tokens_get_a_clear_503_and_static_ones_still_work(
    ingest: IngestProcess, tmp_path: Path
) -> None:
    viewer = create_token(ingest, "viewer")
    with serve_metrics(tmp_path, f"http://127.0.0.1:{free_port()}") as url:  # nothing listens there
        answer = get_footage(url, viewer["token"])
        assert answer.status_code == 503
        assert "Cannot check this token with ingest" in answer.json()["detail"]
        assert get_footage(url, STATIC).status_code == 200


async def not_ingest(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An HTTP server that is not ingest: 200 with a web page for every request."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": b"<html>not ingest</html>"})


def test_an_ingest_url_that_is_not_ingest_gives_a_clear_503(ingest: IngestProcess, tmp_path: Path) -> None:
    viewer = create_token(ingest, "viewer")
    with serve_in_thread(not_ingest) as wrong, serve_metrics(tmp_path, wrong) as url:
        answer = get_footage(url, viewer["token"])
        assert answer.status_code == 503
        assert "Cannot check this token with ingest" in answer.json()["detail"]
        assert get_footage(url, STATIC).status_code == 200


def test_without_an_ingest_url_only_the_static_tokens_work(ingest: IngestProcess, tmp_path: Path) -> None:
    viewer = create_token(ingest, "viewer")
    with serve_metrics(tmp_path, None) as url:
        assert get_footage(url, viewer["token"]).status_code == 401
        assert get_footage(url, STATIC).status_code == 200


@pytest.fixture(scope="module")
def archiver(
    ingest: IngestProcess, kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArchiverProcess]:
    root = tmp_path_factory.mktemp("archiver-roles")
    with archiver_process(root, kafka_broker.bootstrap, ingest.prefix, ingest_url=ingest.url) as process:
        yield process


def test_the_archiver_asks_for_the_role_each_action_needs(ingest: IngestProcess, archiver: ArchiverProcess) -> None:
    tokens = {role: create_token(ingest, role)["token"] for role in ROLES}
    unknown = "0" * 32

    def status(role: str, method: str, path: str, body: dict[str, object] | None = None) -> int:
        url = f"http://127.0.0.1:{archiver.http_port}{path}"
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        return httpx.request(method, url, headers=headers, json=body, timeout=10).status_code

    # A viewer reads; marking and stopping need an uploader, who gets through to "no such archive".
    assert status("viewer", "GET", "/archives") == 200
    assert status("viewer", "POST", f"/archives/{unknown}/marks", {"last_s": 10}) == 403
    assert status("editor", "POST", f"/archives/{unknown}/marks", {"last_s": 10}) == 404
    assert status("viewer", "POST", f"/archives/{unknown}/stop") == 403
    assert status("editor", "POST", f"/archives/{unknown}/stop") == 404
    # Stream keys (secrets, restream targets) are for ward admins (of the channel's ward) and district admins.
    for role in ("viewer", "editor"):
        assert status(role, "GET", "/stream-keys") == 403
        assert status(role, "POST", "/stream-keys", {"channel": "local"}) == 403
    assert status("ward_admin", "POST", "/stream-keys", {"channel": "local"}) == 201
    assert status("district_admin", "POST", "/stream-keys", {"channel": "local"}) == 201
    assert status("district_admin", "GET", "/stream-keys") == 200
    assert (
        httpx.get(
            f"http://127.0.0.1:{archiver.http_port}/archives", headers={"Authorization": "Bearer nope"}
        ).status_code
        == 401
    )


@pytest.fixture(scope="module")
def publisher(
    ingest: IngestProcess, kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PublisherProcess]:
    process = PublisherProcess(
        tmp_path_factory.mktemp("publisher-roles"),
        bootstrap=kafka_broker.bootstrap,
        prefix=ingest.prefix,
        channels=[Channel(name="local", platform="local", profiles=("youtube",))],
        token=STATIC,
        env={"LOA_INGEST_URL": ingest.url},
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_loa_retry_takes_an_uploader_token(ingest: IngestProcess, publisher: PublisherProcess) -> None:
    retry = f"{publisher.url}/posts/{new_id()}/retry"

    def post(token: str) -> httpx.Response:
        return httpx.post(retry, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    refused = post(create_token(ingest, "viewer")["token"])
    assert refused.status_code == 403
    assert "needs the editor role" in refused.json()["detail"]
    allowed = post(create_token(ingest, "editor")["token"])
    assert allowed.status_code == 404, allowed.text  # let in, but the publisher has no post of this footage
    assert_bilingual(allowed.json()["detail"])
    assert post(STATIC).status_code == 404
    not_an_id = httpx.post(
        f"{publisher.url}/posts/nope/retry", headers={"Authorization": f"Bearer {STATIC}"}, timeout=10
    )
    assert not_an_id.status_code == 404
    assert_bilingual(not_an_id.json()["detail"])
    assert post("made-up-token").status_code == 401
    assert httpx.post(retry, timeout=10).status_code == 401
