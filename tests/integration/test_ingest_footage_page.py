"""The footage page's media and pages: a cut streamed from storage through ingest with HTTP Range (206 with
Content-Range, 416 past the end, the whole file without Range), only to a caller of the footage's ward (another
ward: 404, nobody: 401); the footage page and the footage list (filters, reason column) rendered for its ward.

Real parts: ingest as a process on a real Kafka broker with local storage, metrics' API in this process on a real
SQLite projection fed with what ingest announced and a RenditionsReady naming a real clip put in ingest's storage.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from loa_core.channels import Channel
from loa_core.contracts import layout
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.support.footage_stack import WARD_A, WARD_B, FootageStack, footage_stack, make_token
from tests.support.footage_stack import auth as _auth

CHANNELS = [
    Channel(name="a-tiktok", platform="local", profiles=("tiktok",), ward=WARD_A),
    Channel(name="b-local", platform="local", profiles=("tiktok",), ward=WARD_B),
]
TITLE = "Hội thi tiếng hát phường A <mùa xuân>"


@pytest.fixture(scope="module")
def footage(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FootageStack]:
    root = tmp_path_factory.mktemp("footage-page")
    with footage_stack(kafka_broker, root, CHANNELS, TITLE, "Hội thi") as stack:
        stack.fail("a-tiktok", "tiktok", "tiktok: spam_risk_too_many_posts")
        yield stack


def test_a_range_is_answered_206_with_exactly_those_bytes(footage: FootageStack) -> None:
    size = len(footage.cut)
    for asked, (start, end) in {
        "bytes=0-1": (0, 1),
        "bytes=100-": (100, size - 1),
        "bytes=-50": (size - 50, size - 1),
        f"bytes=10-{size * 2}": (10, size - 1),
    }.items():
        answer = httpx.get(footage.cut_url(), headers={**_auth(footage.a_viewer), "Range": asked})
        assert answer.status_code == 206, (asked, answer.text)
        assert answer.headers["content-range"] == f"bytes {start}-{end}/{size}", asked
        assert answer.headers["accept-ranges"] == "bytes"
        assert answer.headers["content-type"] == "video/mp4"
        assert answer.content == footage.cut[start : end + 1], asked


def test_without_range_the_whole_cut_and_past_the_end_416(footage: FootageStack) -> None:
    whole = httpx.get(footage.cut_url(), headers=_auth(footage.a_viewer))
    assert whole.status_code == 200 and whole.content == footage.cut
    assert whole.headers["accept-ranges"] == "bytes" and "content-range" not in whole.headers
    size = len(footage.cut)
    for asked in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        refused = httpx.get(footage.cut_url(), headers={**_auth(footage.a_viewer), "Range": asked})
        assert refused.status_code == 416, asked
        assert refused.headers["content-range"] == f"bytes */{size}"


def test_another_ward_gets_404_and_nobody_401(footage: FootageStack) -> None:
    other = httpx.get(footage.cut_url(), headers={**_auth(footage.b_admin), "Range": "bytes=0-1"})
    assert other.status_code == 404 and footage.cut[:2] not in other.content
    assert httpx.get(footage.cut_url(), headers={"Range": "bytes=0-1"}).status_code == 401
    unknown_cut = httpx.get(footage.cut_url("youtube"), headers=_auth(footage.a_viewer))
    assert unknown_cut.status_code == 404
    page = httpx.get(f"{footage.ingest.url}/ui/footage/{footage.footage_id}", headers=_auth(footage.b_admin))
    assert page.status_code == 404 and TITLE not in page.text


def test_the_footage_page_shows_the_cut_the_text_and_what_to_do(footage: FootageStack) -> None:
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
    assert 'class="retry"' not in html, "a viewer cannot retry"
    editor = make_token(footage.ingest, "editor", WARD_A)
    edited = httpx.get(f"{footage.ingest.url}/ui/footage/{footage.footage_id}", headers=_auth(editor))
    assert f'class="retry" data-footage="{footage.footage_id}"' in edited.text, "an editor retries the failed post"


def test_the_footage_list_filters_and_shows_the_reason(footage: FootageStack) -> None:
    base = f"{footage.ingest.url}/ui/footage"
    listed = httpx.get(base, params={"status": "failed", "channel": "a-tiktok"}, headers=_auth(footage.a_viewer))
    assert listed.status_code == 200, listed.text
    assert f'data-footage="{footage.footage_id}"' in listed.text and "a-tiktok: tiktok: spam_risk" in listed.text
    for params in ({"status": "published"}, {"series": "Họp dân"}, {"from": "2999-01-01"}):
        none = httpx.get(base, params=params, headers=_auth(footage.a_viewer))
        assert none.status_code == 200 and f'data-footage="{footage.footage_id}"' not in none.text, params
    other = httpx.get(base, headers=_auth(footage.b_admin))
    assert other.status_code == 200 and footage.footage_id not in other.text


def test_an_editor_saves_a_posts_text_and_the_page_shows_it_as_the_post(footage: FootageStack) -> None:
    """A viewer gets no Save text button and cannot save (403); an editor saves; the page then shows the saved
    words as what the post will say, marked as a person's."""
    url = f"{footage.ingest.url}/ui/footage/{footage.footage_id}"
    assert 'class="save-text' not in httpx.get(url, headers=_auth(footage.a_viewer)).text
    editor = make_token(footage.ingest, "editor", WARD_A)
    assert 'class="save-text' in httpx.get(url, headers=_auth(editor)).text, "an editor saves the failed post's text"
    text = {"title": "Hội thi tiếng hát — bản đã sửa", "description": "Mô tả mới", "hashtags": ["#PhườngA"]}
    save = f"{footage.ingest.url}/posts/{footage.footage_id}/a-tiktok/text"
    assert httpx.post(save, json={"text": text}, headers=_auth(footage.a_viewer)).status_code == 403
    saved = httpx.post(save, json={"text": text}, headers=_auth(editor))
    assert saved.status_code == 201, saved.text
    html = httpx.get(url, headers=_auth(editor)).text
    assert ">Hội thi tiếng hát — bản đã sửa</textarea>" in html and 'data-drafted="true"' in html
    assert 'data-role="drafted"' in html
    assert 'name="frame"' not in html, "no candidate stills made: nothing to pick"

    # With transcode's candidate stills in storage, the editor picks frame 1 for the post (saved with its text).
    storage = LocalStorage(footage.ingest.storage_root)
    for kind in ("thumbnail-1", "cover-1"):
        storage.put_stream(layout.image_key(footage.footage_id, kind), [b"\xff\xd8\xff\xe0" + kind.encode()])
    still = httpx.get(f"{footage.ingest.url}/footage/{footage.footage_id}/stills/thumbnail-1", headers=_auth(editor))
    assert still.status_code == 200 and still.content.endswith(b"thumbnail-1")
    assert 'name="frame" value="1" ' in httpx.get(url, headers=_auth(editor)).text
    picked = httpx.post(save, json={"text": text, "frame": 1}, headers=_auth(editor))
    assert picked.status_code == 201, picked.text
    assert 'name="frame" value="1" checked' in httpx.get(url, headers=_auth(editor)).text
