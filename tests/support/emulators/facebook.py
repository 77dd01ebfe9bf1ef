"""Graph API Resumable Upload API + Page videos, strictly.

Checked: the user token on `/{app}/uploads` (access_token) and on `upload:<id>` (Authorization: OAuth …), the
file_length/file_type parameters, `file_offset` equal to what the session holds, Content-Length equal to the rest
of the file; the Page token, the file handle and a title on `/{page}/videos`. A dropped upload keeps the bytes
that arrived (GET upload:<id> reports them as file_offset).

After publishing [docs: developers.facebook.com/docs/graph-api/reference/video, Updating and Deleting]: `POST
/{version}/{video-id}` with the Page token and `name` and/or `description` changes them (`{"success": true}`);
`DELETE /{version}/{video-id}?access_token=` deletes the video; an unknown or deleted id is error 100 ("Object with
ID … does not exist"). Faults on "update" and "delete".

Comments [docs: developers.facebook.com/docs/graph-api/reference/object/comments, …/reference/comment]:
`add_comment` puts a citizen's comment (or a reply) under a video; `delete_comment` takes it away as its author
would. `POST /{version}/{comment-id}/comments` with the Page token and `message` (1–8,000 characters) replies as the
Page (`from` = the Page) → `{"id"}`; `GET /{version}/{comment-id}/comments?fields=…` lists the replies oldest first,
`limit` (≤ 100) a page, with `paging.cursors.after` and `paging.next` while more remain; `POST /{version}/{comment-id}`
with `is_hidden=true|false` hides or shows it → `{"success": true}` (only a comment on the Page's own post, not the
Page's own comment: error 100 otherwise). A comment that is gone is error 100 ("Object with ID … does not exist").

Reels [docs: developers.facebook.com/docs/video-api/guides/reels-publishing; the rupload headers 2nd-hand,
trypostit/trypost#32]: `POST /{version}/{page-id}/video_reels` with the Page token, upload_phase=start → video_id and
upload_url (`/video-upload/{version}/{video-id}` here, rupload.facebook.com there); `POST {upload_url}` with
`Authorization: OAuth <Page token>`, `offset` (what the reel holds) and `file_size` headers (the same every time) and
the bytes from offset → `{"success": true}` (a dropped one keeps what arrived);
`GET /{version}/{video-id}?fields=status` → status.uploading_phase.bytes_transferred and
publishing_phase.status; upload_phase=finish with video_id, video_state (PUBLISHED, DRAFT or SCHEDULED) and
description, once the whole file arrived → `{"success": true}`; a finish past `reels_per_day` published in the
moving 24 hours (the emulator's clock) is error 4 ("Application request limit reached"). Faults on "reel_start",
"rupload" (status; drop after `after_bytes`), "reel_finish" (status; drop: published, the answer lost).

Video thumbnails [docs: developers.facebook.com/docs/graph-api/reference/video/thumbnails]: `POST
/{version}/{video-id}/thumbnails`, multipart with the Page token, the image as `source` (a JPEG or PNG, ≤ 10 MB)
and `is_preferred` → `{"success": true}`; kept in `thumbnails` (video id -> bytes). Faults on "thumbnail".

`GET /{version}/{video-id}/comments` lists the comments under a video: `filter` toplevel (default: top comments
only) or stream (every comment, replies with their `parent`), `order` chronological (default) or
reverse_chronological, the same paging; the token as `access_token` or an `Authorization: OAuth` header (both are
Graph's), an invalid or expired one (`expire_page_tokens()`) error 190.

Faults on "reply" (status; drop: the reply is made and its answer lost), "replies", "hide"; `endless_paging` makes
the replies listing page for ever.

Facebook Login, built manually (developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow, …/oidc-token
for PKCE, …/access-tokens/get-long-lived): `/{version}/dialog/oauth` wants client_id (the app id), a registered
redirect_uri and takes scope, state and a PKCE challenge (S256 here); Deny redirects with error=access_denied,
error_code=200, error_description, error_reason=user_denied and state. `GET /{version}/oauth/access_token` with
client_id, client_secret, redirect_uri, code (and code_verifier) gives a short-lived user token (2 hours on the
emulator's clock); with grant_type=fb_exchange_token a long-lived one (60 days); `GET /{version}/me/accounts` lists
the Pages the user manages with their Page tokens (which do not expire). Errors are Graph error objects (code 100
for a bad code or verifier, 190 for a bad token); the wording for a wrong verifier is the emulator's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.emulators import Emulator, Stored, receive_body
from tests.support.emulators.oauth import Consent, Refusal

SHORT_LIVED_S = 2 * 3600.0
LONG_LIVED_S = 60 * 86400.0


@dataclass
class Reel:
    video_id: str
    path: Path
    size: int | None = None
    received: int = 0
    state: str | None = None  # video_state once finished
    description: str = ""
    published_at: float | None = None


@dataclass
class Upload:
    id: str
    size: int
    name: str
    path: Path
    offset: int = 0
    handle: str | None = None


def _graph_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _top_fields(fields: str) -> list[str]:
    """Graph's field list, split at the top level only ("from{id,name},parent{id}" is two fields)."""
    out, depth, current = [], 0, ""
    for ch in fields:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            out.append(current)
            current = ""
        else:
            current += ch
    return [*out, current] if current else out


