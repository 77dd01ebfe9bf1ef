"""The footage page's media and pages: a cut streamed from storage through ingest with HTTP Range (206 with
Content-Range, 416 past the end, the whole file without Range), only to a caller of the footage's ward (another
ward: 404, nobody: 401); the footage page and the footage list (filters, reason column) rendered for its ward.

Real parts: ingest as a process on a real Kafka broker with local storage, metrics' API in this process on a real
SQLite projection fed with what ingest announced and a RenditionsReady naming a real clip put in ingest's storage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from loa_core.auth import hash_token, new_token
from loa_core.channels import Channel, dump_channels
from loa_core.contracts import PostFailed, Rendition, RenditionsReady, layout
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker, free_port
from loa_metrics.api import create_api
from loa_metrics.projection import open_projection
from loa_metrics.settings import MetricsSettings
from tests.support.asgi_server import serve_in_thread
from tests.support.ingest import IngestProcess, run_ingest
from tests.support.media import make_clip

WARD_A, WARD_B = "ward-a", "ward-b"
CHANNELS = [
    Channel(name="a-tiktok", platform="local", profiles=("tiktok",), ward=WARD_A),
    Channel(name="b-local", platform="local", profiles=("tiktok",), ward=WARD_B),
]
STATIC = new_token()
TITLE = "Hội thi tiếng hát phường A <mùa xuân>"


@dataclass
class Footage:
    ingest: IngestProcess
    footage_id: str
    cut: bytes
    a_viewer: str
    b_admin: str

    def url(self, profile: str = "tiktok") -> str:
        return f"{self.ingest.url}/footage/{self.footage_id}/cuts/{profile}"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(ingest: IngestProcess, role: str, ward: str) -> str:
    answer = httpx.post(f"{ingest.url}/tokens", headers=_auth(STATIC), json={"role": role, "ward": ward})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


@pytest.fixture(scope="module")
def footage(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Footage]:
    root = tmp_path_factory.mktemp("footage-page")
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
    with serve_in_thread(create_api(settings, projection.views, projection.engagement)) as metrics:
        env["LOA_METRICS_URL"] = metrics
        with run_ingest(root / "ingest", kafka_broker.bootstrap, env, port=ingest_port) as ingest:
            for ward in (WARD_A, WARD_B):
                made = httpx.post(f"{ingest.url}/wards", headers=_auth(STATIC), json={"id": ward, "display_name": ward})
                assert made.status_code == 201, made.text
            a_editor = _token(ingest, "editor", WARD_A)
            source = make_clip(root / "source.mp4", width=160, height=90, duration_s=1.0)
            uploaded = httpx.post(
                f"{ingest.url}/footage",
                headers=_auth(a_editor),
                files={"file": ("clip.mp4", source.read_bytes(), "video/mp4")},
                data={"title": TITLE, "channels": "a-tiktok", "series": "Hội thi"},
                timeout=60,
            )
            assert uploaded.status_code == 201, uploaded.text
            footage_id = uploaded.json()["footage_id"]
            # The vertical cut transcode would have made, in ingest's storage under its layout key.
            cut = make_clip(root / "tiktok.mp4", width=90, height=160, duration_s=1.0).read_bytes()
            key = layout.rendition_key(footage_id, "tiktok")
            LocalStorage(ingest.storage_root).put_stream(key, [cut])
            (event,) = [e for e in ingest.uploaded_events() if e.footage_id == footage_id]
            projection.events.footage_uploaded(event)
            rendition = Rendition(
                profile="tiktok",
                key=key,
                width=90,
                height=160,
                duration_s=1.0,
                size_bytes=len(cut),
                video_codec="h264",
                audio_codec="aac",
                sha256=hashlib.sha256(cut).hexdigest(),
            )
            projection.events.renditions_ready(
                RenditionsReady(footage_id=footage_id, ward=WARD_A, metadata=event.metadata, renditions=(rendition,))
            )
            failed = PostFailed(
                footage_id=footage_id,
                ward=WARD_A,
                channel="a-tiktok",
                platform="tiktok",
                reason="tiktok: spam_risk_too_many_posts",
            )
            projection.events.failure(failed)
            yield Footage(
                ingest=ingest,
                footage_id=footage_id,
                cut=cut,
                a_viewer=_token(ingest, "viewer", WARD_A),
                b_admin=_token(ingest, "ward_admin", WARD_B),
            )
    projection.close()


def test_a_range_is_answered_206_with_exactly_those_bytes(footage: Footage) -> None:
    size = len(footage.cut)
    for asked, (start, end) in {
        "bytes=0-1": (0, 1),
        "bytes=100-": (100, size - 1),
        "bytes=-50": (size - 50, size - 1),
        f"bytes=10-{size * 2}": (10, size - 1),
    }.items():
        answer = httpx.get(footage.url(), headers={**_auth(footage.a_viewer), "Range": asked})
        assert answer.status_code == 206, (asked, answer.text)
        assert answer.headers["content-range"] == f"bytes {start}-{end}/{size}", asked
        assert answer.headers["accept-ranges"] == "bytes"
        assert answer.headers["content-type"] == "video/mp4"
        assert answer.content == footage.cut[start : end + 1], asked


def test_without_range_the_whole_cut_and_past_the_end_416(footage: Footage) -> None:
    whole = httpx.get(footage.url(), headers=_auth(footage.a_viewer))
    assert whole.status_code == 200 and whole.content == footage.cut
    assert whole.headers["accept-ranges"] == "bytes" and "content-range" not in whole.headers
    size = len(footage.cut)
    for asked in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        refused = httpx.get(footage.url(), headers={**_auth(footage.a_viewer), "Range": asked})
        assert refused.status_code == 416, asked
        assert refused.headers["content-range"] == f"bytes */{size}"


def test_another_ward_gets_404_and_nobody_401(footage: Footage) -> None:
    other = httpx.get(footage.url(), headers={**_auth(footage.b_admin), "Range": "bytes=0-1"})
    assert other.status_code == 404 and footage.cut[:2] not in other.content
    assert httpx.get(footage.url(), headers={"Range": "bytes=0-1"}).status_code == 401
    unknown_cut = httpx.get(footage.url("youtube"), headers=_auth(footage.a_viewer))
    assert unknown_cut.status_code == 404
    page = httpx.get(f"{footage.ingest.url}/ui/footage/{footage.footage_id}", headers=_auth(footage.b_admin))
    assert page.status_code == 404 and TITLE not in page.text


def test_the_footage_page_shows_the_cut_the_text_and_what_to_do(footage: Footage) -> None:
    page = httpx.get(f"{footage.ingest.url}/ui/footage/{footage.footage_id}", headers=_auth(footage.a_viewer))
    assert page.status_code == 200, page.text
    html = page.text
    assert f'src="/footage/{footage.footage_id}/cuts/tiktok"' in html
    assert "Hội thi tiếng hát phường A &lt;mùa xuân&gt;" in html, "the title escaped, Vietnamese intact"
    assert 'data-state="failed"' in html and "spam_risk_too_many_posts" in html
    assert 'data-action="wait_quota"' in html and "hết lượt đăng" in html, "the advice, in Vietnamese by default"
    english = httpx.get(
        f"{footage.ingest.url}/ui/footage/{footage.footage_id}?lang=en", headers=_auth(footage.a_viewer)
    )
    assert "posting quota for today" in english.text


def test_the_footage_list_filters_and_shows_the_reason(footage: Footage) -> None:
    base = f"{footage.ingest.url}/ui/footage"
    listed = httpx.get(base, params={"status": "failed", "channel": "a-tiktok"}, headers=_auth(footage.a_viewer))
    assert listed.status_code == 200, listed.text
    assert f'data-footage="{footage.footage_id}"' in listed.text and "a-tiktok: tiktok: spam_risk" in listed.text
    for params in ({"status": "published"}, {"series": "Họp dân"}, {"from": "2999-01-01"}):
        none = httpx.get(base, params=params, headers=_auth(footage.a_viewer))
        assert none.status_code == 200 and f'data-footage="{footage.footage_id}"' not in none.text, params
    other = httpx.get(base, headers=_auth(footage.b_admin))
    assert other.status_code == 200 and footage.footage_id not in other.text
