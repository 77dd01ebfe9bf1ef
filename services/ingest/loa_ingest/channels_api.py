"""Channels over HTTP: a ward admin adds, edits, brands and removes its ward's channels; everyone lists its own.

Thin routes over `ChannelStore` (loa_ingest/channels.py), which commits each change with its registry record and
sends it; the decisions (defaults, what a request may ask) are the plain functions at the top. A district admin
reaches every ward (it names the ward of a new channel); anyone else only its own, and another ward's channel is
answered as missing (404), like everything of another ward.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

import asyncio
import hashlib
import re
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile  # what Request.form() gives (FastAPI's own is a subclass)

from loa_core.auth import Caller, Role
from loa_core.contracts import DEFAULT_WARD, PLATFORMS, Channel, ChannelState, WardId, layout
from loa_core.contracts.channels import DEFAULT_PROFILES, PROFILE_NAMES
from loa_core.media import MediaError, probe
from loa_ingest.channels import ChannelStore, ChannelTaken, NoSuchChannel, StoredChannel
from loa_ingest.service import CHUNK, IngestService

Requires = Callable[[Role], Callable[..., Awaitable[Caller]]]
Option = str | int | float | bool
Kind = Literal["logo", "intro", "outro"]
# A channel name becomes a record key, a metric label and a path part (contracts/base.py ChannelName).
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# Options configure the publisher's adapter; credentials come from the channel's connection, never from here.
SECRET_OPTION = re.compile(r"secret|password|passwd|refresh_token|access_token|api_key|credential", re.IGNORECASE)
# The first bytes of the images a logo may be.
IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg"}
IMAGE_CODECS = {"png": "png", "jpg": "mjpeg"}
# Containers an intro or outro may come in (ffprobe's format names), and the extension its key gets.
CLIP_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "mkv"}
# Room for the multipart envelope around the file in a request's Content-Length.
ENVELOPE_BYTES = 64 * 1024


class ChannelRequest(BaseModel):
    name: str = Field(max_length=200, description="a-z, 0-9, - and _, at most 40, unique in the installation")
    platform: str = Field(max_length=40, description=f"one of {', '.join(PLATFORMS)}")
    # The ward the channel belongs to: the caller's own by default; a district admin may name any.
    ward: WardId | None = None
    # The cuts it receives (default: the platform's usual ones).
    profiles: list[str] | None = Field(default=None, max_length=10)
    # The adapter's settings: privacy, templates (title_template, description_template), page id, base URLs.
    options: dict[str, Option] = Field(default_factory=dict, max_length=50)
    # Posts wait for an approver (default: on for platform channels, off for `local`).
    approval_required: bool | None = None


class ChannelChange(BaseModel):
    """What a ward admin may change; what is left out stays as it is. `options` replaces the options whole."""

    profiles: list[str] | None = Field(default=None, max_length=10)
    options: dict[str, Option] | None = Field(default=None, max_length=50)
    approval_required: bool | None = None


class ChannelView(BaseModel):
    """A channel as the API and the page show it: its registry record's channel, and where it stands."""

    channel: Channel
    revision: int
    updated_at: str
    state_reason: str | None  # why it is disconnected, when it is
    sent: bool  # whether this revision is known to be on the registry topic (else it is sent shortly)


def view(stored: StoredChannel) -> ChannelView:
    return ChannelView(
        channel=stored.channel,
        revision=stored.revision,
        updated_at=stored.updated_at,
        state_reason=stored.state_reason,
        sent=stored.sent,
    )


def refusal(code: int, english: str, vietnamese: str) -> HTTPException:
    return HTTPException(code, f"{english} / {vietnamese}")


def own_ward(who: Caller) -> str:
    return who.ward or DEFAULT_WARD


def reach(who: Caller) -> str | None:
    """The ward a caller's channel requests are confined to; None for a district admin (every ward)."""
    return None if who.is_district else own_ward(who)


