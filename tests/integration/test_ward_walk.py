"""Wards are tenants: every route of ingest and metrics, called with ward B's credentials on ward A's real ids, answers
403/404 (a list answers 200 with nothing of ward A's), never ward A's data; a district admin sees both wards.

The walk reads each service's OpenAPI schema, so a route added later is walked too (and one with a path parameter
the walk does not know fails here until it is taught which ward A id to use). Real parts: ingest as a process on a
real Kafka broker, metrics' API in this process on a real SQLite projection fed with what ingest announced, and
metrics asking ingest's /whoami about role tokens, as deployed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from openpyxl import load_workbook
from typer.testing import CliRunner

from loa_cli.main import app as cli
from loa_core.auth import hash_token, new_token
from loa_core.channels import Channel, dump_channels
from loa_core.contracts import (
    RENDITIONS_READY,
    FootageMetadata,
    PostFailed,
    PostPublished,
    Rendition,
    RenditionsReady,
    layout,
)
from loa_core.contracts.feedback import FeedbackReceived, feedback_item_id
from loa_core.kafka import EventProducer
from loa_dev.kafka import KafkaBroker, free_port
from loa_metrics.api import create_api
from loa_metrics.projection import Projection, open_projection
from loa_metrics.reports import DISTRICT_COLUMNS
from loa_metrics.settings import MetricsSettings
from tests.support.archiver import ArchiverProcess, archiver_process
from tests.support.asgi_server import serve_in_thread
from tests.support.bilingual import assert_bilingual
from tests.support.ingest import IngestProcess, run_ingest
from tests.support.media import make_clip
from tests.support.polling import wait_until
from tests.support.publisher_process import PublisherProcess

WARD_A, WARD_B = "ward-a", "ward-b"
CHANNELS = [
    Channel(name="a-local", platform="local", profiles=("youtube",), ward=WARD_A),
    Channel(name="b-local", platform="local", profiles=("youtube",), ward=WARD_B),
]
TITLE_A = "Lễ chào cờ phường A"
PERSON_A = "nguoi.phuong.a"
STATIC = new_token()  # a district admin (LOA_API_TOKEN_HASHES of both services)
# Routes that carry no ward's data: health and Prometheus.
PUBLIC = {"/healthz", "/readyz", "/metrics"}
ITEM_A = feedback_item_id("a-local", "comment-of-ward-a")  # an inbox item of ward A
COMMENT_A = "Hẻm 5 phường A bị ngập nước"


@dataclass
class Wards:
    ingest: IngestProcess
    metrics: str
    projection: Projection
    a_admin: str  # ward A's ward admin token
    b_admin: str  # ward B's ward admin token
    a_token_id: str
    a_account: str  # a person of ward A
    a_upload: str
    a_footage: str
    b_footage: str
    # Ward A's ids in the archiver (the `archived` fixture): key_id, pull_id, archive_id.
    archived: dict[str, str] = field(default_factory=dict)

    def markers(self) -> list[str]:
        """What must never appear in an answer to ward B: ward A's ids, title and name."""
        return [
            *(self.a_token_id, self.a_account, self.a_upload, self.a_footage, TITLE_A, WARD_A, PERSON_A, COMMENT_A),
            *self.archived.values(),
        ]


