"""YouTube Data API v3 resumable upload + Google's OAuth token endpoint, strictly.

Checked on every request: the bearer token; on start: uploadType=resumable, part, X-Upload-Content-Length,
X-Upload-Content-Type video/*, title 1–100 chars without '<' '>', description ≤ 5000 bytes, publishAt only with
privacyStatus private; on chunks: Content-Range `bytes a-b/total` with `a` = what the session holds, total = the
announced length, Content-Length = b-a+1, a multiple of 256 KiB unless it is the last chunk; status queries
`bytes */total` answer 308 (+Range) or the finished video. A dropped connection keeps what arrived, rounded down
to 256 KiB, as Google's servers may.

After publishing [docs: developers.google.com/youtube/v3/docs/videos/update, …/videos/delete]: `PUT
/youtube/v3/videos?part=snippet|status` with the video resource (its id; part snippet needs a valid title and a
categoryId, and replaces every mutable snippet field: tags not sent are gone; part status replaces the status) answers
the video; `DELETE /youtube/v3/videos?id=` answers 204. An unknown or deleted id is 404 videoNotFound. Each costs 50
quota units (`units_spent`); `units_remaining` (None: unlimited) below 50 is 403 quotaExceeded. Faults on "update"
and "delete": status, quota, expire_token.

thumbnails.set [docs: developers.google.com/youtube/v3/docs/thumbnails/set]: `POST
/upload/youtube/v3/thumbnails/set?videoId=` with the image as the body (Content-Type image/jpeg, image/png or
application/octet-stream; at most 2 MB; no body: 400 mediaBodyRequired; not a JPEG or PNG: 400 invalidImage; an
unknown or deleted video: 404 videoNotFound), 50 quota units; answers youtube#thumbnailSetResponse and keeps the
image (`thumbnails`). Faults on "thumbnail".

Comments: one store of the channel's threads and replies (`comments`, tests.support.emulators.youtube_comments:
comments.insert, comments.list, setModerationStatus and commentThreads.list, shared with the statistics emulator
when a test runs both). `GET /youtube/v3/channels?part=id&mine=true` names the channel, 1 unit. Units are counted
in `units_by_call`.

Google's OAuth authorization-code grant (developers.google.com/identity/protocols/oauth2/web-server): the authorize
endpoint `/o/oauth2/v2/auth` wants client_id, a registered redirect_uri, response_type=code and a scope, and takes
a PKCE challenge (S256 here) and access_type/prompt; its consent page redirects with code+state or
error=access_denied+state (tests.support.emulators.oauth). The token endpoint's authorization_code grant checks the
client, the code (single use, short-lived), the redirect_uri and the verifier (`invalid_grant` otherwise) and gives
a refresh token only to access_type=offline with prompt=consent. The newest refresh token granted replaces the one
the refresh grant accepts (`refresh_token`).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.emulators import Emulator, Fault, Stored, receive_body
from tests.support.emulators.oauth import Consent, Refusal
from tests.support.emulators.youtube_comments import QUOTA_EXCEEDED, YouTubeComments, yt_error

ALIGN = 256 * 1024
UPLOAD_SCOPE = "https://www.googleapis.com/auth/youtube.upload"
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_QUERY = re.compile(r"^bytes \*/(\d+)$")


@dataclass
class Session:
    id: str
    size: int
    meta: dict[str, Any]
    path: Path
    persisted: int = 0
    video: Stored | None = None
    expired: bool = False
    chunks: list[tuple[int, int]] = field(default_factory=list)


class YouTubeEmulator(Emulator):
    def __init__(
        self, root: Path, *, client_id: str = "cid", client_secret: str = "csecret", refresh_token: str = "rt-1"
    ) -> None:
        super().__init__(root)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.consent = Consent(self, "Google")
        self.sessions: dict[str, Session] = {}
        self.videos: dict[str, Stored] = {}
        self.quota_remaining: int | None = None  # None = unlimited
        # Quota units of the calls after publishing (videos.update and videos.delete cost 50 each [docs]).
        self.units_spent = 0
        self.units_remaining: int | None = None  # None = unlimited
        self.deleted: set[str] = set()
        self.thumbnails: dict[str, bytes] = {}  # video id -> the custom thumbnail set
        self.comments = YouTubeComments("UCemuWardChannel0000000")
        self.units_by_call: dict[str, int] = {}
        # Crash tests: once a session holds this many bytes, the next chunk waits (before reading its body)
        # until `release()`, so the test can kill the uploader while an upload is certainly in flight.
        self.pause_after_bytes: int | None = None
        self._released = threading.Event()
        self.paused = threading.Event()

    def release(self) -> None:
        self._released.set()

    @property
    def channel_id(self) -> str:
        return self.comments.channel_id

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self._token)
        app.router.add_get("/o/oauth2/v2/auth", self._authorize)
        self.consent.routes(app)
        app.router.add_post("/upload/youtube/v3/videos", self._start)
        app.router.add_put("/upload/youtube/v3/videos", self._put)
        app.router.add_put("/youtube/v3/videos", self._update)
        app.router.add_delete("/youtube/v3/videos", self._delete)
        app.router.add_post("/upload/youtube/v3/thumbnails/set", self._thumbnail)
        app.router.add_put("/plain/{name}", self._plain_put)
        self.comments.routes(app, self)
        app.router.add_get("/youtube/v3/channels", self._channels)

    # --- OAuth

    async def _authorize(self, request: web.Request) -> web.Response:
        self.log("authorize")
        query = request.query
        if query.get("client_id") != self.client_id:
            return self.consent.error_page("Error 401: invalid_client. The OAuth client was not found.")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.consent.redirect_uris:
            return self.consent.error_page("Error 400: redirect_uri_mismatch")
        if query.get("response_type") != "code" or not query.get("scope"):
            return self.consent.error_page("Error 400: invalid_request (response_type=code and a scope are needed)")
        challenge = query.get("code_challenge")
        if challenge is not None and query.get("code_challenge_method") != "S256":
            return self.consent.error_page("Error 400: invalid_request (code_challenge_method must be S256)")
        extra = {"access_type": query.get("access_type", "online"), "prompt": query.get("prompt", "")}
        grant = self.consent.grant(self.client_id, redirect_uri, query["scope"], challenge, **extra)
        return self.consent.page(grant, query.get("state"), app_name="Loa", allowed_extra={"scope": query["scope"]})

    async def _code_grant(self, form: Any) -> web.Response:
        redeemed = self.consent.redeem(
            str(form.get("code", "")),
            client=self.client_id,
            redirect_uri=str(form.get("redirect_uri", "")),
            verifier=str(form["code_verifier"]) if form.get("code_verifier") else None,
        )
        if redeemed is Refusal.REDIRECT_MISMATCH:
            return web.json_response({"error": "redirect_uri_mismatch", "error_description": "Bad Request"}, status=400)
        if isinstance(redeemed, Refusal):
            description = {
                Refusal.MISSING_VERIFIER: "Missing code verifier.",
                Refusal.WRONG_VERIFIER: "Invalid code verifier.",
            }.get(redeemed, "Bad Request")
            return web.json_response({"error": "invalid_grant", "error_description": description}, status=400)
        body: dict[str, Any] = {
            "access_token": self.mint_token(),
            "expires_in": 3599,
            "scope": redeemed.scope,
            "token_type": "Bearer",
        }
        if redeemed.extra["access_type"] == "offline" and "consent" in redeemed.extra["prompt"].split():
            self.refresh_token = f"1//emu-{self.new_id('rt')}"
            body["refresh_token"] = self.refresh_token
        return web.json_response(body)

    async def _token(self, request: web.Request) -> web.Response:
        self.log("token")
        form = await request.post()
        fault = self.take_fault("token")
        if fault and fault.kind == "status":
            return yt_error(fault.status, "backend error")
        if form.get("grant_type") not in ("refresh_token", "authorization_code"):
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") == "authorization_code":
            self.log("code_exchange")
            return await self._code_grant(form)
        if form.get("refresh_token") != self.refresh_token:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Token has been revoked."}, status=400
            )
        self.refresh_calls += 1
        return web.json_response({"access_token": self.mint_token(), "expires_in": 3599, "token_type": "Bearer"})

    def authorized(self, request: web.Request, on: str) -> tuple[web.Response | None, Fault | None]:
        """(a 401 answer or None, the fault injected for this request)."""
        fault = self.take_fault(on)
        if fault and fault.kind == "expire_token":
            self.revoke_tokens()
            fault = None
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header.removeprefix("Bearer ") not in self.valid_tokens:
            return yt_error(401, "Request had invalid authentication credentials.", "authError"), fault
        return None, fault

    # --- resumable upload

    async def _start(self, request: web.Request) -> web.Response:
        self.log("init")
        denied, fault = self.authorized(request, "init")
        if denied:
            return denied
        if fault and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return web.json_response(
                {"error": {"code": fault.status, "message": "Backend Error"}}, status=fault.status, headers=headers
            )
        if request.query.get("uploadType") != "resumable":
            return yt_error(400, "uploadType must be resumable")
        if set(request.query.get("part", "").split(",")) != {"snippet", "status"}:
            return yt_error(400, "part must be snippet,status")
        try:
            size = int(request.headers["X-Upload-Content-Length"])
        except (KeyError, ValueError):
            return yt_error(400, "X-Upload-Content-Length is required")
        if not request.headers.get("X-Upload-Content-Type", "").startswith("video/"):
            return yt_error(400, "X-Upload-Content-Type must be video/*")
        if (fault and fault.kind == "quota") or self.quota_remaining == 0:
            return yt_error(403, QUOTA_EXCEEDED, "quotaExceeded")
        try:
            meta = json.loads(await request.text())
        except ValueError:
            return yt_error(400, "body is not JSON")
        snippet, status = meta.get("snippet", {}), meta.get("status", {})
        title = snippet.get("title", "")
        if not title or len(title) > 100 or "<" in title or ">" in title:
            return yt_error(400, "The request metadata specifies an invalid video title.", "invalidTitle")
        if len(snippet.get("description", "").encode("utf-8")) > 5000 or "<" in snippet.get("description", ""):
            return yt_error(400, "The request metadata specifies an invalid video description.", "invalidDescription")
        if "publishAt" in status and status.get("privacyStatus") != "private":
            return yt_error(400, "publishAt needs privacyStatus private", "invalidPublishAt")
        if self.quota_remaining is not None:
            self.quota_remaining -= 1
        session_id = self.new_id("sess")
        self.sessions[session_id] = Session(session_id, size, meta, self.root / f"{session_id}.part")
        location = f"{self.base_url}/upload/youtube/v3/videos?uploadType=resumable&upload_id={session_id}"
        return web.Response(status=200, headers={"Location": location})

    def _finished(self, session: Session) -> web.Response:
        assert session.video is not None
        video = session.video
        body = {
            "kind": "youtube#video",
            "id": video.id,
            **video.meta,
            "status": {**video.meta.get("status", {}), "uploadStatus": "uploaded"},
        }
        return web.json_response(body, status=200)

    def _incomplete(self, session: Session) -> web.Response:
        headers = {"Range": f"bytes=0-{session.persisted - 1}"} if session.persisted else {}
        return web.Response(status=308, headers=headers)

    async def _put(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.query.get("upload_id", ""))
        content_range = request.headers.get("Content-Range", "")
        kind = "status" if content_range.startswith("bytes */") else "chunk"
        self.log(kind, content_range)
        denied, fault = self.authorized(request, kind)
        if denied:
            return denied
        if fault and fault.kind == "expire_session" and session is not None:
            session.expired = True
        if session is None or session.expired:
            return yt_error(404, "upload session not found", "notFound")
        if fault and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            if kind == "chunk":
                await request.read()  # the body was sent; the server just failed
            return web.json_response(
                {"error": {"code": fault.status, "message": "Backend Error"}}, status=fault.status, headers=headers
            )
        if kind == "status":
            match = _QUERY.match(content_range)
            if not match or int(match.group(1)) != session.size or request.content_length not in (0, None):
                return yt_error(400, f"bad status query Content-Range {content_range!r}")
            return self._finished(session) if session.video else self._incomplete(session)
        match = _RANGE.match(content_range)
        if not match:
            return yt_error(400, f"bad Content-Range {content_range!r}")
        first, last, total = (int(g) for g in match.groups())
        length = last - first + 1
        if total != session.size:
            return yt_error(400, f"Content-Range total {total} differs from X-Upload-Content-Length {session.size}")
        if session.video is not None:
            return yt_error(400, "upload already complete")
        if first != session.persisted:
            return yt_error(400, f"chunk starts at {first} but the session holds {session.persisted} bytes")
        if last >= session.size or length <= 0:
            return yt_error(400, "chunk goes past the end of the file")
        if request.content_length != length:
            return yt_error(400, f"Content-Length {request.content_length} differs from the range length {length}")
        if last != session.size - 1 and length % ALIGN:
            return yt_error(400, f"chunk of {length} bytes is not a multiple of 256 KiB and is not the last")
        if self.pause_after_bytes is not None and first >= self.pause_after_bytes and not self._released.is_set():
            self.paused.set()
            while not self._released.is_set():
                await asyncio.sleep(0.05)
            return web.Response(status=503)  # the uploader that sent this is gone by now
        if fault and fault.kind == "drop":
            got = await receive_body(request, session.path, first, length, drop_after=fault.after_bytes)
            session.persisted = first + (got // ALIGN) * ALIGN
            return web.Response(status=500)
        got = await receive_body(request, session.path, first, length)
        if got != length:
            # The client went away mid-chunk: keep what is whole.
            session.persisted = first + (got // ALIGN) * ALIGN
            return web.Response(status=400)
        session.persisted = last + 1
        session.chunks.append((first, last))
        if session.persisted < session.size:
            return self._incomplete(session)
        video_id = self.new_id("vid")
        final = self.root / f"{video_id}.mp4"
        session.path.rename(final)
        session.video = Stored(video_id, final, session.size, meta=session.meta)
        self.videos[video_id] = session.video
        return self._finished(session)

    # --- after publishing: videos.update and videos.delete

    def spend(self, fault: Fault | None, units: int, call: str) -> web.Response | None:
        """`units` quota units, or the quota error when they are not there (or a fault says so)."""
        if fault and fault.kind == "status":
            return web.json_response({"error": {"code": fault.status, "message": "Backend Error"}}, status=fault.status)
        if (fault and fault.kind == "quota") or (self.units_remaining is not None and self.units_remaining < units):
            return yt_error(403, QUOTA_EXCEEDED, "quotaExceeded")
        self.units_spent += units
        self.units_by_call[call] = self.units_by_call.get(call, 0) + units
        if self.units_remaining is not None:
            self.units_remaining -= units
        return None

    async def _update(self, request: web.Request) -> web.Response:
        self.log("update", request.query.get("part", ""))
        denied, fault = self.authorized(request, "update")
        if denied:
            return denied
        parts = set(request.query.get("part", "").split(","))
        if not parts or not parts <= {"snippet", "status"}:
            return yt_error(400, "part must name snippet and/or status")
        try:
            body = json.loads(await request.text())
        except ValueError:
            return yt_error(400, "body is not JSON")
        video = self.videos.get(str(body.get("id", "")))
        if video is None or video.id in self.deleted:
            return yt_error(404, "The video that you are trying to update cannot be found.", "videoNotFound")
        if any(part not in body for part in parts):
            return yt_error(400, "every part named must be in the body")
        if "snippet" in parts:
            snippet = body["snippet"]
            title = snippet.get("title", "")
            if not title or len(title) > 100 or "<" in title or ">" in title:
                return yt_error(400, "The request metadata specifies an invalid video title.", "invalidTitle")
            description = snippet.get("description", "")
            if len(description.encode("utf-8")) > 5000 or "<" in description:
                return yt_error(400, "The request metadata specifies an invalid description.", "invalidDescription")
            if not snippet.get("categoryId"):
                return yt_error(400, "The request metadata does not specify a video category.", "invalidCategoryId")
        if "status" in parts and "publishAt" in body["status"] and body["status"].get("privacyStatus") != "private":
            return yt_error(400, "publishAt needs privacyStatus private", "invalidPublishAt")
        spent = self.spend(fault, 50, "videos.update")
        if spent:
            return spent
        for part in parts:
            video.meta[part] = dict(body[part])  # every mutable field of the part is replaced
        return web.json_response({"kind": "youtube#video", "id": video.id, **video.meta})

    async def _delete(self, request: web.Request) -> web.Response:
        self.log("delete", request.query.get("id", ""))
        denied, fault = self.authorized(request, "delete")
        if denied:
            return denied
        video = self.videos.get(request.query.get("id", ""))
        if video is None or video.id in self.deleted:
            return yt_error(404, "The video that you are trying to delete cannot be found.", "videoNotFound")
        spent = self.spend(fault, 50, "videos.delete")
        if spent:
            return spent
        self.deleted.add(video.id)
        return web.Response(status=204)

    async def _thumbnail(self, request: web.Request) -> web.Response:
        self.log("thumbnail", request.query.get("videoId", ""))
        denied, fault = self.authorized(request, "thumbnail")
        if denied:
            return denied
        video = self.videos.get(request.query.get("videoId", ""))
        if video is None or video.id in self.deleted:
            return yt_error(
                404, "The video that you are trying to set a thumbnail for cannot be found.", "videoNotFound"
            )
        media_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in ("image/jpeg", "image/png", "application/octet-stream"):
            return yt_error(400, f"Media type '{media_type}' is not supported.", "mediaTypeNotSupported")
        data = await request.read()
        if not data:
            return yt_error(400, "The request does not include the image content.", "mediaBodyRequired")
        if len(data) > 2 * 1024 * 1024:
            return yt_error(413, "The thumbnail image file is too large.", "uploadTooLarge")
        if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
            return yt_error(400, "The provided image content is invalid.", "invalidImage")
        spent = self.spend(fault, 50, "thumbnails.set")
        if spent:
            return spent
        self.thumbnails[video.id] = data
        url = f"https://i.ytimg.com/vi/{video.id}/maxresdefault.jpg"
        return web.json_response({"kind": "youtube#thumbnailSetResponse", "items": [{"default": {"url": url}}]})

    async def _channels(self, request: web.Request) -> web.Response:
        self.log("channels")
        denied, fault = self.authorized(request, "channels")
        if denied:
            return denied
        if request.query.get("mine") != "true" or "id" not in request.query.get("part", "").split(","):
            return yt_error(400, "part=id and mine=true are required here")
        spent = self.spend(fault, 1, "channels.list")
        if spent:
            return spent
        return web.json_response({"kind": "youtube#channelListResponse", "items": [{"id": self.channel_id}]})

    # --- the benchmark's baseline: one plain streamed PUT

    async def _plain_put(self, request: web.Request) -> web.Response:
        path = self.root / f"plain-{request.match_info['name']}"
        size = 0
        with path.open("wb") as out:
            async for data in request.content.iter_chunked(1024 * 1024):
                out.write(data)
                size += len(data)
        return web.json_response({"size": size})
