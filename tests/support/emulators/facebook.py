"""Graph API Resumable Upload API + Page videos, strictly.

Checked: the user token on `/{app}/uploads` (access_token) and on `upload:<id>` (Authorization: OAuth …), the
file_length/file_type parameters, `file_offset` equal to what the session holds, Content-Length equal to the rest
of the file; the Page token, the file handle and a title on `/{page}/videos`. A dropped upload keeps the bytes
that arrived (GET upload:<id> reports them as file_offset).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from tests.support.emulators import Emulator, Stored, receive_body


@dataclass
class Upload:
    id: str
    size: int
    name: str
    path: Path
    offset: int = 0
    handle: str | None = None


def _error(status: int, message: str, code: int = 100, kind: str = "OAuthException") -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "emu"}}, status=status
    )


class FacebookEmulator(Emulator):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.app_id = "1234567890"
        self.page_id = "998877"
        self.user_token = "EAAuser-secret"
        self.page_token = "EAApage-secret"
        self.uploads: dict[str, Upload] = {}
        self.handles: dict[str, Upload] = {}
        self.videos: dict[str, Stored] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/{app_id}/uploads", self._start)
        app.router.add_post("/{version}/{node}/videos", self._publish)
        app.router.add_get("/{version}/{node}/videos", self._list)
        app.router.add_post("/{version}/{upload_id}", self._upload)
        app.router.add_get("/{version}/{upload_id}", self._status)

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
        if request.query.get("access_token") != self.user_token:
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
        if request.headers.get("Authorization") != f"OAuth {self.user_token}":
            return _error(401, "Invalid OAuth access token.", 190)
        upload = self.uploads.get(request.match_info["upload_id"])
        if upload is None:
            return _error(400, "upload session not found", 100)
        return upload

    async def _status(self, request: web.Request) -> web.Response:
        self.log("status")
        upload = self._session(request)
        if isinstance(upload, web.Response):
            return upload
        return self._fault("status") or web.json_response({"id": upload.id, "file_offset": upload.offset})

    async def _upload(self, request: web.Request) -> web.Response:
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
        if form.get("access_token") != self.page_token:
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
        if request.query.get("access_token") != self.page_token:
            return _error(400, "Invalid OAuth access token.", 190)
        data = [{"id": v.id, **v.meta} for v in reversed(list(self.videos.values()))]
        return web.json_response({"data": data[: int(request.query.get("limit", "25"))]})
