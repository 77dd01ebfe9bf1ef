"""The public verification page, /verify: anyone, without signing in, drops a video file, pastes a link to one, or
pastes a hash, and reads whether it is the ward's: signed and unchanged, a match with a post (where in it, with the
post's links), or no match; a manifest present but invalid is said so, never authentic (loa_core.verification).

House rules for a page open to everyone:
- each client (its address) gets `verify_rate_per_s` checks on average, `verify_rate_burst` at once (then 429);
- a file is at most `verify_max_bytes`, uploaded or linked (413); the body is refused before it is read when its
  declared length is already too large;
- an upload goes to a folder of its own under the data directory, under a name of ours (the sender's file name
  never reaches a path), and the folder is deleted when the check is done, whatever happened;
- a link is fetched with loa_core.netsafe: http(s) only, public addresses only (unless named in
  `verify_allowed_private`), every redirect checked, within the size cap and `verify_fetch_timeout_s`.
Metrics, which keeps every published cut, answers the check over its internal POST /verify.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.datastructures import UploadFile

from loa_core import provenance
from loa_core.contracts import WardId
from loa_core.contracts.verification import PublicPosts, Verification
from loa_core.netsafe import FetchError, Policy, RefusedUrl, SafeFetcher
from loa_core.verification import (
    Inspection,
    NotAVideo,
    explain,
    inspect_file,
    inspect_hash,
    is_sha256,
    vietnam_day,
)
from loa_ingest.access import RateLimiter, retry_after_header
from loa_ingest.pages import Strings, render

# Room for the form's other fields and the multipart framing around a file of the largest size.
FORM_OVERHEAD = 64 * 1024
COPY_CHUNK = 1024 * 1024

STRINGS: Strings = {
    "verify_title": ("Kiểm tra video", "Check a video"),
    "verify_intro": (
        "Video này có thật do phường đăng không? Thả tệp video vào đây, dán đường dẫn tới tệp, hoặc dán mã băm "
        "SHA-256. Không cần đăng nhập; tệp được xóa ngay sau khi kiểm tra.",
        "Is this video really the ward's? Drop the video file here, paste a link to the file, or paste its SHA-256 "
        "hash. No sign-in; the file is deleted as soon as it is checked.",
    ),
    "file": ("Tệp video", "Video file"),
    "drop": ("Chọn hoặc thả tệp video vào đây", "Choose or drop a video file here"),
    "url": ("Đường dẫn tới tệp video", "Link to the video file"),
    "hash": ("Mã băm SHA-256", "SHA-256 hash"),
    "check": ("Kiểm tra", "Check"),
    "max_size": ("Tối đa", "At most"),
    "links": ("Các bài đăng", "The posts"),
    "answer_signed": ("Xác thực", "Authentic"),
    "answer_matches": ("Khớp", "Matches"),
    "answer_no_match": ("Không khớp", "No match"),
    "answer_invalid": ("Không xác thực", "Not authentic"),
    "err_nothing": ("Hãy chọn một tệp, dán một đường dẫn hoặc một mã băm.", "Choose a file, paste a link or a hash."),
    "err_hash": ("Mã băm phải gồm 64 ký tự 0-9, a-f.", "A hash is 64 characters 0-9, a-f."),
    "err_too_large": ("Tệp quá lớn để kiểm tra tại đây.", "The file is too large to check here."),
    "err_too_many": ("Bạn kiểm tra quá nhanh; hãy thử lại sau ít phút.", "Too many checks; try again in a minute."),
    "err_not_video": ("Tệp này không phải video đọc được.", "This file is not a video that can be read."),
    "err_url": (
        "Không tải được đường dẫn này (chỉ http/https tới máy chủ công khai).",
        "The link could not be fetched (http/https to a public server only).",
    ),
    "err_away": (
        "Dịch vụ kiểm tra đang không trả lời; hãy thử lại sau.",
        "The checking service is not answering; try again shortly.",
    ),
    "taken_down": ("đã gỡ", "taken down"),
    "posts_title": ("Bài đăng của phường", "The ward's posts"),
    "posts_intro": (
        "Các bài phường đã đăng, mới nhất trước. Bài có dấu niêm phong: bản sao của nó kiểm tra được tại trang Kiểm "
        "tra video.",
        "What the ward published, newest first. A sealed post: a copy of it can be checked on the Check a video page.",
    ),
    "sealed": ("Đã niêm phong", "Sealed"),
    "no_posts": ("Chưa có bài đăng nào.", "No posts yet."),
    "posts_link": ("Bài đăng của phường", "The ward's posts"),
}


@dataclass(frozen=True)
class VerifyPage:
    """What the page needs, built by ingest's bootstrap."""

    metrics_url: str
    # The installation's trust list (None: no key was made yet, so no manifest can be trusted).
    trust: Callable[[], provenance.Trust | None]
    limiter: RateLimiter
    scratch: Path
    max_bytes: int
    fetch_policy: Policy
    fetch_timeout_s: float = 60.0