def _token(ingest: IngestProcess, role: str, ward: str) -> dict[str, str]:
    answer = httpx.post(f"{ingest.url}/tokens", headers=_auth(STATIC), json={"role": role, "ward": ward})
    assert answer.status_code == 201, answer.text
    created: dict[str, str] = answer.json()
    return created


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tus_metadata(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


@pytest.fixture(scope="module")
def wards(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wards]:
    root = tmp_path_factory.mktemp("wards")
    channels_file = root / "channels.json"
    channels_file.write_text(dump_channels(CHANNELS), encoding="utf-8")
    ingest_port = free_port()
    projection = open_projection(root / "projection.sqlite3", {c.name: c for c in CHANNELS})
    settings = MetricsSettings(api_token_hashes=hash_token(STATIC), ingest_url=f"http://127.0.0.1:{ingest_port}")
    env = {
        "LOA_CHANNELS_FILE": str(channels_file),
        "LOA_API_TOKEN_HASHES": hash_token(STATIC),
        "LOA_RATE_LIMIT_PER_S": "1000",
        "LOA_RATE_LIMIT_BURST": "1000",
    }
    api = create_api(settings, projection.views, projection.engagement, inbox=projection.inbox)
    with serve_in_thread(api) as metrics:
        env["LOA_METRICS_URL"] = metrics
        with run_ingest(root / "ingest", kafka_broker.bootstrap, env, port=ingest_port) as ingest:
            a_admin, b_admin = _token(ingest, "ward_admin", WARD_A), _token(ingest, "ward_admin", WARD_B)
            for ward in (WARD_A, WARD_B):
                made = httpx.post(f"{ingest.url}/wards", headers=_auth(STATIC), json={"id": ward, "display_name": ward})
                assert made.status_code == 201, made.text
            person = {"username": PERSON_A, "role": "editor", "ward": WARD_A}
            a_account = httpx.post(f"{ingest.url}/accounts", headers=_auth(STATIC), json=person)
            assert a_account.status_code == 201, a_account.text
            clip = make_clip(root / "clip.mp4", width=160, height=90, duration_s=1.0)
            data = clip.read_bytes()
            # Ward A uploads with tus (so it has an upload record), ward B the same file in one request.
            created = httpx.post(
                f"{ingest.url}/files/",
                headers={
                    **_auth(a_admin["token"]),
                    "Tus-Resumable": "1.0.0",
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": _tus_metadata(title=TITLE_A, channels="a-local"),
                },
            )
            assert created.status_code == 201, created.text
            location = created.headers["Location"]
            patched = httpx.patch(
                f"{ingest.url}{location}",
                content=data,
                headers={
                    **_auth(a_admin["token"]),
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                },
                timeout=60,
            )
            assert patched.status_code == 204, patched.text
            b_upload = httpx.post(
                f"{ingest.url}/footage",
                headers=_auth(b_admin["token"]),
                files={"file": ("clip.mp4", data, "video/mp4")},
                data={"title": "Họp dân phường B", "channels": "b-local"},
                timeout=60,
            )
            assert b_upload.status_code == 201, b_upload.text
            wards = Wards(
                ingest=ingest,
                metrics=metrics,
                projection=projection,
                a_admin=a_admin["token"],
                b_admin=b_admin["token"],
                a_token_id=a_admin["token_id"],
                a_account=a_account.json()["id"],
                a_upload=location.rsplit("/", 1)[1],
                a_footage=patched.headers["Loa-Footage-Id"],
                b_footage=b_upload.json()["footage_id"],
            )
            _project(wards)
            yield wards
    projection.close()


def _project(wards: Wards) -> None:
    """Metrics' projection of what ingest announced, and of a post and a failed post of each ward."""
    events = {e.footage_id: e for e in wards.ingest.uploaded_events()}
    assert {e.ward for e in events.values()} == {WARD_A, WARD_B}, "each upload announced with its uploader's ward"
    assert events[wards.a_footage].ward == WARD_A and events[wards.b_footage].ward == WARD_B
    now = datetime.now(UTC)
    for event in events.values():
        wards.projection.events.footage_uploaded(event)
        channel = event.metadata.channels[0]
        common = {"footage_id": event.footage_id, "ward": event.ward, "channel": channel, "platform": "local"}
        wards.projection.events.post_published(
            PostPublished(**common, profile="youtube", post_id=f"p-{channel}", url="file:///x", published_at=now)
        )
        wards.projection.events.failure(PostFailed(**common, reason="disk full"))
    comment = FeedbackReceived(
        item_id=ITEM_A,
        ward=WARD_A,
        channel="a-local",
        platform="local",
        kind="comment",
        external_id="comment-of-ward-a",
        text=COMMENT_A,
        written_at=now,
    )
    assert wards.projection.feedback.record(comment, now)


def _operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "head", "post", "put", "patch", "delete") and path not in PUBLIC
    )


def _fill(path: str, wards: Wards) -> str:
    ids = {
        "footage_id": wards.a_footage,
        "upload_id": wards.a_upload,
        "token_id": wards.a_token_id,
        "account_id": wards.a_account,
        "name": "a-local",  # a channel
        "channel": "a-local",
        "kind": "logo",  # of a channel's branding (a footage's still: refused as unknown after the ward check)
        "profile": "youtube",  # a footage's cut
        "item_id": ITEM_A,
        **wards.archived,
    }
    filled = path
    for name, value in ids.items():
        filled = filled.replace(f"{{{name}}}", value)
    assert "{" not in filled, f"the walk does not know which ward A id to put in {path}: teach it (ids above)"
    return filled


