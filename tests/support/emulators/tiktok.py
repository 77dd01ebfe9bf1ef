"""TikTok Content Posting API (creator_info, direct and inbox init, FILE_UPLOAD chunks, status) + OAuth, strictly.

Checked: bearer token on API calls (401 access_token_invalid otherwise); privacy_level among the creator's
options; source_info chunk rules (`chunk_rule_violation`: 5–64 MB chunks, count = floor(size/chunk), last
≤ 128 MB, a file under 5 MB whole, one over 64 MB in several chunks, 1–1000 chunks); chunk PUTs in order with
`Content-Range: bytes a-b/total` on the chunk boundaries, Content-Length = b-a+1 and Content-Type video/mp4; the
upload_url's one-hour life on the emulator's clock (`advance`; `expire_url` ends it early). A chunk may be sent
again (a retry): it replaces the copy held. status/fetch answers for every publish_id issued, its URL expired or
not: PROCESSING_UPLOAD with uploaded_bytes until every chunk is in (the video then exists, asked about or not),
then `processing_polls` fetches of PROCESSING_DOWNLOAD before the final state; `fail` makes a publish FAILED
with a fail_reason.

OAuth v2 authorization code (developers.tiktok.com/doc/login-kit-web, /doc/oauth-user-access-token-management):
`/v2/auth/authorize/` wants client_key, a registered redirect_uri, response_type=code and scopes (comma-separated),
and takes code_challenge with code_challenge_method=S256 (TikTok documents PKCE for desktop and mobile apps; Loa
always sends it); the consent page redirects with code, scopes and state, or error=access_denied with
error_description and state. The token endpoint's authorization_code grant wants client_key, client_secret, code,
redirect_uri and the code_verifier: a spent, expired or unknown code is invalid_grant, a wrong verifier
invalid_request "Code verifier or code challenge is invalid." (the wording a developer reported, 2nd-hand). The
newest refresh token granted is the one the refresh grant accepts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.emulators import Emulator, Stored, receive_body
from tests.support.emulators.oauth import Consent, Refusal

MB = 1024 * 1024
UPLOAD_URL_LIFETIME_S = 3600.0  # [docs]
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@dataclass
class Publish:
    id: str
    mode: str
    size: int
    chunk_size: int
    count: int
    post_info: dict[str, Any]
    path: Path
    received: int = 0  # bytes of whole chunks held, in order
    url_expires_at: float = 0.0  # the emulator's clock
    url_expired: bool = False
    polls_left: int = 0
    status: str = "PROCESSING_UPLOAD"
    fail_reason: str = ""
    video: Stored | None = None


def _api(data: dict[str, Any] | None = None, code: str = "ok", message: str = "", status: int = 200) -> web.Response:
    return web.json_response(
        {"data": data or {}, "error": {"code": code, "message": message, "log_id": "emu"}}, status=status
    )


def chunk_rule_violation(size: int, chunk: int, count: int) -> str | None:
    """TikTok's FILE_UPLOAD rules, as its media transfer guide states them; None when the plan obeys them all."""
    if not 1 <= count <= 1000:
        return "total_chunk_count must be 1–1000"
    if size < 5 * MB:
        if chunk != size or count != 1:
            return "a video under 5 MB is uploaded whole: chunk_size = video_size, one chunk"
        return None
    if not 5 * MB <= chunk <= 64 * MB:
        return "chunk_size must be between 5 MB and 64 MB"
    if count != size // chunk:
        return f"total_chunk_count must be floor(video_size / chunk_size) = {size // chunk}"
    if size > 64 * MB and count < 2:
        return "a video over 64 MB must be uploaded in several chunks"
    if size - (count - 1) * chunk > 128 * MB:
        return "the last chunk may not exceed 128 MB"
    return None