class _Refused(Exception):
    def __init__(self, key: str, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.status_code = status_code
        self.headers = headers or {}


async def _save(upload: UploadFile, target: Path, max_bytes: int) -> None:
    size = 0
    with target.open("wb") as out:
        while chunk := await upload.read(COPY_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise _Refused("err_too_large", 413)
            await asyncio.to_thread(out.write, chunk)


def verify_page_router(page: VerifyPage) -> APIRouter:
    router = APIRouter()
    http = httpx.AsyncClient(timeout=60.0)

    def show(request: Request, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
        values = {"max_mib": page.max_bytes // 1024**2, **context}
        return render(request, "verify.html", STRINGS, values, status_code=status_code)

    @router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_form(request: Request) -> HTMLResponse:
        return show(request, {})

    @router.get("/verify/posts", response_class=HTMLResponse, include_in_schema=False)
    async def public_posts(request: Request, ward: Annotated[WardId | None, Query()] = None) -> HTMLResponse:
        params = {"limit": 50} | ({"ward": ward} if ward else {})
        try:
            response = await http.get(f"{page.metrics_url}/verify/posts", params=params)
            response.raise_for_status()
            listed = PublicPosts.read_json(response.content)
        except (httpx.HTTPError, ValueError):
            return render(request, "public_posts.html", STRINGS, {"posts": [], "error": "err_away"}, status_code=502)
        posts = [(p, vietnam_day(p.published_at)) for p in listed.items]
        return render(request, "public_posts.html", STRINGS, {"posts": posts, "ward": ward})

    @router.get("/verify/trust", summary="The roots a Loa manifest must chain to and the revoked serials (public)")
    async def trust_list() -> JSONResponse:
        trust = await asyncio.to_thread(page.trust)
        roots, revoked = (trust.roots_pem, sorted(trust.revoked)) if trust else ((), [])
        return JSONResponse({"roots_pem": list(roots), "revoked": revoked})

    async def inspect(request: Request, folder: Path) -> Inspection:
        form = await request.form(max_files=1, max_fields=4)
        try:
            upload, url, text = form.get("file"), str(form.get("url") or "").strip(), str(form.get("hash") or "")
            target = folder / "clip"  # our name: the sender's file name is never used
            if isinstance(upload, UploadFile) and upload.filename:
                await _save(upload, target, page.max_bytes)
            elif url:
                fetcher = SafeFetcher(page.fetch_policy, timeout_s=page.fetch_timeout_s, user_agent="loa-verify")
                try:
                    await asyncio.wait_for(fetcher.download(url, target, page.max_bytes), page.fetch_timeout_s)
                except RefusedUrl as exc:
                    too_large = "larger than" in str(exc)
                    raise _Refused("err_too_large" if too_large else "err_url", 413 if too_large else 400) from exc
                except (FetchError, OSError, TimeoutError) as exc:
                    raise _Refused("err_url", 400) from exc
                finally:
                    await fetcher.aclose()
            elif text.strip():
                if not is_sha256(text):
                    raise _Refused("err_hash", 400)
                return inspect_hash(text, "page")
            else:
                raise _Refused("err_nothing", 400)
        finally:
            await form.close()
        try:
            return await inspect_file(target, await asyncio.to_thread(page.trust), "page")
        except NotAVideo as exc:
            raise _Refused("err_not_video", 422) from exc

    @router.post("/verify", response_class=HTMLResponse, include_in_schema=False)
    async def verify_check(request: Request) -> HTMLResponse:
        try:
            client = request.client.host if request.client else "unknown"
            wait = page.limiter.take(f"verify:{client}")
            if wait:
                raise _Refused("err_too_many", 429, {"Retry-After": retry_after_header(wait)})
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > page.max_bytes + FORM_OVERHEAD:
                raise _Refused("err_too_large", 413)
            page.scratch.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="verify-", dir=page.scratch))
            try:
                inspection = await inspect(request, folder)
            finally:
                await asyncio.to_thread(shutil.rmtree, folder, True)  # the upload is discarded after the check
            try:
                response = await http.post(
                    f"{page.metrics_url}/verify", json=inspection.request.model_dump(mode="json")
                )
                response.raise_for_status()
                answer = Verification.read_json(response.content)
            except (httpx.HTTPError, ValueError) as exc:
                raise _Refused("err_away", 502) from exc
        except _Refused as refused:
            page_ = show(request, {"error": refused.key}, refused.status_code)
            page_.headers.update(refused.headers)
            return page_
        return show(request, {"said": explain(answer, inspection.manifest)})

    return router
