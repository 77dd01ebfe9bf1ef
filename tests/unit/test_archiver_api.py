"""The archiver's HTTP edge in-process: token required, keys shown once and stored hashed, input refused early."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from loa_archiver.__main__ import build_archiver
from loa_archiver.api import create_api
from loa_archiver.settings import ArchiverSettings
from loa_archiver.store import ArchiveStore
from loa_core.auth import hash_token
from loa_core.kafka import EventProducer
from loa_core.storage import LocalStorage
from tests.support.bilingual import assert_bilingual
from tests.support.channel_registry import known

TOKEN = "unit-token"


def make_client(tmp_path: Path) -> tuple[TestClient, ArchiveStore]:
    settings = ArchiverSettings(
        data_dir=tmp_path / "data",
        api_token_hashes=hash_token(TOKEN),
        hls_allowed_hosts="cdn.example.com",
        rtmp_public_url="rtmp://live.ward.example/live",
    )
    store = ArchiveStore.open(tmp_path / "a.sqlite3")
    # The producer is never started: these requests announce nothing.
    producer = EventProducer("127.0.0.1:1")
    archiver = build_archiver(settings, LocalStorage(tmp_path / "s"), producer, store, known("local", "yt"))
    client = TestClient(create_api(archiver), headers={"Authorization": f"Bearer {TOKEN}"})
    return client, store


def test_token_is_required(tmp_path: Path) -> None:
    client, _ = make_client(tmp_path)
    assert client.get("/healthz").status_code == 200
    assert "loa_http_requests_total" in client.get("/metrics").text
    for method, path in (("get", "/stream-keys"), ("post", "/pulls"), ("get", "/archives")):
        assert client.request(method, path, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_stream_keys(tmp_path: Path) -> None:
    client, store = make_client(tmp_path)
    response = client.post(
        "/stream-keys",
        json={"channel": "local", "archive_channels": ["yt"], "restream_urls": ["rtmp://a.example.com/app/SECRET"]},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["rtmp_url"] == "rtmp://live.ward.example/live" and len(body["stream_key"]) >= 40
    assert body["rtmps_url"] is None  # RTMPS only when a port and certificate are configured
    assert store.active_key_by_hash(hash_token(body["stream_key"])) is not None
    listed = client.get("/stream-keys").json()
    assert "stream_key" not in listed[0] and "SECRET" not in str(listed)
    assert listed[0]["archive_channels"] == ["yt"] and listed[0]["highlight_channels"] == ["local"]
    assert client.delete(f"/stream-keys/{body['key_id']}").status_code == 204
    assert client.get("/stream-keys").json()[0]["revoked_at"] is not None
    assert client.delete("/stream-keys/nope").status_code == 404
    assert client.post("/stream-keys", json={"channel": "nowhere"}).status_code == 422
    bad = client.post("/stream-keys", json={"channel": "local", "restream_urls": ["rtmp://x/y|[f=segment]z"]})
    assert bad.status_code == 422


def test_pull_requests_are_checked(tmp_path: Path) -> None:
    client, _ = make_client(tmp_path)
    ok = client.post(
        "/pulls",
        json={
            "url": "https://cdn.example.com/live.m3u8",
            "channel": "local",
            "start_at": "2030-05-01T19:00:00+07:00",
            "end_at": "2030-05-01T21:00:00+07:00",
        },
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["state"] == "scheduled" and ok.json()["start_at"].startswith("2030-05-01T12:00:00")
    for body in (
        {"url": "https://evil.example.net/live.m3u8", "channel": "local"},
        {"url": "http://127.0.0.1/live.m3u8", "channel": "local"},
        {"url": "https://cdn.example.com/a.m3u8", "channel": "local", "start_at": "2030-05-01T19:00:00"},
        {
            "url": "https://cdn.example.com/a.m3u8",
            "channel": "local",
            "start_at": "2030-05-01T19:00:00+00:00",
            "end_at": "2030-05-01T18:00:00+00:00",
        },
    ):
        assert client.post("/pulls", json=body).status_code == 422, body
    pull_id = ok.json()["pull_id"]
    assert client.delete(f"/pulls/{pull_id}").status_code == 202
    assert client.get(f"/pulls/{pull_id}").json()["state"] == "cancelled"


def test_marks_only_while_recording(tmp_path: Path) -> None:
    client, store = make_client(tmp_path)
    archive = store.create_archive("rtmp", "k", "local", "T", ("local",), ("local",))
    mark = client.post(f"/archives/{archive.archive_id}/marks", json={"start_s": 30, "end_s": 90, "title": "Trao giải"})
    assert mark.status_code == 201, mark.text
    assert client.post(f"/archives/{archive.archive_id}/marks", json={"start_s": 30, "end_s": 10}).status_code == 422
    view = client.get(f"/archives/{archive.archive_id}").json()
    assert view["marks"][0]["title"] == "Trao giải" and view["state"] == "recording"
    store.set_archive_state(archive.archive_id, "announced")
    assert client.post(f"/archives/{archive.archive_id}/marks", json={"start_s": 0, "end_s": 5}).status_code == 409
    assert client.get("/archives/nope").status_code == 404


def test_live_page_and_marking_the_last_seconds(tmp_path: Path) -> None:
    client, store = make_client(tmp_path)
    page = client.get("/live", headers={"Authorization": ""})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/archives" in page.text and "last_s" in page.text and "innerHTML" not in page.text
    archive = store.create_archive("rtmp", "k", "local", "T", ("local",), ("local",))
    store.add_segment(archive.archive_id, 1, "k1", 2.0)
    store.add_segment(archive.archive_id, 2, "k2", 2.0)
    # 4 s stored and the live just began on the wall clock: "now" is the end of what is stored.
    mark = client.post(f"/archives/{archive.archive_id}/marks", json={"last_s": 3, "title": "Khoảnh khắc"})
    assert mark.status_code == 201, mark.text
    assert (mark.json()["start_s"], mark.json()["end_s"]) == (1.0, 4.0)
    both = {"last_s": 3, "start_s": 0, "end_s": 2}
    assert client.post(f"/archives/{archive.archive_id}/marks", json=both).status_code == 422
    assert client.post(f"/archives/{archive.archive_id}/marks", json={"title": "x"}).status_code == 422


def test_every_refusal_says_why_in_vietnamese_and_english(tmp_path: Path) -> None:
    client, store = make_client(tmp_path)
    recording = store.create_archive("rtmp", "k", "local", "T", ("local",), ("local",)).archive_id
    announced = store.create_archive("rtmp", "k2", "local", "T", ("local",), ("local",)).archive_id
    store.set_archive_state(announced, "announced")
    pull = "https://cdn.example.com/live.m3u8"
    refusals = [
        (401, "get", "/archives", None, {"Authorization": "Bearer wrong"}),
        (404, "delete", "/stream-keys/nope", None, None),
        (422, "post", "/stream-keys", {"channel": "nowhere"}, None),
        (422, "post", "/stream-keys", {"channel": "Not A Channel"}, None),  # refused by the declared shape
        (422, "post", "/pulls", {"channel": "local"}, None),
        (422, "post", "/stream-keys", {"channel": "local", "restream_urls": ["https://a.example.com/x"]}, None),
        (422, "post", "/stream-keys", {"channel": "local", "restream_urls": ["rtmp://x/y|[f=segment]z"]}, None),
        (422, "post", "/pulls", {"url": "ftp://cdn.example.com/live.m3u8", "channel": "local"}, None),
        (422, "post", "/pulls", {"url": "https://u:p@cdn.example.com/live.m3u8", "channel": "local"}, None),
        (422, "post", "/pulls", {"url": "https:///live.m3u8", "channel": "local"}, None),
        (422, "post", "/pulls", {"url": "https://evil.example.net/live.m3u8", "channel": "local"}, None),
        (422, "post", "/pulls", {"url": "https://cdn.example.com:99999/live.m3u8", "channel": "local"}, None),
        (422, "post", "/pulls", {"url": pull, "channel": "local", "start_at": "2030-05-01T19:00:00"}, None),
        (
            422,
            "post",
            "/pulls",
            {"url": pull, "channel": "local", "start_at": "2030-05-01T19:00:00Z", "end_at": "2030-05-01T18:00:00Z"},
            None,
        ),
        (404, "get", "/pulls/nope", None, None),
        (404, "delete", "/pulls/nope", None, None),
        (404, "get", "/archives/nope", None, None),
        (404, "post", "/archives/nope/marks", {"start_s": 0, "end_s": 5}, None),
        (409, "post", f"/archives/{announced}/marks", {"start_s": 0, "end_s": 5}, None),
        (422, "post", f"/archives/{recording}/marks", {"last_s": 3, "start_s": 0, "end_s": 2}, None),
        (422, "post", f"/archives/{recording}/marks", {"title": "x"}, None),
        (422, "post", f"/archives/{recording}/marks", {"start_s": 30, "end_s": 10}, None),
        (404, "post", "/archives/nope/stop", None, None),
        (409, "post", f"/archives/{announced}/stop", None, None),
    ]
    for status, method, path, body, headers in refusals:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == status, (method, path, body, response.text)
        assert_bilingual(response.json()["detail"])
    # A refused shape names the field, and does not echo what was sent (a restream URL carries a platform key).
    secret = "rtmp://a.example.com/app/" + "SECRET" * 400
    refused = client.post("/stream-keys", json={"channel": "local", "restream_urls": [secret]})
    assert refused.status_code == 422 and "restream_urls" in refused.json()["detail"]
    assert "SECRET" not in refused.text