def profile_problems(profiles: list[str]) -> HTTPException | None:
    unknown = [p for p in profiles if p not in PROFILE_NAMES]
    if not profiles or unknown or len(set(profiles)) != len(profiles):
        return refusal(
            422,
            f"Pick one or more different cuts among {', '.join(PROFILE_NAMES)}; not {', '.join(unknown) or 'none'}.",
            f"Hãy chọn một hoặc vài bản dựng khác nhau trong {', '.join(PROFILE_NAMES)}.",
        )
    return None


def option_problems(options: dict[str, Option]) -> HTTPException | None:
    secret = sorted(k for k in options if SECRET_OPTION.search(k))
    if secret:
        return refusal(
            422,
            f"Options never hold credentials ({', '.join(secret)}): connect the channel instead.",
            "Tùy chọn kênh không được chứa mật khẩu hay mã bí mật; hãy kết nối kênh.",
        )
    long = sorted(k for k, v in options.items() if len(k) > 100 or (isinstance(v, str) and len(v) > 5000))
    if long:
        return refusal(422, f"Option too long: {', '.join(long)}.", "Tùy chọn quá dài.")
    return None


def new_channel(body: ChannelRequest, ward: str) -> Channel | HTTPException:
    """The channel a ward admin asked for, with the defaults of its platform; or why it cannot be."""
    if not NAME.fullmatch(body.name):
        return refusal(
            422,
            "A channel name is 1 to 40 characters among a-z, 0-9, - and _, starting with a letter or digit "
            "(no slash, dot or space).",
            "Tên kênh gồm 1 đến 40 ký tự a-z, 0-9, - và _, bắt đầu bằng chữ hoặc số (không có dấu gạch chéo, "
            "dấu chấm hay khoảng trắng).",
        )
    if body.platform not in PLATFORMS:
        return refusal(
            422,
            f"Unknown platform {body.platform!r}: one of {', '.join(PLATFORMS)}.",
            f"Nền tảng không được hỗ trợ; chọn một trong {', '.join(PLATFORMS)}.",
        )
    profiles = body.profiles if body.profiles is not None else list(DEFAULT_PROFILES[body.platform])
    problem = profile_problems(profiles) or option_problems(body.options)
    if problem is not None:
        return problem
    local = body.platform == "local"
    return Channel(
        name=body.name,
        platform=body.platform,
        profiles=tuple(profiles),
        options=body.options,
        ward=ward,
        approval_required=body.approval_required if body.approval_required is not None else not local,
        # A platform channel posts once its ward admin has signed in to the platform (/channels/{name}/connect).
        state=ChannelState.CONNECTED if local else ChannelState.DISCONNECTED,
    )


def changed(channel: Channel, change: ChannelChange) -> Channel:
    values: dict[str, Any] = {k: v for k, v in change.model_dump(exclude_unset=True).items() if v is not None}
    return Channel.model_validate({**channel.model_dump(), **values})


async def spool(file: UploadFile, folder: Path, limit: int) -> tuple[Path, str] | None:
    """The upload in a file of its own with its sha256; None (and nothing kept) once it passes `limit` bytes."""
    digest, size = hashlib.sha256(), 0
    handle = tempfile.NamedTemporaryFile(dir=folder, prefix="branding-", delete=False)  # noqa: SIM115 (kept past)
    path = Path(handle.name)
    with handle:
        while chunk := await file.read(CHUNK):
            size += len(chunk)
            if size > limit:
                handle.close()
                path.unlink()
                return None
            digest.update(chunk)
            handle.write(chunk)
    return path, digest.hexdigest()