def _ingest_request(method: str, path: str, wards: Wards) -> dict[str, Any]:
    """Ward B's request, aimed at ward A's data where the route takes any."""
    headers = {"Tus-Resumable": "1.0.0"}
    if (method, path) == ("POST", "/files/"):
        metadata = _tus_metadata(title="x", channels="a-local")
        return {"headers": {**headers, "Upload-Length": "10", "Upload-Metadata": metadata}}
    if (method, path) == ("PATCH", "/files/{upload_id}"):
        patch = {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
        return {"headers": {**headers, **patch}, "content": b"0123456789"}
    if (method, path) == ("POST", "/footage"):
        return {"files": {"file": ("x.mp4", b"x", "video/mp4")}, "data": {"title": "x", "channels": "a-local"}}
    if (method, path) == ("POST", "/tokens"):
        return {"json": {"role": "viewer", "ward": WARD_A}}
    if (method, path) == ("POST", "/accounts"):
        return {"json": {"username": "b.lan.sang", "role": "viewer", "ward": WARD_A}}
    if (method, path) == ("POST", "/wards"):
        return {"json": {"id": "ward-c", "display_name": "Phường C"}}
    if (method, path) == ("POST", "/channels"):
        return {"json": {"name": "b-new", "platform": "local", "profiles": ["youtube"], "ward": WARD_A}}
    if (method, path) == ("PATCH", "/channels/{name}"):
        return {"json": {"approval_required": True}}
    seen = {"cuts": {"youtube": "0" * 64}, "text_sha256": "0" * 64}
    if (method, path) == ("POST", "/posts/{footage_id}/{channel}/approve"):
        return {"json": seen}
    if (method, path) == ("POST", "/posts/{footage_id}/{channel}/reject"):
        return {"json": {**seen, "reason": "không đạt"}}
    if (method, path) == ("POST", "/posts/{footage_id}/{channel}/edit"):
        return {"json": {"title": "Tiêu đề mới"}}
    if (method, path) == ("POST", "/posts/{footage_id}/{channel}/unpublish"):
        return {"json": {"how": "delete"}}
    if (method, path) == ("POST", "/posts/{footage_id}/{channel}/text"):
        return {"json": {"text": {"title": "Tiêu đề mới"}}}
    if (method, path) == ("GET", "/schedule/posts"):  # a window around now: ward A's post was published now
        today = datetime.now(UTC).date()
        return {"params": {"start": str(today - timedelta(days=2)), "end": str(today + timedelta(days=2))}}
    if (method, path) == ("POST", "/posts/{footage_id}/{channel}/reschedule"):
        return {"json": {"publish_at": None}}
    if (method, path) == ("POST", "/subtitles"):
        return {"params": {"ward": WARD_A}, "content": "1\n00:00:01,000 --> 00:00:02,000\nchào\n".encode()}
    inbox_bodies = {
        "/inbox/{item_id}/assign": {"assignee": wards.a_account},
        "/inbox/{item_id}/tag": {"topic": "dien"},
        "/inbox/{item_id}/reply": {"text": "Cảm ơn anh"},
    }
    if method == "POST" and path in inbox_bodies:
        return {"json": inbox_bodies[path]}
    if (method, path) == ("POST", "/channels/{name}/branding/{kind}"):
        return {"files": {"file": ("logo.png", b"\x89PNG", "image/png")}}
    return {"headers": headers}


def _walk(base: str, schema: dict[str, Any], wards: Wards, request: Any) -> list[tuple[str, str, int]]:
    """Call every operation with ward B's admin token; check and return (method, path, status) of each."""
    seen = []
    for method, path in _operations(schema):
        extra = request(method, path, wards)
        headers = {**extra.pop("headers", {}), **_auth(wards.b_admin)}
        url = f"{base}{_fill(path, wards)}"
        answer = httpx.request(method, url, headers=headers, timeout=30, **extra)
        where = f"{method} {path} as ward B: {answer.status_code} {answer.text[:300]}"
        for marker in wards.markers():
            if marker in url or marker in repr(extra):
                continue  # an answer may repeat what was asked ("No footage <id>"): that tells ward B nothing
            assert marker not in answer.text and marker not in json.dumps(dict(answer.headers)), where
        if "{" in path:  # a route about one thing of ward A's: not even confirmed to exist
            assert answer.status_code in (403, 404), where
        else:  # a list, or a route that makes something: ward B's own (checked above), or a refusal
            assert answer.status_code in (200, 201, 400, 403, 404, 422), where
        seen.append((method, path, answer.status_code))
    return seen


def test_ward_b_gets_nothing_of_ward_a_from_any_ingest_route(wards: Wards) -> None:
    schema = httpx.get(f"{wards.ingest.url}/openapi.json").json()
    seen = _walk(wards.ingest.url, schema, wards, _ingest_request)
    by_route = {(m, p): s for m, p, s in seen}
    # The routes this walk is about are all there, and refuse what they should.
    assert by_route[("GET", "/footage/{footage_id}")] == 404, "the relay to metrics passes ward B's own token"
    assert by_route[("GET", "/files/{upload_id}")] == 404
    assert by_route[("POST", "/tokens")] == 403
    assert by_route[("POST", "/files/")] == 422 and by_route[("POST", "/footage")] == 422
    assert by_route[("POST", "/channels")] == 403 and by_route[("GET", "/channels/{name}")] == 404
    assert by_route[("POST", "/accounts")] == 403 and by_route[("POST", "/accounts/{account_id}/disable")] == 404
    assert by_route[("POST", "/wards")] == 403
    assert by_route[("POST", "/posts/{footage_id}/{channel}/edit")] == 404
    assert by_route[("POST", "/posts/{footage_id}/{channel}/unpublish")] == 404
    assert by_route[("POST", "/inbox/{item_id}/reply")] == by_route[("GET", "/inbox/{item_id}")] == 404
    assert by_route[("POST", "/subtitles")] == 422, "ward B stores no subtitles under ward A's name"
    assert by_route[("POST", "/posts/{footage_id}/{channel}/reschedule")] == 404
    assert by_route[("GET", "/schedule/posts")] == 200, "ward B's calendar: its own posts only (markers checked)"
    assert by_route[("POST", "/posts/{footage_id}/{channel}/cancel")] == 404


def test_another_wards_channel_is_refused_by_name(wards: Wards) -> None:
    answer = httpx.post(
        f"{wards.ingest.url}/files/",
        headers={
            **_auth(wards.b_admin),
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "10",
            "Upload-Metadata": _tus_metadata(title="x", channels="a-local"),
        },
    )
    assert answer.status_code == 422 and "a-local" in answer.json()["detail"]
    assert_bilingual(answer.json()["detail"])
    named = httpx.post(
        f"{wards.ingest.url}/files/",
        headers={
            **_auth(wards.b_admin),
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "10",
            "Upload-Metadata": _tus_metadata(title="x", channels="b-local", ward=WARD_A),
        },
    )
    assert named.status_code == 422 and WARD_A in named.json()["detail"], "a ward never uploads for another"


def _metrics_request(method: str, path: str, wards: Wards) -> dict[str, Any]:
    return {}


def test_ward_b_gets_nothing_of_ward_a_from_any_metrics_route(wards: Wards) -> None:
    schema = httpx.get(f"{wards.metrics}/openapi.json").json()
    seen = _walk(wards.metrics, schema, wards, _metrics_request)
    by_route = {(m, p): s for m, p, s in seen}
    assert by_route[("GET", "/footage/{footage_id}")] == 404
    assert by_route[("GET", "/reports/district")] == 403
    own = httpx.get(f"{wards.metrics}/reports/monthly", headers=_auth(wards.b_admin)).json()
    assert {r["channel"] for r in own["rows"]} == {"b-local"}, "ward B's report has ward B's post, only"
    listing = httpx.get(f"{wards.metrics}/footage", headers=_auth(wards.b_admin)).json()
    assert [v["footage_id"] for v in listing["items"]] == [wards.b_footage]


def test_ward_a_sees_its_own_so_the_walk_used_real_ids(wards: Wards) -> None:
    for url in (f"{wards.ingest.url}/footage/{wards.a_footage}", f"{wards.metrics}/footage/{wards.a_footage}"):
        answer = httpx.get(url, headers=_auth(wards.a_admin))
        assert answer.status_code == 200 and answer.json()["title"] == TITLE_A
        assert answer.json()["ward"] == WARD_A
    upload = httpx.get(f"{wards.ingest.url}/files/{wards.a_upload}", headers=_auth(wards.a_admin)).json()
    assert upload["footage_id"] == wards.a_footage and upload["ward"] == WARD_A
    assert wards.a_token_id in httpx.get(f"{wards.ingest.url}/tokens", headers=_auth(wards.a_admin)).text
    today = datetime.now(UTC).date()
    window = {"start": str(today - timedelta(days=2)), "end": str(today + timedelta(days=2))}
    calendar = httpx.get(f"{wards.ingest.url}/schedule/posts", params=window, headers=_auth(wards.a_admin)).json()
    assert [(p["footage_id"], p["state"]) for p in calendar] == [(wards.a_footage, "published")]
    for url in (f"{wards.ingest.url}/inbox/{ITEM_A}", f"{wards.metrics}/inbox/{ITEM_A}"):
        answer = httpx.get(url, headers=_auth(wards.a_admin))
        assert answer.status_code == 200 and answer.json()["text"] == COMMENT_A


def test_the_same_file_in_two_wards_is_two_footage(wards: Wards) -> None:
    assert wards.a_footage != wards.b_footage


def test_a_district_admin_sees_both_wards_and_their_totals(wards: Wards) -> None:
    listing = httpx.get(f"{wards.ingest.url}/footage", headers=_auth(STATIC)).json()
    assert {v["footage_id"]: v["ward"] for v in listing["items"]} == {
        wards.a_footage: WARD_A,
        wards.b_footage: WARD_B,
    }
    channels = httpx.get(f"{wards.ingest.url}/channels", headers=_auth(STATIC)).json()
    assert {c["channel"]["name"]: c["channel"]["ward"] for c in channels} == {"a-local": WARD_A, "b-local": WARD_B}
    district = httpx.get(f"{wards.metrics}/reports/district", headers=_auth(STATIC))
    assert district.status_code == 200, district.text
    totals = {w["ward"]: w for w in district.json()["wards"]}
    for ward in (WARD_A, WARD_B):
        assert (totals[ward]["footage"], totals[ward]["published"], totals[ward]["failed"]) == (1, 1, 1)
        assert totals[ward]["platforms"] == {
            "local": {"published": 1, "failed": 1, "views": 0, "likes": 0, "comments": 0, "shares": 0}
        }
    csv = httpx.get(f"{wards.metrics}/reports/district", params={"format": "csv"}, headers=_auth(STATIC)).text
    assert [line.split(",")[1:4] for line in csv.splitlines()[1:]] == [
        [WARD_A, "all", "1"],
        [WARD_A, "local", "1"],
        [WARD_B, "all", "1"],
        [WARD_B, "local", "1"],
    ]


def test_the_district_report_refuses_a_ward_admin_clearly(wards: Wards) -> None:
    answer = httpx.get(f"{wards.metrics}/reports/district", headers=_auth(wards.a_admin))
    assert answer.status_code == 403
    assert_bilingual(answer.json()["detail"])


def test_loa_report_district_prints_and_exports_the_roll_up_for_a_district_admin_only(
    wards: Wards, tmp_path: Path
) -> None:
    def run(token: str, *args: str) -> Result:
        env = {"LOA_METRICS_URL": wards.metrics, "LOA_TOKEN": token, "LOA_CLI_CONFIG": str(tmp_path / "none.json")}
        return CliRunner().invoke(cli, ["report", "--district", *args], env=env)

    table = run(STATIC)
    assert table.exit_code == 0, table.output
    assert [line.split()[:5] for line in table.output.splitlines() if line.startswith("ward-")] == [
        [WARD_A, "all", "1", "1", "1"],
        [WARD_A, "local", "1", "1", "0"],
        [WARD_B, "all", "1", "1", "1"],
        [WARD_B, "local", "1", "1", "0"],
    ]
    exported = run(STATIC, "--format", "csv", "--output", str(tmp_path / "district.csv"))
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "district.csv").read_text(encoding="utf-8").startswith(",".join(DISTRICT_COLUMNS))
    refused = run(wards.a_admin)
    assert refused.exit_code == 1 and "district admin" in refused.output and "quản trị quận" in refused.output