def _error(status: int, message: str, code: int = 100, kind: str = "OAuthException") -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "emu"}}, status=status
    )


class FacebookEmulator(Emulator):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.app_id = "1234567890"
        self.app_secret = "fb-app-secret"
        self.page_id = "998877"
        self.page_name = "Phường Bến Nghé"
        self.user_token = "EAAuser-secret"
        self.page_token = "EAApage-secret"
        self.consent = Consent(self, "Facebook")
        # Tokens the sign-in issued: user tokens with when they expire (emulator clock), Page tokens (no expiry).
        self.user_tokens: dict[str, float] = {}
        self.page_tokens: set[str] = set()
        self.uploads: dict[str, Upload] = {}
        self.handles: dict[str, Upload] = {}
        self.videos: dict[str, Stored] = {}
        self.deleted: set[str] = set()
        self.comments: dict[str, dict[str, Any]] = {}  # comment id -> {id, parent, message, from, created_time, ...}
        self.endless_paging = False
        self.thumbnails: dict[str, bytes] = {}  # video id -> its preferred thumbnail
        self.reels: dict[str, Reel] = {}
        self.reels_per_day = 30

    def routes(self, app: web.Application) -> None:
        self.consent.routes(app)
        app.router.add_get("/{version}/dialog/oauth", self._authorize)
        app.router.add_get("/{version}/oauth/access_token", self._access_token)
        app.router.add_get("/{version}/me/accounts", self._accounts)
        app.router.add_post("/{version}/{app_id}/uploads", self._start)
        app.router.add_post("/{version}/{node}/thumbnails", self._thumbnail)
        app.router.add_post("/{version}/{node}/video_reels", self._video_reels)
        app.router.add_post("/video-upload/{version}/{video_id}", self._rupload)
        app.router.add_post("/{version}/{node}/comments", self._reply)
        app.router.add_get("/{version}/{node}/comments", self._replies)
        app.router.add_post("/{version}/{node}/videos", self._publish)
        app.router.add_get("/{version}/{node}/videos", self._list)
        app.router.add_post("/{version}/{upload_id}", self._upload)
        app.router.add_get("/{version}/{upload_id}", self._status)
        app.router.add_delete("/{version}/{video_id}", self._delete)

    # --- Facebook Login

    def user_token_valid(self, token: str | None) -> bool:
        if token == self.user_token:
            return True
        return token is not None and self.now() < self.user_tokens.get(token, 0.0)

    def page_token_valid(self, token: str | None) -> bool:
        return token == self.page_token or token in self.page_tokens

    async def _authorize(self, request: web.Request) -> web.Response:
        self.log("authorize")
        query = request.query
        if query.get("client_id") != self.app_id:
            return self.consent.error_page("Invalid App ID: the provided app ID does not look like a valid app ID.")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.consent.redirect_uris:
            return self.consent.error_page(
                "URL blocked: this redirect failed because the redirect URI is not "
                "whitelisted in the app's client OAuth settings."
            )
        if query.get("response_type", "code") != "code":
            return self.consent.error_page("response_type must be code")
        challenge = query.get("code_challenge")
        if challenge is not None and query.get("code_challenge_method") != "S256":
            return self.consent.error_page("code_challenge_method must be S256")
        grant = self.consent.grant(self.app_id, redirect_uri, query.get("scope", "public_profile"), challenge)
        denied = {"error_code": "200", "error_description": "Permissions error", "error_reason": "user_denied"}
        return self.consent.page(grant, query.get("state"), app_name="Loa", denied_extra=denied)

    def _issue_user_token(self, lifetime_s: float) -> dict[str, Any]:
        token = f"EAAuser-{self.new_id('u')}"
        self.user_tokens[token] = self.now() + lifetime_s
        return {"access_token": token, "token_type": "bearer", "expires_in": int(lifetime_s)}

    async def _access_token(self, request: web.Request) -> web.Response:
        self.log("access_token", request.query.get("grant_type", "code"))
        query = request.query
        if query.get("client_id") != self.app_id or query.get("client_secret") != self.app_secret:
            return _error(400, "Error validating client secret.", 1)
        if query.get("grant_type") == "fb_exchange_token":
            if not self.user_token_valid(query.get("fb_exchange_token")):
                return _error(400, "Error validating access token: Session has expired.", 190)
            return web.json_response(self._issue_user_token(LONG_LIVED_S))
        self.log("code_exchange")
        redeemed = self.consent.redeem(
            query.get("code", ""),
            client=self.app_id,
            redirect_uri=query.get("redirect_uri", ""),
            verifier=query.get("code_verifier") or None,
        )
        messages = {
            Refusal.SPENT_CODE: "This authorization code has been used.",
            Refusal.EXPIRED_CODE: "This authorization code has expired.",
            Refusal.REDIRECT_MISMATCH: "Error validating verification code. Please make sure your redirect_uri is "
            "identical to the one you used in the OAuth dialog request",
            Refusal.MISSING_VERIFIER: "Missing code_verifier.",
            Refusal.WRONG_VERIFIER: "Invalid code_verifier.",
        }
        if isinstance(redeemed, Refusal):
            return _error(400, messages.get(redeemed, "Invalid verification code format."), 100)
        return web.json_response(self._issue_user_token(SHORT_LIVED_S))

    async def _accounts(self, request: web.Request) -> web.Response:
        self.log("accounts")
        if not self.user_token_valid(request.query.get("access_token")):
            return _error(400, "Invalid OAuth access token.", 190)
        page_token = f"EAApage-{self.new_id('p')}"
        self.page_tokens.add(page_token)
        page = {
            "access_token": page_token,
            "category": "Government Organization",
            "id": self.page_id,
            "name": self.page_name,
            "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"],
        }
        return web.json_response({"data": [page], "paging": {"cursors": {"before": "emu", "after": "emu"}}})

    def _fault(self, on: str) -> web.Response | None:
        fault = self.take_fault(on)
        if fault and fault.kind == "status":
            response = _error(fault.status, "An unexpected error has occurred. Please retry your request later.", 2)
            if fault.retry_after:
                response.headers["Retry-After"] = fault.retry_after
            return response
        return None

    async def _start(self, request: web.Request) -> web.Response:
        self.log("start")
        if request.match_info["app_id"] != self.app_id:
            return _error(400, "Unsupported post request.", 100, "GraphMethodException")
        if not self.user_token_valid(request.query.get("access_token")):
            return _error(400, "Invalid OAuth access token.", 190)
        failed = self._fault("start")
        if failed:
            return failed
        try:
            size = int(request.query["file_length"])
        except (KeyError, ValueError):
            return _error(400, "(#100) file_length is required")
        if request.query.get("file_type") != "video/mp4" or not request.query.get("file_name"):
            return _error(400, "(#100) file_name and file_type video/mp4 are required")
        upload_id = self.new_id("upload:MTphc3N")
        self.uploads[upload_id] = Upload(upload_id, size, request.query["file_name"], self.root / f"{upload_id}.part")
        return web.json_response({"id": upload_id})

    def _session(self, request: web.Request) -> Upload | web.Response:
        if not self.user_token_valid(request.headers.get("Authorization", "").removeprefix("OAuth ")):
            return _error(401, "Invalid OAuth access token.", 190)
        upload = self.uploads.get(request.match_info["upload_id"])
        if upload is None:
            return _error(400, "upload session not found", 100)
        return upload

    async def _status(self, request: web.Request) -> web.Response:
        reel = self.reels.get(request.match_info["upload_id"])
        if reel is not None:
            return self._reel_status(request, reel)
        self.log("status")
        upload = self._session(request)
        if isinstance(upload, web.Response):
            return upload
        return self._fault("status") or web.json_response({"id": upload.id, "file_offset": upload.offset})

    def _live(self, video_id: str, what: str) -> Stored | web.Response:
        video = self.videos.get(video_id)
        if video is None or video_id in self.deleted:
            return _error(
                400,
                f"Unsupported {what} request. Object with ID '{video_id}' does not exist, cannot be loaded due to"
                " missing permissions, or does not support this operation.",
                100,
                "GraphMethodException",
            )
        return video

    async def _update(self, request: web.Request) -> web.Response:
        self.log("update", request.match_info["upload_id"])
        form = await request.post()
        if not self.page_token_valid(str(form.get("access_token", ""))):
            return _error(400, "Invalid OAuth access token.", 190)
        failed = self._fault("update")
        if failed:
            return failed
        video = self._live(request.match_info["upload_id"], "post")
        if isinstance(video, web.Response):
            return video
        if "title" in form:
            return _error(400, "(#100) Param title is not a field of a Video you can update: use name")
        if "name" not in form and "description" not in form:
            return _error(400, "(#100) Nothing to update: name or description is required")
        if "name" in form:
            video.meta["title"] = str(form["name"])
        if "description" in form:
            video.meta["description"] = str(form["description"])
        return web.json_response({"success": True})

    async def _delete(self, request: web.Request) -> web.Response:
        self.log("delete", request.match_info["video_id"])
        if not self.page_token_valid(request.query.get("access_token")):
            return _error(400, "Invalid OAuth access token.", 190)
        failed = self._fault("delete")
        if failed:
            return failed
        video = self._live(request.match_info["video_id"], "delete")
        if isinstance(video, web.Response):
            return video
        self.deleted.add(video.id)
        return web.json_response({"success": True})

    # --- reels

    def published_reels(self) -> list[Reel]:
        return [r for r in self.reels.values() if r.published_at is not None]

    async def _video_reels(self, request: web.Request) -> web.Response:
        form = await request.post()
        phase = str(form.get("upload_phase", ""))
        self.log(f"reel_{phase}")
        if request.match_info["node"] != self.page_id:
            return _error(400, "Unsupported post request.", 100, "GraphMethodException")
        if not self.page_token_valid(str(form.get("access_token", ""))):
            return _error(400, "Invalid OAuth access token.", 190)
        if phase == "start":
            failed = self._fault("reel_start")
            if failed:
                return failed
            video_id = self.new_id("20")
            self.reels[video_id] = Reel(video_id, self.root / f"reel-{video_id}.part")
            return web.json_response(
                {"video_id": video_id, "upload_url": f"{self.base_url}/video-upload/v21.0/{video_id}"}
            )
        if phase != "finish":
            return _error(400, "(#100) upload_phase must be start or finish")
        fault = self.take_fault("reel_finish")
        if fault and fault.kind == "status":
            return _error(fault.status, "An unexpected error has occurred. Please retry your request later.", 2)
        reel = self.reels.get(str(form.get("video_id", "")))
        if reel is None:
            return _error(400, "(#100) video_id is not a reel upload session of this Page")
        if reel.size is None or reel.received != reel.size:
            return _error(400, "(#6000) The video upload is not complete", 6000)
        state = str(form.get("video_state", ""))
        if state not in ("PUBLISHED", "DRAFT", "SCHEDULED"):
            return _error(400, "(#100) video_state must be PUBLISHED, DRAFT or SCHEDULED")
        if reel.state is not None:
            return _error(400, "(#100) This reel was already published")
        day_ago = self.now() - 86400
        if sum(1 for r in self.published_reels() if r.published_at and r.published_at > day_ago) >= self.reels_per_day:
            return _error(400, "(#4) Application request limit reached", 4)
        reel.state, reel.description = state, str(form.get("description", ""))
        reel.published_at = self.now()
        if fault and fault.kind == "drop" and request.transport is not None:
            request.transport.abort()  # published, but the answer is lost
            return web.Response(status=500)
        return web.json_response({"success": True})

    async def _rupload(self, request: web.Request) -> web.Response:
        self.log("rupload", request.headers.get("offset", ""))
        if not self.page_token_valid(request.headers.get("Authorization", "").removeprefix("OAuth ")):
            return _error(401, "Invalid OAuth access token.", 190)
        reel = self.reels.get(request.match_info["video_id"])
        if reel is None:
            return _error(400, "(#100) no such reel upload session")
        try:
            offset, size = int(request.headers["offset"]), int(request.headers["file_size"])
        except (KeyError, ValueError):
            return _error(400, "HeaderValuePredicate: offset and file_size headers are required", 100)
        if reel.size is not None and size != reel.size:
            return _error(400, f"file_size {size} differs from the upload's {reel.size}")
        if offset != reel.received:
            return _error(400, f"offset {offset} does not match the {reel.received} bytes received", 6000)
        if request.content_length != size - offset:
            return _error(400, f"Content-Length must be the rest of the file ({size - offset})")
        reel.size = size
        fault = self.take_fault("rupload")
        if fault and fault.kind == "status":
            await request.read()
            return _error(fault.status, "An unexpected error has occurred. Please retry your request later.", 2)
        drop = fault.after_bytes if fault and fault.kind == "drop" else None
        got = await receive_body(request, reel.path, offset, size - offset, drop_after=drop)
        reel.received = offset + got
        if drop is not None:
            return web.Response(status=500)
        if reel.received != size:
            return _error(400, "incomplete upload")
        return web.json_response({"success": True})

    def _reel_status(self, request: web.Request, reel: Reel) -> web.Response:
        self.log("reel_status")
        if not self.page_token_valid(request.query.get("access_token")):
            return _error(400, "Invalid OAuth access token.", 190)
        if request.query.get("fields") != "status":
            return _error(400, "(#100) ask for fields=status")
        uploaded = reel.size is not None and reel.received == reel.size
        status = {
            "video_status": "ready" if reel.state else ("upload_complete" if uploaded else "uploading"),
            "uploading_phase": {
                "status": "complete" if uploaded else "in_progress",
                "bytes_transferred": reel.received,
            },
            "publishing_phase": {"status": "complete" if reel.state else "not_started"},
        }
        return web.json_response({"id": reel.video_id, "status": status})

    # --- video thumbnails

    async def _thumbnail(self, request: web.Request) -> web.Response:
        self.log("thumbnail", request.match_info["node"])
        if not (request.content_type or "").startswith("multipart/form-data"):
            return _error(400, "(#100) the thumbnail must be sent as multipart/form-data")
        form = await request.post()
        if not self.page_token_valid(str(form.get("access_token", ""))):
            return _error(400, "Invalid OAuth access token.", 190)
        failed = self._fault("thumbnail")
        if failed:
            return failed
        video = self._live(request.match_info["node"], "post")
        if isinstance(video, web.Response):
            return video
        source = form.get("source")
        data = source.file.read() if source is not None and hasattr(source, "file") else b""
        if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
            return _error(400, "(#100) source must be a JPEG or PNG image")
        if len(data) > 10 * 1024 * 1024:
            return _error(400, "(#100) the thumbnail is larger than 10 MB")
        if str(form.get("is_preferred", "false")) not in ("true", "false"):
            return _error(400, "(#100) is_preferred must be true or false")
        self.thumbnails[video.id] = data
        return web.json_response({"success": True})

    # --- comments

    def add_comment(
        self, message: str, *, on: str = "10000001", author: str = "citizen-1", parent: str | None = None
    ) -> str:
        comment_id = f"{on}_{self.new_id('')}" if parent is None else f"{parent.split('_')[0]}_{self.new_id('')}"
        self.comments[comment_id] = {
            "id": comment_id,
            "on": on,
            "parent": parent,
            "message": message,
            "from": {"id": author, "name": "Người dân" if author != self.page_id else self.page_name},
            "created_time": _graph_now(),
            "is_hidden": False,
        }
        return comment_id

    def expire_page_tokens(self) -> None:
        """Every Page token stops working (a password change, a revoked app): error 190 from here on."""
        self.page_token = f"expired-{self.new_id('')}"
        self.page_tokens.clear()

    def delete_comment(self, comment_id: str) -> None:
        self.comments.pop(comment_id, None)

    def replies_to(self, parent: str) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["parent"] == parent]

    def _gone(self, node: str) -> web.Response:
        return _error(
            400,
            f"Unsupported post request. Object with ID '{node}' does not exist, cannot be loaded due to missing"
            " permissions, or does not support this operation.",
            100,
            "GraphMethodException",
        )

    async def _reply(self, request: web.Request) -> web.Response:
        self.log("reply", request.match_info["node"])
        form = await request.post()
        if not self.page_token_valid(str(form.get("access_token", ""))):
            return _error(400, "Invalid OAuth access token.", 190)
        failed = self._fault("reply")
        if failed:
            return failed
        parent = self.comments.get(request.match_info["node"])
        if parent is None:
            return self._gone(request.match_info["node"])
        message = str(form.get("message", ""))
        if not message.strip() or len(message) > 8000:
            return _error(400, "(#100) message must be 1 to 8000 characters")
        reply_id = self.add_comment(message, on=parent["on"], author=self.page_id, parent=parent["id"])
        fault = self.take_fault("reply_made")
        if fault and fault.kind == "drop" and request.transport is not None:
            request.transport.abort()  # made, but the answer is lost
            return web.Response(status=500)
        return web.json_response({"id": reply_id})

    async def _replies(self, request: web.Request) -> web.Response:
        self.log("replies", request.match_info["node"])
        header = request.headers.get("Authorization", "")
        token = request.query.get("access_token") or (
            header.removeprefix("OAuth ") if header.startswith("OAuth ") else None
        )
        if not self.page_token_valid(token):
            return _error(400, "Invalid OAuth access token.", 190)
        failed = self._fault("replies")
        if failed:
            return failed
        node = request.match_info["node"]
        on_video = node not in self.comments and any(c["on"] == node for c in self.comments.values())
        if node not in self.comments and not on_video and node not in self.videos:
            return self._gone(node)
        try:
            limit = int(request.query.get("limit", "25"))
        except ValueError:
            return _error(400, "(#100) limit must be a number")
        if not 1 <= limit <= 100:
            return _error(400, "(#100) limit must be between 1 and 100")
        start = int(request.query.get("after", "0") or 0)
        if node in self.comments:
            listed = self.replies_to(node)
        else:
            stream = request.query.get("filter", "toplevel")
            order = request.query.get("order", "chronological")
            if stream not in ("toplevel", "stream") or order not in ("chronological", "reverse_chronological"):
                return _error(
                    400, "(#100) filter must be toplevel or stream, order chronological or reverse_chronological"
                )
            listed = [c for c in self.comments.values() if c["on"] == node and (stream == "stream" or not c["parent"])]
            listed.sort(key=lambda c: (c["created_time"], c["id"]), reverse=order == "reverse_chronological")
        fields = {f.split("{")[0] for f in _top_fields(request.query.get("fields", "id,message,created_time"))}
        replies = [
            {k: ({"id": v} if k == "parent" else v) for k, v in c.items() if k in fields and v is not None}
            for c in listed
        ]
        body: dict[str, Any] = {"data": replies[start : start + limit]}
        more = self.endless_paging or start + limit < len(replies)
        cursors = {"before": str(start), "after": str(start + limit)}
        body["paging"] = {"cursors": cursors, **({"next": f"{self.base_url}/next"} if more else {})}
        return web.json_response(body)

    async def _hide(self, request: web.Request) -> web.Response:
        node = request.match_info["upload_id"]
        self.log("hide", node)
        form = await request.post()
        if not self.page_token_valid(str(form.get("access_token", ""))):
            return _error(400, "Invalid OAuth access token.", 190)
        failed = self._fault("hide")
        if failed:
            return failed
        comment = self.comments[node]
        hidden = str(form.get("is_hidden", ""))
        if hidden not in ("true", "false"):
            return _error(400, "(#100) is_hidden must be true or false")
        if comment["from"]["id"] == self.page_id:
            return _error(400, "(#100) A Page cannot hide its own comment", 100)
        comment["is_hidden"] = hidden == "true"
        return web.json_response({"success": True})

    async def _upload(self, request: web.Request) -> web.Response:
        if request.match_info["upload_id"] in self.comments:
            return await self._hide(request)  # POST /{comment-id}: a comment's is_hidden
        node = request.match_info["upload_id"]
        if node in self.videos:
            return await self._update(request)  # POST /{video-id}: a video's fields, not an upload session
        if not node.startswith("upload:"):
            return self._gone(node)  # a comment or a video that is gone (or never was)
        self.log("upload", request.headers.get("file_offset", ""))
        upload = self._session(request)
        if isinstance(upload, web.Response):
            return upload
        try:
            offset = int(request.headers["file_offset"])
        except (KeyError, ValueError):
            return _error(400, "file_offset header is required")
        if offset != upload.offset:
            return _error(400, f"file_offset {offset} does not match the session's {upload.offset}", 6000)
        if request.content_length != upload.size - offset:
            return _error(400, f"Content-Length must be the rest of the file ({upload.size - offset})")
        fault = self.take_fault("upload")
        if fault and fault.kind == "status":
            await request.read()
            return _error(fault.status, "An unexpected error has occurred. Please retry your request later.", 2)
        drop = fault.after_bytes if fault and fault.kind == "drop" else None
        got = await receive_body(request, upload.path, offset, upload.size - offset, drop_after=drop)
        upload.offset = offset + got
        if drop is not None:
            return web.Response(status=500)
        if upload.offset != upload.size:
            return _error(400, "incomplete upload")
        upload.handle = self.new_id("4:dGVzdA==:")
        self.handles[upload.handle] = upload
        return web.json_response({"h": upload.handle})

    async def _publish(self, request: web.Request) -> web.Response:
        self.log("publish")
        form = await request.post()
        if request.match_info["node"] != self.page_id:
            return _error(400, "Unsupported post request.", 100, "GraphMethodException")
        if not self.page_token_valid(str(form.get("access_token", ""))):
            return _error(400, "Invalid OAuth access token.", 190)
        failed = self._fault("publish")
        if failed:
            return failed
        upload = self.handles.get(str(form.get("fbuploader_video_file_chunk", "")))
        if upload is None:
            return _error(400, "(#100) Invalid file handle")
        title = str(form.get("title", ""))
        if not title:
            return _error(400, "(#100) title is required")
        video_id = self.new_id("10")
        final = self.root / f"{video_id}.mp4"
        if upload.path.exists():
            upload.path.rename(final)
        meta = {"title": title, "description": str(form.get("description", ""))}
        self.videos[video_id] = Stored(video_id, final, upload.size, meta=meta)
        fault = self.take_fault("after_publish")
        if fault and fault.kind == "drop" and request.transport is not None:
            request.transport.abort()  # published, but the answer is lost
        return web.json_response({"id": video_id})

    async def _list(self, request: web.Request) -> web.Response:
        self.log("list")
        if not self.page_token_valid(request.query.get("access_token")):
            return _error(400, "Invalid OAuth access token.", 190)
        data = [{"id": v.id, **v.meta} for v in reversed(list(self.videos.values()))]
        return web.json_response({"data": data[: int(request.query.get("limit", "25"))]})