async def branding_problem(kind: Kind, path: Path, service: IngestService) -> tuple[str, HTTPException | None]:
    """The key extension of an acceptable branding file, or the refusal of an unacceptable one."""
    settings = service.settings
    if kind == "logo":
        with path.open("rb") as file:
            head = file.read(16)
        ext = next((e for magic, e in IMAGE_MAGIC.items() if head.startswith(magic)), None)
        not_image = refusal(422, "A logo is a PNG or JPEG image.", "Logo phải là ảnh PNG hoặc JPEG.")
        if ext is None:
            return "", not_image
        try:
            found = await probe(path)
        except MediaError:
            return "", not_image
        video = found.video
        if video is None or video.codec_name != IMAGE_CODECS[ext] or not video.width or not video.height:
            return "", not_image
        if max(video.width, video.height) > settings.max_logo_side_px:
            return "", refusal(
                422,
                f"The logo is larger than {settings.max_logo_side_px} pixels on a side.",
                f"Logo lớn hơn {settings.max_logo_side_px} điểm ảnh mỗi chiều.",
            )
        return ext, None
    not_clip = refusal(
        422, "An intro or outro is a video file (MP4, MOV or MKV).", "Đoạn mở đầu/kết thúc phải là tệp video."
    )
    try:
        found = await probe(path)
    except MediaError:
        return "", not_clip
    if found.format_name not in CLIP_FORMATS or found.video is None or found.video.codec_name in IMAGE_CODECS.values():
        return "", not_clip
    if found.duration_s > settings.max_branding_clip_s:
        return "", refusal(
            422,
            f"An intro or outro lasts at most {settings.max_branding_clip_s:g} s.",
            f"Đoạn mở đầu/kết thúc dài tối đa {settings.max_branding_clip_s:g} giây.",
        )
    return CLIP_FORMATS[found.format_name], None


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def _too_large(limit: int) -> HTTPException:
    return refusal(413, f"The file is larger than {limit} bytes.", f"Tệp lớn hơn {limit} byte, vượt giới hạn.")


MISSING = ("No such channel in your ward.", "Không tìm thấy kênh này trong phường của bạn.")


class ChannelDesk:
    """What a caller may do with channels, whatever the edge (the API below, the page in channels_page.py): each
    method checks the caller's reach and the request, then asks the store; refusals are bilingual HTTPExceptions."""

    def __init__(self, service: IngestService, store: ChannelStore) -> None:
        self.service = service
        self.store = store

    def visible(self, who: Caller, ward: str | None = None) -> list[StoredChannel]:
        """The caller's ward's channels; a district admin's: every ward's, or `ward`'s."""
        if ward is not None and not who.sees(ward):
            raise refusal(403, "You see only your own ward's channels.", "Bạn chỉ xem được kênh của phường mình.")
        return self.store.listed(ward if ward is not None else reach(who))

    def one(self, who: Caller, name: str) -> StoredChannel:
        stored = self.store.get(name)
        if stored is None or stored.channel.state == ChannelState.REMOVED or not who.sees(stored.channel.ward):
            raise refusal(404, *MISSING)
        return stored

    async def add(self, who: Caller, body: ChannelRequest) -> StoredChannel:
        ward = body.ward or own_ward(who)
        if not who.sees(ward):
            raise refusal(
                403,
                "A ward admin adds channels to its own ward only.",
                "Quản trị phường chỉ thêm kênh cho phường mình.",
            )
        channel = new_channel(body, ward)
        if isinstance(channel, HTTPException):
            raise channel
        try:
            return await self.store.add(channel)
        except ChannelTaken:
            raise refusal(
                409,
                f"The channel name {channel.name} is taken; pick another.",
                f"Tên kênh {channel.name} đã được dùng; hãy chọn tên khác.",
            ) from None

    async def change(self, who: Caller, name: str, body: ChannelChange) -> StoredChannel:
        problem = (body.profiles is not None and profile_problems(body.profiles)) or (
            body.options is not None and option_problems(body.options)
        )
        if problem:
            raise problem
        return await self._edit(who, name, lambda channel: changed(channel, body))

    async def remove(self, who: Caller, name: str) -> StoredChannel:
        return await self._edit(who, name, lambda c: c.model_copy(update={"state": ChannelState.REMOVED}))

    async def brand(self, who: Caller, name: str, kind: Kind, request: Request) -> StoredChannel:
        """Store the request's multipart `file` as the channel's logo, intro or outro, once it is checked."""
        stored = self.one(who, name)
        limit = self.check_length(request, kind)
        form = await request.form(max_files=1, max_fields=5)
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.size:
            raise refusal(422, "Send the file as the form field `file`.", "Hãy gửi tệp trong trường `file`.")
        spooled = await spool(file, self.service.spool_dir, limit)
        if spooled is None:
            raise _too_large(limit)
        path, digest = spooled
        try:
            ext, problem = await branding_problem(kind, path, self.service)
            if problem is not None:
                raise problem
            key = layout.branding_key(stored.channel.ward, name, kind, digest, ext)
            await asyncio.to_thread(self.service.storage.put_file, key, path)
        finally:
            path.unlink(missing_ok=True)
        return await self._edit(who, name, lambda c: c.model_copy(update={f"{kind}_key": key}))

    def check_length(self, request: Request, kind: Kind) -> int:
        """Refuse a branding upload by its Content-Length before a byte of it is read (and before the sign-in check,
        which reads a form for its CSRF token); the limit of its kind."""
        settings = self.service.settings
        limit = settings.max_logo_bytes if kind == "logo" else settings.max_branding_clip_bytes
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            raise refusal(411, "Send the file with a Content-Length.", "Cần gửi kèm độ dài tệp (Content-Length).")
        if int(length) > limit + ENVELOPE_BYTES:
            raise _too_large(limit)
        return limit

    async def unbrand(self, who: Caller, name: str, kind: Kind) -> StoredChannel:
        return await self._edit(who, name, lambda c: c.model_copy(update={f"{kind}_key": None}))

    async def _edit(self, who: Caller, name: str, edit: Callable[[Channel], Channel]) -> StoredChannel:
        try:
            return await self.store.change(name, reach(who), edit)
        except NoSuchChannel:
            raise refusal(404, *MISSING) from None