def test_the_report_upward_keeps_to_the_callers_ward(wards: Wards, tmp_path: Path) -> None:
    upward = f"{wards.metrics}/reports/upward"
    other = httpx.get(upward, params={"ward": WARD_A}, headers=_auth(wards.b_admin))
    assert other.status_code == 404 and WARD_A in other.json()["detail"]
    assert_bilingual(other.json()["detail"])
    rolled = httpx.get(upward, params={"ward": "district"}, headers=_auth(wards.b_admin))
    assert rolled.status_code == 403
    assert_bilingual(rolled.json()["detail"])
    own = httpx.get(upward, headers=_auth(wards.b_admin)).json()
    assert own["scope"] == WARD_B and [c["channel"] for c in own["channels"]] == ["b-local"]
    assert own["totals"]["posts"] == 1 and [p["channel"] for p in own["top_posts"]] == ["b-local"]

    def run(token: str, *args: str) -> Result:
        env = {"LOA_METRICS_URL": wards.metrics, "LOA_TOKEN": token, "LOA_CLI_CONFIG": str(tmp_path / "none.json")}
        return CliRunner().invoke(cli, ["report", *args], env=env)

    month = f"{datetime.now(UTC):%Y-%m}"
    xlsx = tmp_path / "district.xlsx"
    made = run(STATIC, "--ward", "district", "--period", month, "--format", "xlsx", "-o", str(xlsx))
    assert made.exit_code == 0, made.output
    book = load_workbook(xlsx)
    wards_rows = [r[:2] for r in book["Tổng quan"].iter_rows(values_only=True) if r[0] in (WARD_A, WARD_B)]
    assert wards_rows == [(WARD_A, 1), (WARD_B, 1)], "every ward's posts in the district's roll-up"
    pdf = tmp_path / "a.pdf"
    made = run(STATIC, "--ward", WARD_A, "--period", month, "--format", "pdf", "-o", str(pdf))
    assert made.exit_code == 0, made.output
    assert pdf.read_bytes().startswith(b"%PDF-")
    refused = run(wards.a_admin, "--ward", WARD_B, "--format", "pdf", "-o", str(tmp_path / "b.pdf"))
    assert refused.exit_code == 1 and not (tmp_path / "b.pdf").exists()