class TikTokEmulator(Emulator):
    def __init__(self, root: Path, *, refresh_token: str = "rft-1", rotate: bool = True) -> None:
        super().__init__(root)
        self.client_key = "ck"
        self.client_secret = "cs"
        self.refresh_token = refresh_token
        self.rotate = rotate
        self.consent = Consent(self, "TikTok")
        self.publishes: dict[str, Publish] = {}
        self.videos: dict[str, Stored] = {}
        self.creator: dict[str, Any] = {
            "creator_username": "phuongbennghe",
            "creator_nickname": "Phường Bến Nghé",
            "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
            "comment_disabled": False,
            "duet_disabled": True,
            "stitch_disabled": False,
            "max_video_post_duration_sec": 600,
        }
        self.processing_polls = 2
        # init is limited per user [docs: ≈ 6 requests per minute]: a sliding window, answered with 429
        # rate_limit_exceeded and a Retry-After saying when the oldest request leaves the window.
        self.init_limit = 6
        self.init_window_s = 60.0
        self._init_times: list[float] = []
        self.public_ids = False  # audited app posting publicly: a public post id appears at the end

    def fail(self, publish_id: str, reason: str) -> None:
        """TikTok gave up on this publish (its status turns FAILED)."""
        self.publishes[publish_id].status, self.publishes[publish_id].fail_reason = "FAILED", reason

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/oauth/token/", self._token)
        app.router.add_get("/v2/auth/authorize/", self._authorize)
        self.consent.routes(app)
        app.router.add_post("/v2/post/publish/creator_info/query/", self._creator_info)
        app.router.add_post("/v2/post/publish/video/init/", self._init_direct)
        app.router.add_post("/v2/post/publish/inbox/video/init/", self._init_inbox)
        app.router.add_post("/v2/post/publish/status/fetch/", self._status)
        app.router.add_put("/upload/{publish_id}", self._chunk)

    async def _authorize(self, request: web.Request) -> web.Response:
        self.log("authorize")
        query = request.query
        if query.get("client_key") != self.client_key:
            return self.consent.error_page("client_key is invalid")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.consent.redirect_uris:
            return self.consent.error_page("redirect_uri is not registered for this app")
        if query.get("response_type") != "code" or not query.get("scope"):
            return self.consent.error_page("response_type=code and scope are required")
        challenge = query.get("code_challenge")
        if challenge is not None and query.get("code_challenge_method") != "S256":
            return self.consent.error_page("code_challenge_method must be S256")
        grant = self.consent.grant(self.client_key, redirect_uri, query["scope"], challenge)
        return self.consent.page(
            grant,
            query.get("state"),
            app_name="Loa",
            denied_extra={"error_description": "The user denied the authorization."},
            allowed_extra={"scopes": query["scope"]},
        )

    def _code_grant(self, form: Any) -> web.Response:
        redeemed = self.consent.redeem(
            str(form.get("code", "")),
            client=self.client_key,
            redirect_uri=str(form.get("redirect_uri", "")),
            verifier=str(form["code_verifier"]) if form.get("code_verifier") else None,
        )
        if redeemed in (Refusal.MISSING_VERIFIER, Refusal.WRONG_VERIFIER):
            error = {"error": "invalid_request", "error_description": "Code verifier or code challenge is invalid."}
            return web.json_response({**error, "log_id": "emu"})
        if redeemed is Refusal.REDIRECT_MISMATCH:
            error = {"error": "invalid_request", "error_description": "Redirect URI mismatch."}
            return web.json_response({**error, "log_id": "emu"})
        if isinstance(redeemed, Refusal):
            error = {"error": "invalid_grant", "error_description": "Authorization code is expired."}
            return web.json_response({**error, "log_id": "emu"})
        self.refresh_token = f"rft-{self.new_id('code')}"
        return self._tokens(redeemed.scope)

    def _tokens(self, scope: str) -> web.Response:
        return web.json_response(
            {
                "access_token": self.mint_token(),
                "expires_in": 86400,
                "refresh_token": self.refresh_token,
                "refresh_expires_in": 31536000,
                "open_id": "emu-open-id",
                "scope": scope,
                "token_type": "Bearer",
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        self.log("token")
        form = await request.post()
        if form.get("client_key") != self.client_key or form.get("client_secret") != self.client_secret:
            return web.json_response({"error": "invalid_client", "error_description": "client_key or secret wrong"})
        if form.get("grant_type") == "authorization_code":
            self.log("code_exchange")
            return self._code_grant(form)
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return web.json_response({"error": "invalid_grant", "error_description": "Refresh token is invalid."})
        self.refresh_calls += 1
        if self.rotate:
            self.refresh_token = f"rft-{self.refresh_calls + 1}"
        return self._tokens("video.publish,video.upload")

    def _check(self, request: web.Request, on: str) -> web.Response | None:
        fault = self.take_fault(on)
        if fault and fault.kind == "expire_token":
            self.revoke_tokens()
        elif fault and fault.kind == "status":
            code = "rate_limit_exceeded" if fault.status == 429 else "internal_error"
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            response = _api(code=code, message="emulated fault", status=fault.status)
            if headers:
                response.headers.update(headers)
            return response
        elif fault and fault.kind == "quota":
            return _api(code="spam_risk_too_many_posts", message="The daily post cap is reached", status=403)
        header = request.headers.get("Authorization", "")
        if header.removeprefix("Bearer ") not in self.valid_tokens:
            return _api(code="access_token_invalid", message="The access token is invalid or not found", status=401)
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return _api(code="invalid_params", message="Content-Type must be application/json", status=400)
        return None

    async def _creator_info(self, request: web.Request) -> web.Response:
        self.log("creator_info")
        return self._check(request, "creator_info") or _api(self.creator)

    def _source(self, body: dict[str, Any]) -> tuple[int, int, int] | str:
        source = body.get("source_info") or {}
        if source.get("source") != "FILE_UPLOAD":
            return "source must be FILE_UPLOAD"
        size, chunk, count = source.get("video_size"), source.get("chunk_size"), source.get("total_chunk_count")
        if not all(isinstance(v, int) and v > 0 for v in (size, chunk, count)):
            return "video_size, chunk_size and total_chunk_count are required"
        assert isinstance(size, int) and isinstance(chunk, int) and isinstance(count, int)
        return chunk_rule_violation(size, chunk, count) or (size, chunk, count)

    async def _init(self, request: web.Request, mode: str) -> web.Response:
        self.log("init", mode)
        denied = self._check(request, "init")
        if denied:
            return denied
        now = self.now()
        self._init_times = [t for t in self._init_times if now - t < self.init_window_s]
        if len(self._init_times) >= self.init_limit:
            wait = self.init_window_s - (now - self._init_times[0])
            response = _api(code="rate_limit_exceeded", message="Too many requests", status=429)
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            self.log("rate_limited", mode)
            return response
        self._init_times.append(now)
        body = await request.json()
        post_info = body.get("post_info") or {}
        if mode == "direct":
            if post_info.get("privacy_level") not in self.creator["privacy_level_options"]:
                return _api(
                    code="invalid_params", message="privacy_level is not among the creator's options", status=400
                )
            title = post_info.get("title", "")
            if len(title.encode("utf-16-le")) // 2 > 2200:
                return _api(code="invalid_params", message="title is longer than 2200 runes", status=400)
            cover_ms = post_info.get("video_cover_timestamp_ms", 0)
            if not isinstance(cover_ms, int) or isinstance(cover_ms, bool) or cover_ms < 0:
                return _api(code="invalid_params", message="video_cover_timestamp_ms must be an int32 >= 0", status=400)
        elif post_info:
            return _api(code="invalid_params", message="inbox upload takes source_info only", status=400)
        plan = self._source(body)
        if isinstance(plan, str):
            return _api(code="invalid_params", message=plan, status=400)
        size, chunk, count = plan
        publish_id = self.new_id("v_pub_file~")
        self.publishes[publish_id] = Publish(
            publish_id,
            mode,
            size,
            chunk,
            count,
            post_info,
            self.root / f"{publish_id}.part",
            url_expires_at=now + UPLOAD_URL_LIFETIME_S,
            polls_left=self.processing_polls,
        )
        return _api({"publish_id": publish_id, "upload_url": f"{self.base_url}/upload/{publish_id}"})

    async def _init_direct(self, request: web.Request) -> web.Response:
        return await self._init(request, "direct")

    async def _init_inbox(self, request: web.Request) -> web.Response:
        return await self._init(request, "inbox")

    async def _chunk(self, request: web.Request) -> web.Response:
        publish = self.publishes.get(request.match_info["publish_id"])
        content_range = request.headers.get("Content-Range", "")
        self.log("chunk", content_range)
        fault = self.take_fault("chunk")
        if publish and ((fault and fault.kind == "expire_url") or self.now() >= publish.url_expires_at):
            publish.url_expired = True
        if publish is None or publish.url_expired:
            return _api(code="invalid_params", message="upload_url expired or unknown", status=404)
        match = _RANGE.match(content_range)
        if not match:
            return _api(code="invalid_params", message=f"bad Content-Range {content_range!r}", status=400)
        first, last, total = (int(g) for g in match.groups())
        if total != publish.size:
            return _api(code="invalid_params", message="Content-Range total differs from video_size", status=400)
        index, rem = divmod(first, publish.chunk_size)
        expected_last = publish.size - 1 if index == publish.count - 1 else first + publish.chunk_size - 1
        if rem or index >= publish.count or last != expected_last:
            return _api(code="invalid_params", message="chunk does not match the declared chunk layout", status=400)
        if first > publish.received:
            return _api(code="invalid_params", message="chunks must be sent in order", status=400)
        if request.content_length != last - first + 1 or request.headers.get("Content-Type") != "video/mp4":
            return _api(code="invalid_params", message="Content-Length/Content-Type mismatch", status=400)
        if fault and fault.kind == "status":
            await request.read()
            return _api(code="internal_error", message="emulated fault", status=fault.status)
        if fault and fault.kind == "drop":
            await receive_body(request, publish.path, first, last - first + 1, drop_after=fault.after_bytes)
            return web.Response(status=500)
        got = await receive_body(request, publish.path, first, last - first + 1)
        if got != last - first + 1:
            return _api(code="invalid_params", message="short chunk", status=400)
        publish.received = max(publish.received, last + 1)
        if publish.received < publish.size:
            return web.Response(status=206)
        # TikTok has the whole file: it will become a post whether or not anyone asks about it again.
        publish.status = "PROCESSING_DOWNLOAD"
        video_id = self.new_id("73")
        final = self.root / f"{video_id}.mp4"
        publish.path.rename(final)
        publish.video = Stored(video_id, final, publish.size, meta={"post_info": publish.post_info})
        self.videos[video_id] = publish.video
        return web.Response(status=201)

    async def _status(self, request: web.Request) -> web.Response:
        self.log("status")
        denied = self._check(request, "status")
        if denied:
            return denied
        publish = self.publishes.get((await request.json()).get("publish_id", ""))
        if publish is None:
            return _api(code="invalid_publish_id", message="publish_id not found", status=400)
        data: dict[str, Any] = {"status": publish.status, "uploaded_bytes": publish.received}
        if publish.status == "FAILED":
            data["fail_reason"] = publish.fail_reason
        if publish.status == "PROCESSING_DOWNLOAD":
            if publish.polls_left > 0:
                publish.polls_left -= 1
            else:
                publish.status = "SEND_TO_USER_INBOX" if publish.mode == "inbox" else "PUBLISH_COMPLETE"
            data["status"] = publish.status
        if publish.status == "PUBLISH_COMPLETE" and self.public_ids and publish.video:
            data["publicaly_available_post_id"] = [int(publish.video.id)]
        return _api(data)
