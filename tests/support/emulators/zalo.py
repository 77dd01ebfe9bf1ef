"""Zalo OA article-with-video API + OAuth v4 with rotating refresh tokens, strictly (as community SDKs describe it).

Checked: the `access_token` header (error -216 when unknown), the multipart body (one `file` part, video/mp4,
≤ 50 MB, Content-Length exact), the article fields (type video, title ≤ 150, description ≤ 300, a ready
video_id). The token endpoint wants the secret_key header and app_id, and every refresh token works once: each
refresh returns a new one and the old one is dead (error -14014).

Article removal (zaloplatform/zalo-java-sdk RemoveArticle): `POST /v2.0/article/remove` with `{"id": …}` and the
access_token header; an article that does not exist (or was removed) answers error -230 (the emulator's choice; the
real code is unconfirmed). Faults on "remove".

Consultation messages (zaloplatform/zalo-java-sdk SendQuoteCSMessage; the 48-hour rule from Zalo OA's help centre):
`citizen_writes(user_id, text)` is a citizen's message to the OA (it opens the window: 48 hours, 8 replies);
`POST /v3.0/oa/message/cs` with `{"recipient": {"user_id"}, "message": {"text"}}` (text 1–2,000 characters) answers
`data.message_id`; to a user who never wrote, -213 (the emulator's choice); outside the window (`advance` moves the
clock) or past 8 replies, -224 (the emulator's choice: the real code is unconfirmed). `GET /v2.0/oa/conversation?data=
{"user_id", "offset", "count" ≤ 10}` lists the conversation newest first (src 0: the OA's, 1: the user's; time in ms).
Faults on "message" (status, rate, expire_token; drop: the message is sent and its answer lost).

OA authorization v4 (oauth.zaloapp.com, 2nd-hand from community SDKs and guides): `/v4/oa/permission` wants
app_id and the app's registered callback as redirect_uri, and takes state and code_challenge (S256: there is no
method parameter); the consent page redirects with code, oa_id and state. A Deny is not described anywhere found:
it redirects with error=access_denied and state here. The token endpoint's authorization_code grant (secret_key
header; app_id, code, code_verifier; no redirect_uri) answers HTTP 200 with a negative error for a spent, expired
or unknown code (-14005 here) or a wrong verifier (-14019 here): both numbers are the emulator's choice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.support.emulators import Emulator, Stored
from tests.support.emulators.oauth import Consent, Refusal

MAX = 50 * 1024 * 1024


@dataclass
class Article:
    id: str
    title: str
    description: str
    video_id: str
    meta: dict[str, Any] = field(default_factory=dict)


def _ok(data: dict[str, Any] | list[Any] | None = None) -> web.Response:
    return web.json_response({"error": 0, "message": "Success", "data": data if data is not None else {}})


def _err(code: int, message: str) -> web.Response:
    # Zalo answers errors with HTTP 200 and a negative code.
    return web.json_response({"error": code, "message": message})


class ZaloEmulator(Emulator):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.app_id = "4321"
        self.secret_key = "zalo-secret-key"
        self.refresh_token = "zrt-1"
        self.oa_id = "579745863508352884"
        self.consent = Consent(self, "Zalo")
        self.spent_refresh_tokens: set[str] = set()
        self.uploads: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, Stored] = {}
        self.articles: dict[str, Article] = {}
        self.removed: set[str] = set()
        self.processing_polls = 1
        # user id -> the conversation, oldest first: {message_id, src (0 the OA, 1 the user), message, time (ms)}
        self.conversations: dict[str, list[dict[str, Any]]] = {}
        self.windows: dict[str, tuple[float, int]] = {}  # user id -> (when the user last wrote, replies since)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v4/oa/access_token", self._token)
        app.router.add_get("/v4/oa/permission", self._authorize)
        self.consent.routes(app)
        app.router.add_post("/v2.0/article/upload_video/preparevideo", self._prepare)
        app.router.add_get("/v2.0/article/upload_video/verify", self._verify_video)
        app.router.add_post("/v2.0/article/create", self._create)
        app.router.add_post("/v2.0/article/verify", self._verify_article)
        app.router.add_get("/v2.0/article/getslice", self._list)
        app.router.add_post("/v2.0/article/remove", self._remove)
        app.router.add_post("/v3.0/oa/message/cs", self._message)
        app.router.add_get("/v2.0/oa/conversation", self._conversation)

    async def _authorize(self, request: web.Request) -> web.Response:
        self.log("authorize")
        query = request.query
        if query.get("app_id") != self.app_id:
            return self.consent.error_page("Ứng dụng không tồn tại (app_id)")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.consent.redirect_uris:
            return self.consent.error_page("redirect_uri không khớp với Official Account Callback Url của ứng dụng")
        grant = self.consent.grant(self.app_id, redirect_uri, "oa", query.get("code_challenge"))
        return self.consent.page(grant, query.get("state"), app_name="Loa", allowed_extra={"oa_id": self.oa_id})

    def _code_grant(self, form: Any) -> web.Response:
        redeemed = self.consent.redeem(
            str(form.get("code", "")),
            client=self.app_id,
            redirect_uri=None,
            verifier=str(form["code_verifier"]) if form.get("code_verifier") else None,
        )
        if redeemed in (Refusal.MISSING_VERIFIER, Refusal.WRONG_VERIFIER):
            return web.json_response({"error": -14019, "error_name": "Invalid code verifier", "error_description": ""})
        if isinstance(redeemed, Refusal):
            return web.json_response({"error": -14005, "error_name": "Invalid code", "error_description": ""})
        self.refresh_token = f"zrt-code-{self.new_id('')}"
        return web.json_response(
            {"access_token": self.mint_token(), "refresh_token": self.refresh_token, "expires_in": "90000"}
        )

    async def _token(self, request: web.Request) -> web.Response:
        self.log("token")
        form = await request.post()
        if request.headers.get("secret_key") != self.secret_key or form.get("app_id") != self.app_id:
            return web.json_response({"error": -14002, "error_name": "Invalid app", "error_description": "bad app"})
        if form.get("grant_type") == "authorization_code":
            self.log("code_exchange")
            return self._code_grant(form)
        given = str(form.get("refresh_token", ""))
        if form.get("grant_type") != "refresh_token" or given != self.refresh_token:
            spent = " (already used)" if given in self.spent_refresh_tokens else ""
            return web.json_response(
                {"error": -14014, "error_name": "Invalid refresh token", "error_description": f"invalid{spent}"}
            )
        self.refresh_calls += 1
        self.spent_refresh_tokens.add(given)
        self.refresh_token = f"zrt-{self.refresh_calls + 1}"
        return web.json_response(
            {"access_token": self.mint_token(), "refresh_token": self.refresh_token, "expires_in": "90000"}
        )

    def _check(self, request: web.Request, on: str) -> web.Response | None:
        fault = self.take_fault(on)
        if fault and fault.kind == "expire_token":
            self.revoke_tokens()
        elif fault and fault.kind == "status":
            return web.json_response({"error": -1, "message": "server error"}, status=fault.status)
        elif fault and fault.kind == "rate":
            return _err(-32, "Request exceeds the limit")
        if request.headers.get("access_token") not in self.valid_tokens:
            return _err(-216, "Access token is invalid")
        return None

    async def _prepare(self, request: web.Request) -> web.Response:
        self.log("prepare")
        denied = self._check(request, "prepare")
        if denied:
            await request.read()
            return denied
        if request.content_length is None or request.content_length > MAX + 4096:
            return _err(-201, "file is too large (max 50 MB)")
        reader = await request.multipart()
        part = await reader.next()
        if part is None or getattr(part, "name", None) != "file":
            return _err(-201, "missing file part")
        if part.headers.get("Content-Type") != "video/mp4":  # type: ignore[union-attr]
            return _err(-201, "file must be video/mp4")
        token = self.new_id("zvt")
        path = self.root / f"{token}.mp4"
        size = 0
        with path.open("wb") as out:
            while chunk := await part.read_chunk(1024 * 1024):  # type: ignore[union-attr]
                out.write(chunk)
                size += len(chunk)
        if await reader.next() is not None:
            return _err(-201, "one file part only")
        self.uploads[token] = {"path": path, "size": size, "polls": self.processing_polls, "video_id": None}
        return _ok({"token": token})

    async def _verify_video(self, request: web.Request) -> web.Response:
        self.log("verify_video")
        denied = self._check(request, "verify_video")
        if denied:
            return denied
        upload = self.uploads.get(request.query.get("token", ""))
        if upload is None:
            return _err(-201, "token not found")
        if upload["polls"] > 0:
            upload["polls"] -= 1
            return _ok({"status": 3, "status_message": "processing", "convert_percent": 50})
        if upload["video_id"] is None:
            video_id = self.new_id("zv")
            upload["video_id"] = video_id
            self.videos[video_id] = Stored(video_id, upload["path"], upload["size"])
        return _ok({"status": 1, "video_id": upload["video_id"], "status_message": "ready"})

    async def _create(self, request: web.Request) -> web.Response:
        self.log("create")
        denied = self._check(request, "create")
        if denied:
            return denied
        body = await request.json()
        if body.get("type") != "video" or body.get("video_id") not in self.videos:
            return _err(-201, "type must be video with a ready video_id")
        title, description = body.get("title", ""), body.get("description", "")
        if not title or len(title) > 150 or len(description) > 300:
            return _err(-201, "title (1–150) or description (≤ 300) out of bounds")
        article_id = self.new_id("za")
        self.articles[article_id] = Article(article_id, title, description, body["video_id"], meta=body)
        fault = self.take_fault("after_create")
        if fault and fault.kind == "drop" and request.transport is not None:
            request.transport.abort()
        return _ok({"token": f"tok-{article_id}"})

    async def _verify_article(self, request: web.Request) -> web.Response:
        self.log("verify_article")
        denied = self._check(request, "verify_article")
        if denied:
            return denied
        token = (await request.json()).get("token", "")
        article_id = token.removeprefix("tok-")
        if article_id not in self.articles:
            return _err(-201, "token not found")
        return _ok({"id": article_id})

    async def _list(self, request: web.Request) -> web.Response:
        self.log("list")
        denied = self._check(request, "list")
        if denied:
            return denied
        live = [a for a in reversed(list(self.articles.values())) if a.id not in self.removed]
        medias = [{"id": a.id, "title": a.title, "type": "video"} for a in live]
        return _ok({"medias": medias[: int(request.query.get("limit", "10"))], "total": len(medias)})

    async def _remove(self, request: web.Request) -> web.Response:
        self.log("remove")
        denied = self._check(request, "remove")
        if denied:
            return denied
        article_id = str((await request.json()).get("id", ""))
        if article_id not in self.articles or article_id in self.removed:
            return _err(-230, "Article does not exist")
        self.removed.add(article_id)
        return _ok()

    # --- consultation messages

    def citizen_writes(self, user_id: str, text: str) -> str:
        message_id = self.new_id("msg")
        self._append(user_id, message_id, 1, text)
        self.windows[user_id] = (self.now(), 0)
        return message_id

    def _append(self, user_id: str, message_id: str, src: int, text: str) -> None:
        entry = {"message_id": message_id, "src": src, "type": "text", "message": text, "time": int(time.time() * 1000)}
        self.conversations.setdefault(user_id, []).append(entry)

    def replies_to(self, user_id: str) -> list[dict[str, Any]]:
        return [m for m in self.conversations.get(user_id, []) if m["src"] == 0]

    async def _message(self, request: web.Request) -> web.Response:
        self.log("message")
        fault = self.take_fault("message")
        if fault and fault.kind != "drop":
            self.inject(fault.kind, "message_check", status=fault.status)
        denied = self._check(request, "message_check")
        if denied:
            return denied
        try:
            body = await request.json()
            user_id = str(body["recipient"]["user_id"])
            text = body["message"]["text"]
        except (ValueError, KeyError, TypeError):
            return _err(-201, "Parameters are invalid")
        if not isinstance(text, str) or not 1 <= len(text) <= 2000:
            return _err(-201, "message.text must be 1 to 2000 characters")
        window = self.windows.get(user_id)
        if window is None:
            return _err(-213, "User has not interacted with the OA")
        since, used = window
        if self.now() - since > 48 * 3600 or used >= 8:
            return _err(-224, "Out of the consultation window: the user has not interacted in 48 hours")
        self.windows[user_id] = (since, used + 1)
        message_id = self.new_id("msg")
        self._append(user_id, message_id, 0, text)
        if fault and fault.kind == "drop" and request.transport is not None:
            request.transport.abort()  # sent, but the answer is lost
            return web.Response(status=500)
        return _ok({"message_id": message_id, "user_id": user_id})

    async def _conversation(self, request: web.Request) -> web.Response:
        self.log("conversation")
        denied = self._check(request, "conversation")
        if denied:
            return denied
        try:
            query = json.loads(request.query["data"])
            user_id, offset, count = str(query["user_id"]), int(query["offset"]), int(query["count"])
        except (KeyError, ValueError, TypeError):
            return _err(-201, "data must be JSON with user_id, offset and count")
        if count > 10 or offset < 0:
            return _err(-201, "count must be at most 10")
        newest_first = list(reversed(self.conversations.get(user_id, [])))
        return _ok(newest_first[offset : offset + count])