def test_the_pages_report_downloads_relay_metrics_with_the_callers_reach(wards: Wards) -> None:
    download = f"{wards.ingest.url}/ui/reports/download"
    month = f"{datetime.now(UTC):%Y-%m}"
    page = httpx.get(f"{wards.ingest.url}/ui/district", params={"month": month}, headers=_auth(STATIC))
    assert page.status_code == 200
    assert f"/ui/reports/download?format=pdf&amp;period={month}&amp;ward={WARD_A}" in page.text
    pdf = httpx.get(download, params={"ward": WARD_A, "period": month}, headers=_auth(STATIC), timeout=120)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    assert f"loa-bao-cao-{WARD_A}-{month}.pdf" in pdf.headers["content-disposition"]
    own = httpx.get(download, params={"format": "xlsx"}, headers=_auth(wards.b_admin), timeout=120)
    assert own.status_code == 200 and f"loa-bao-cao-{WARD_B}-" in own.headers["content-disposition"]
    other = httpx.get(download, params={"ward": WARD_A}, headers=_auth(wards.b_admin), timeout=120)
    assert other.status_code == 404
    assert_bilingual(other.json()["detail"])
    # The reports page: a ward's people choose the period only; a district admin also the ward or the district.
    mine = httpx.get(f"{wards.ingest.url}/ui/reports", headers=_auth(wards.b_admin))
    assert mine.status_code == 200 and 'action="/ui/reports/download"' in mine.text
    assert 'name="ward"' not in mine.text and WARD_A not in mine.text
    everyone = httpx.get(f"{wards.ingest.url}/ui/reports", headers=_auth(STATIC)).text
    assert all(f'<option value="{w}">' in everyone for w in ("district", WARD_A, WARD_B))


