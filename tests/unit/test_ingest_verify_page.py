"""The public verification page's house rules, without a browser: no sign-in, a rate limit per client, a size limit
(declared or counted), links only to public addresses, nothing left of an upload after the check, and each refusal
said in the reader's language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from loa_core.netsafe import Policy
from loa_ingest.access import RateLimiter
from loa_ingest.verify_page import FORM_OVERHEAD, VerifyPage, verify_page_router
from tests.support.asgi_server import serve_in_thread

CLOSED = "http://127.0.0.1:9"  # nothing listens: metrics "away"
EXAMPLES = Path(__file__).resolve().parents[2] / "libs/loa_core/loa_core/contracts/examples"


def client(tmp_path: Path, *, burst: int = 50, max_bytes: int = 1000, metrics_url: str = CLOSED) -> TestClient:
    page = VerifyPage(
        metrics_url=metrics_url,
        trust=lambda: None,
        limiter=RateLimiter(0.001, burst),
        scratch=tmp_path / "verify",
        max_bytes=max_bytes,
        fetch_policy=Policy(("*",), private_setting="LOA_VERIFY_ALLOWED_PRIVATE"),
        fetch_timeout_s=5.0,
    )
    app = FastAPI()
    app.include_router(verify_page_router(page))
    return TestClient(app)


def test_the_page_is_open_to_anyone_in_both_languages(tmp_path: Path) -> None:
    c = client(tmp_path)
    vi, en = c.get("/verify"), c.get("/verify?lang=en")
    assert vi.status_code == en.status_code == 200
    assert "Kiểm tra video" in vi.text and "Check a video" in en.text
    assert 'enctype="multipart/form-data"' in vi.text
    assert c.get("/verify/trust").json() == {"roots_pem": [], "revoked": []}


def test_refusals_are_said_and_nothing_is_kept(tmp_path: Path) -> None:
    c = client(tmp_path)
    nothing = c.post("/verify?lang=en", data={"hash": ""})
    assert nothing.status_code == 400 and "Choose a file, paste a link or a hash." in nothing.text
    bad_hash = c.post("/verify?lang=vi", data={"hash": "abc"})
    assert bad_hash.status_code == 400 and "Mã băm phải gồm 64 ký tự" in bad_hash.text
    # Larger than the limit once counted (the declared length alone let it through).
    big = c.post("/verify?lang=en", files={"file": ("../../etc/passwd", b"x" * 2000, "video/mp4")})
    assert big.status_code == 413 and "too large" in big.text
    # Larger than the limit as declared: refused before the body is read.
    declared = c.post(
        "/verify?lang=en",
        content=b"x" * (1000 + FORM_OVERHEAD + 1),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert declared.status_code == 413
    # A link into the server's own network is not fetched.
    loopback = c.post("/verify?lang=en", data={"url": "http://127.0.0.1:9/clip.mp4"})
    assert loopback.status_code == 400 and "public server only" in loopback.text
    not_http = c.post("/verify?lang=en", data={"url": "file:///etc/passwd"})
    assert not_http.status_code == 400
    not_video = c.post("/verify?lang=en", files={"file": ("clip.mp4", b"not a video" * 10, "video/mp4")})
    assert not_video.status_code == 422 and "not a video" in not_video.text
    away = c.post("/verify?lang=en", data={"hash": "a" * 64})
    assert away.status_code == 502 and "not answering" in away.text
    # The sender's file name never became a path, and every upload's folder is gone.
    assert list((tmp_path / "verify").iterdir()) == []
    assert not (tmp_path / "etc").exists()


def test_each_client_is_rate_limited(tmp_path: Path) -> None:
    c = client(tmp_path, burst=2)
    for _ in range(2):
        assert c.post("/verify", data={"hash": "abc"}).status_code == 400
    limited = c.post("/verify?lang=en", data={"hash": "abc"})
    assert limited.status_code == 429 and "Too many checks" in limited.text
    assert int(limited.headers["Retry-After"]) >= 1


def _footage_page(view: object, lang: str) -> str:
    from starlette.requests import Request

    from loa_ingest.footage_page import STRINGS
    from loa_ingest.pages import render

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/ui/footage/x",
        "query_string": f"lang={lang}".encode(),
        "headers": [(b"host", b"loa.test")],
        "scheme": "http",
        "server": ("loa.test", 80),
    }
    context = {"view": view, "rows": [], "limits": {}, "actions": {}, "stills": [], "frames": [], "focus": None,
               "approver": False, "editor": False, "lang_code": lang}  # fmt: skip
    return bytes(render(Request(scope), "footage.html", STRINGS, context, csrf_token="c").body).decode()


def test_the_footage_page_shows_the_seal_of_a_fingerprinted_cut() -> None:
    import json
    from importlib import resources

    from loa_core.contracts import FootageView

    examples = resources.files("loa_core.contracts") / "examples"
    raw = next(
        v
        for v in json.loads((examples / "footage.view.v1.json").read_text("utf-8"))
        if v["stages"]["transcoded"]["renditions"]
    )
    view = FootageView.model_validate(raw)
    first, *rest = view.stages.transcoded.renditions
    sealed = first.model_copy(update={"fingerprinted": True})
    transcoded = view.stages.transcoded.model_copy(update={"renditions": (sealed, *rest)})
    view = view.model_copy(update={"stages": view.stages.model_copy(update={"transcoded": transcoded})})
    vi, en = _footage_page(view, "vi"), _footage_page(view, "en")
    assert f'id="seal-{first.profile}"' in vi and "Đã niêm phong" in vi and 'href="/verify"' in vi
    assert "Sealed: a copy of this cut can be checked as the ward" in en
    assert all(f'id="seal-{r.profile}"' not in vi for r in rest), "a cut without a fingerprint shows no seal"


def test_metrics_answers_of_a_newer_release_are_read(tmp_path: Path) -> None:
    # A rolling upgrade: metrics already answers with a field this ingest does not know. The answer is still read
    # (before, the page said metrics was away).
    metrics = FastAPI()
    posts = json.loads((EXAMPLES / "verification.posts.v1.json").read_text())[0]
    answer = json.loads((EXAMPLES / "verification.answer.v1.json").read_text())[0]

    @metrics.get("/verify/posts")
    def listed() -> dict[str, Any]:
        return posts | {"later": 1}

    @metrics.post("/verify")
    def verified() -> dict[str, Any]:
        return answer | {"later": 1}

    with serve_in_thread(metrics) as url, client(tmp_path, metrics_url=url) as c:
        assert c.get("/verify/posts?lang=en").status_code == 200
        assert c.post("/verify?lang=en", data={"hash": "a" * 64}).status_code == 200