def channels_router(desk: ChannelDesk, requires: Requires) -> APIRouter:
    router = APIRouter(tags=["channels"])
    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    WardAdmin = Annotated[Caller, Depends(requires("ward_admin"))]

    @router.get("/channels", summary="The channels of your ward (a district admin: every ward's, or one ward's)")
    async def list_channels(who: Viewer, ward: Annotated[WardId | None, Query()] = None) -> list[ChannelView]:
        return [view(s) for s in desk.visible(who, ward)]

    @router.get("/channels/{name}", summary="One channel")
    async def get_channel(name: str, who: Viewer) -> ChannelView:
        return view(desk.one(who, name))

    @router.post("/channels", status_code=201, summary="Add a channel (ward admins, in their ward)")
    async def add_channel(who: WardAdmin, body: Annotated[ChannelRequest, Body()]) -> ChannelView:
        return view(await desk.add(who, body))

    @router.patch("/channels/{name}", summary="Change a channel's cuts, options (privacy, templates), approval rule")
    async def change_channel(name: str, who: WardAdmin, body: Annotated[ChannelChange, Body()]) -> ChannelView:
        return view(await desk.change(who, name, body))

    @router.delete("/channels/{name}", status_code=204, summary="Remove a channel (its posts stop)")
    async def remove_channel(name: str, who: WardAdmin) -> Response:
        await desk.remove(who, name)
        return Response(status_code=204)

    @router.post(
        "/channels/{name}/branding/{kind}",
        summary="Upload the channel's logo (PNG/JPEG), intro or outro (video), as multipart field `file`",
        openapi_extra=_UPLOAD_BODY,
        dependencies=[Depends(desk.check_length)],
    )
    async def upload_branding(name: str, kind: Kind, who: WardAdmin, request: Request) -> ChannelView:
        return view(await desk.brand(who, name, kind, request))

    @router.delete("/channels/{name}/branding/{kind}", summary="Stop using the channel's logo, intro or outro")
    async def clear_branding(name: str, kind: Kind, who: WardAdmin) -> ChannelView:
        return view(await desk.unbrand(who, name, kind))

    return router