@pytest.fixture(scope="module")
def archived(wards: Wards, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArchiverProcess]:
    """The archiver (following ingest's channel registry, asking ingest about tokens) with ward A's stream key, pull
    and archive: a pull of a source that does not answer still makes its archive (which then fails)."""
    root = tmp_path_factory.mktemp("wards-archiver")
    settings = {
        "ingest_url": wards.ingest.url,
        "hls_allowed_private": "127.0.0.1",
        "api_token_hashes": hash_token(STATIC),
    }
    with archiver_process(root, wards.ingest.bootstrap, wards.ingest.prefix, **settings) as archiver:
        a = {"Authorization": f"Bearer {wards.a_admin}"}
        key = archiver.client.post("/stream-keys", headers=a, json={"channel": "a-local", "title": TITLE_A})
        assert key.status_code == 201 and key.json()["ward"] == WARD_A, key.text
        nowhere = f"http://127.0.0.1:{free_port()}/live.m3u8"
        pull = archiver.client.post("/pulls", headers=a, json={"url": nowhere, "channel": "a-local", "title": TITLE_A})
        assert pull.status_code == 201 and pull.json()["ward"] == WARD_A, pull.text
        pull_url = f"/pulls/{pull.json()['pull_id']}"
        archive_id = wait_until(
            lambda: archiver.client.get(pull_url, headers=a).json()["archive_id"], 30, "the archive"
        )
        wards.archived = {"key_id": key.json()["key_id"], "pull_id": pull.json()["pull_id"], "archive_id": archive_id}
        yield archiver
        wards.archived = {}


def _archiver_request(method: str, path: str, wards: Wards) -> dict[str, Any]:
    if (method, path) == ("POST", "/stream-keys"):
        return {"json": {"channel": "a-local"}}
    if (method, path) == ("POST", "/pulls"):
        return {"json": {"url": "http://127.0.0.1:9/x.m3u8", "channel": "a-local"}}
    if (method, path) == ("POST", "/archives/{archive_id}/marks"):
        return {"json": {"last_s": 5}}
    return {}


def test_ward_b_gets_nothing_of_ward_a_from_any_archiver_route(wards: Wards, archived: ArchiverProcess) -> None:
    base = f"http://127.0.0.1:{archived.http_port}"
    schema = httpx.get(f"{base}/openapi.json").json()
    seen = _walk(base, schema, wards, _archiver_request)
    by_route = {(m, p): s for m, p, s in seen}
    assert by_route[("GET", "/archives/{archive_id}")] == 404 and by_route[("GET", "/pulls/{pull_id}")] == 404
    assert by_route[("DELETE", "/stream-keys/{key_id}")] == 404
    assert by_route[("POST", "/stream-keys")] == 422 and by_route[("POST", "/pulls")] == 422
    own = {"Authorization": f"Bearer {wards.a_admin}"}
    assert [a["archive_id"] for a in httpx.get(f"{base}/archives", headers=own).json()] == [
        wards.archived["archive_id"]
    ], "ward A sees its archive, so the walk used a real one"
    district = httpx.get(f"{base}/stream-keys", headers=_auth(STATIC)).json()
    assert [k["ward"] for k in district] == [WARD_A]


# The publisher's web view is Faust's, without an OpenAPI schema: its routes, listed here (with /healthz, /readyz and
# /metrics, which carry no ward's data). A route added to the publisher must be added here.
PUBLISHER_ROUTES = [("POST", "/posts/{footage_id}/retry")]
# The publisher's routes for Loa's services only (a service token; metrics takes TikTok and Zalo access tokens):
# every person is refused, ward A's own admin and the district included.
PUBLISHER_SERVICE_ROUTES = [("GET", "/internal/access_tokens/{channel}")]


@pytest.fixture(scope="module")
def publisher(wards: Wards, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PublisherProcess]:
    """The publisher (following ingest's channel registry, asking ingest about tokens) with ward A's footage posted
    to ward A's local channel: its ledger has ward A's post."""
    root = tmp_path_factory.mktemp("wards-publisher")
    process = PublisherProcess(
        root,
        bootstrap=wards.ingest.bootstrap,
        prefix=wards.ingest.prefix,
        channels=CHANNELS,
        token=STATIC,
        env={"LOA_INGEST_URL": wards.ingest.url},
    )
    key = layout.rendition_key(wards.a_footage, "youtube")
    (root / "storage" / key).parent.mkdir(parents=True)
    make_clip(root / "storage" / key, width=160, height=90, duration_s=1.0)
    ready = RenditionsReady(
        footage_id=wards.a_footage,
        ward=WARD_A,
        metadata=FootageMetadata(title=TITLE_A, channels=("a-local",)),
        renditions=(
            Rendition(
                profile="youtube",
                key=key,
                width=160,
                height=90,
                duration_s=1.0,
                size_bytes=(root / "storage" / key).stat().st_size,
                video_codec="h264",
                audio_codec="aac",
            ),
        ),
    )
    process.start()
    try:
        asyncio.run(_send(wards.ingest, ready))
        wait_until(lambda: list((root / "published").rglob("*.mp4")), 60, "ward A's post", diagnose=process.log_tail)
        yield process
    finally:
        process.stop()


async def _send(ingest: IngestProcess, event: RenditionsReady) -> None:
    producer = EventProducer(ingest.bootstrap, ingest.prefix)
    try:
        await producer.send(RENDITIONS_READY, event)
    finally:
        await producer.stop()


def test_ward_b_cannot_retry_ward_as_posts_on_the_publisher(wards: Wards, publisher: PublisherProcess) -> None:
    def call(method: str, path: str, token: str) -> httpx.Response:
        return httpx.request(method, f"{publisher.url}{_fill(path, wards)}", headers=_auth(token), timeout=10)

    for method, path in PUBLISHER_ROUTES:
        refused = call(method, path, wards.b_admin)
        assert refused.status_code == 404, refused.text
        assert not any(marker in refused.text for marker in (WARD_A, TITLE_A, "a-local"))
        assert_bilingual(refused.json()["detail"])
    for method, path in PUBLISHER_SERVICE_ROUTES:
        for token in (wards.b_admin, wards.a_admin, STATIC):
            refused = call(method, path, token)
            assert refused.status_code == 403, refused.text
            assert "access_token" not in refused.json() and WARD_A not in refused.text
            assert_bilingual(refused.json()["detail"])
    # Ward A's own people and the district are let through to ward A's post (posted, so nothing to retry).
    for token in (wards.a_admin, STATIC):
        allowed = call("POST", "/posts/{footage_id}/retry", token)
        assert allowed.status_code == 200 and allowed.json() == {"footage_id": wards.a_footage, "retried": []}


def test_a_district_admin_uploads_for_a_ward_with_the_cli_and_a_ward_admin_cannot(wards: Wards, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "district.mp4", width=160, height=90, duration_s=1.0, audio=False)

    def upload(token: str) -> Result:
        env = {"LOA_INGEST_URL": wards.ingest.url, "LOA_TOKEN": token, "LOA_CLI_CONFIG": str(tmp_path / "none.json")}
        args = ["upload", str(clip), "--title", "Quận gửi phường B", "--ward", WARD_B, "--channel", "b-local"]
        return CliRunner().invoke(cli, args, env=env)

    refused = upload(wards.a_admin)
    assert refused.exit_code == 1 and WARD_B in refused.output, refused.output
    done = upload(STATIC)
    assert done.exit_code == 0, done.output
    footage_id = done.output.strip().splitlines()[-1]
    (event,) = [e for e in wards.ingest.uploaded_events() if e.footage_id == footage_id]
    assert event.ward == WARD_B


def test_the_district_page_shows_every_wards_totals_to_a_district_admin_only(wards: Wards) -> None:
    url = f"{wards.ingest.url}/ui/district"
    added = httpx.post(  # a YouTube channel nobody signed in to yet: disconnected
        f"{wards.ingest.url}/channels",
        json={"name": "b-youtube", "platform": "youtube", "profiles": ["youtube"], "ward": WARD_B},
        headers=_auth(STATIC),
    )
    assert added.status_code in (200, 201), added.text
    try:
        shown = httpx.get(url, params={"lang": "en"}, headers=_auth(STATIC))
    finally:
        httpx.delete(f"{wards.ingest.url}/channels/b-youtube", headers=_auth(STATIC)).raise_for_status()
    assert shown.status_code == 200, shown.text
    assert "The wards at a glance" in shown.text
    month = datetime.now(UTC).strftime("%Y-%m")
    for ward, channel, state in ((WARD_A, "a-local", "Connected"), (WARD_B, "b-local", "Connected")):
        card = re.search(rf'<article class="card ward" id="ward-{ward}".*?</article>', shown.text, re.S)
        assert card is not None, ward
        row = re.search(rf'<tr class="ward-total" data-ward="{ward}">(.*?)</tr>', card.group(0))
        assert row is not None, ward
        # the ward's total row: 1 footage, 1 post published, 1 failed
        assert re.findall(r"<td[^>]*>(\d+)</td>", row.group(1))[:3] == ["1", "1", "1"], row.group(1)
        link = re.search(r'<a class="ward-footage" href="([^"]+)"', card.group(0))
        assert link is not None and link.group(1).startswith(f"/ui/footage?ward={ward}&amp;from={month}-01&amp;to=")
        assert re.search(rf'id="channel-{channel}" data-state="connected">.*?{state}</span>', card.group(0))
        assert ("b-youtube" in card.group(0)) == (ward == WARD_B)
    assert re.search(r'id="channel-b-youtube" data-state="disconnected">.*?Disconnected</span>', shown.text)
    # The ward's link: its footage list, a district admin's ward filter (metrics' /footage?ward=, relayed)
    listed = httpx.get(f"{wards.ingest.url}/ui/footage", params={"ward": WARD_B}, headers=_auth(STATIC))
    assert listed.status_code == 200, listed.text
    assert wards.b_footage in listed.text and wards.a_footage not in listed.text
    week = datetime.now(UTC).isocalendar()
    by_week = httpx.get(url, params={"week": f"{week.year}-W{week.week:02d}"}, headers=_auth(STATIC))
    assert by_week.status_code == 200 and f"{week.year}-W{week.week:02d}" in by_week.text
    refused = httpx.get(url, headers=_auth(wards.a_admin))
    assert refused.status_code == 403 and WARD_B not in refused.text
    assert_bilingual(refused.json()["detail"])
    # a ward's people cannot reach another ward's list through the filter (nor confirm the ward exists)
    for where in (f"{wards.ingest.url}/ui/footage", f"{wards.metrics}/footage"):
        other = httpx.get(where, params={"ward": WARD_B}, headers=_auth(wards.a_admin))
        assert other.status_code == 404 and wards.b_footage not in other.text, where
        assert_bilingual(other.json()["detail"])
    browser = httpx.get(url)
    assert browser.status_code == 303 and browser.headers["location"].startswith("/signin?next=")
