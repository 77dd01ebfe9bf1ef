"""The channels page, /ui/channels: a ward admin sees its ward's channels and whether each is connected (with a
reconnect button), adds one, edits its cuts, privacy, templates and approval rule, uploads its logo, intro and outro,
and removes it. Server-rendered (pages.py), Vietnamese by default, plain forms that work on a phone.

Every form posts to the routes below, which do what the API does through the same `ChannelDesk` and answer with the
page again: after a change a redirect to it (so a reload does not post twice), after a refusal the page with the
refusal in the page's language.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

from collections.abc import Awaitable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from loa_core.auth import Caller
from loa_core.contracts import PLATFORMS
from loa_core.contracts.channels import PROFILE_NAMES
from loa_ingest.channels import StoredChannel
from loa_ingest.channels_api import ChannelChange, ChannelDesk, ChannelRequest, Kind, Option, Requires, refusal
from loa_ingest.pages import Lang, SessionOf, Strings, language_of, render, sign_in_first

PAGE = "/ui/channels"
# The option that sets who sees a post, and its choices, per platform (the publisher's adapters read these).
PRIVACY: dict[str, tuple[str, tuple[str, ...]]] = {
    "youtube": ("privacy", ("private", "unlisted", "public")),
    "tiktok": ("privacy_level", ("SELF_ONLY", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "PUBLIC_TO_EVERYONE")),
}
TEMPLATES = ("title_template", "description_template")
# The request's signed-in session (signin.py Gate.session_of): the person the page names and its forms' CSRF token.

STRINGS: Strings = {
    "title": ("Kênh của phường", "Ward channels"),
    "channels_page": ("Kênh", "Channels"),
    "intro": (
        "Mỗi kênh nhận các bản dựng đã chọn của mọi video phường đăng. Kênh nền tảng cần kết nối (đăng nhập bằng "
        "tài khoản của nền tảng) trước khi đăng; bài đăng chờ cho đến khi kênh được kết nối.",
        "Each channel receives the chosen cuts of every video the ward posts. A platform channel must be connected "
        "(signed in with the platform's account) before it posts; its posts wait until it is.",
    ),
    "none": ("Phường chưa có kênh nào.", "The ward has no channel yet."),
    "name": ("Tên kênh", "Channel name"),
    "name_hint": (
        "Chữ thường không dấu, số, - và _ (ví dụ p1-youtube); không đổi được sau này.",
        "Lowercase letters, digits, - and _ (e.g. p1-youtube); it cannot change later.",
    ),
    "platform": ("Nền tảng", "Platform"),
    "ward": ("Phường", "Ward"),
    "all_wards": ("Mọi phường", "Every ward"),
    "show": ("Xem", "Show"),
    "state": ("Trạng thái", "State"),
    "state_connected": ("Đã kết nối", "Connected"),
    "state_disconnected": ("Chưa kết nối", "Disconnected"),
    "reconnect": ("Kết nối lại", "Reconnect"),
    "connect": ("Kết nối", "Connect"),
    "cuts": ("Bản dựng", "Cuts"),
    "cut_tiktok": ("Dọc 9:16 (TikTok)", "Vertical 9:16 (TikTok)"),
    "cut_shorts": ("Dọc ngắn (YouTube Shorts)", "Vertical short (YouTube Shorts)"),
    "cut_youtube": ("Ngang 16:9", "Horizontal 16:9"),
    "cut_zalo": ("Ngang 720p (Zalo)", "Horizontal 720p (Zalo)"),
    "approval": ("Cần người duyệt trước khi đăng", "Needs an approver before posting"),
    "privacy": ("Ai được xem", "Who can see it"),
    "title_template": ("Mẫu tiêu đề", "Title template"),
    "description_template": ("Mẫu mô tả", "Description template"),
    "template_hint": (
        "Để trống để dùng mẫu mặc định; {{ title }} là tiêu đề của video.",
        "Leave empty for the default; {{ title }} is the video's title.",
    ),
    "save": ("Lưu", "Save"),
    "add": ("Thêm kênh", "Add a channel"),
    "add_button": ("Thêm", "Add"),
    "edit": ("Sửa", "Edit"),
    "remove": ("Xóa kênh", "Remove the channel"),
    "remove_confirm": ("Xóa kênh này? Bài chưa đăng sẽ không đăng lên kênh nữa.", "Remove this channel?"),
    "branding": ("Nhận diện", "Branding"),
    "logo": ("Logo (PNG hoặc JPEG, nên có nền trong suốt)", "Logo (PNG or JPEG, ideally transparent)"),
    "intro_clip": ("Đoạn mở đầu (video)", "Intro (video)"),
    "outro_clip": ("Đoạn kết thúc (video)", "Outro (video)"),
    "upload": ("Tải lên", "Upload"),
    "stop_using": ("Bỏ", "Stop using"),
    "in_use": ("Đang dùng", "In use"),
    "not_set": ("Chưa có", "Not set"),
    "saved": ("Đã lưu kênh", "Saved channel"),
    "removed": ("Đã xóa kênh", "Removed channel"),
    "pending_send": (
        "Thay đổi đã lưu; đang chờ gửi tới các dịch vụ.",
        "The change is saved; it is on its way to the services.",
    ),
}


def in_language(detail: Any, lang: Lang) -> str:
    """A refusal written "English / Vietnamese": the part in the page's language."""
    english, separator, vietnamese = str(detail).rpartition(" / ")
    if not separator:
        return str(detail)
    return vietnamese if lang == "vi" else english


def channel_rows(channels: list[StoredChannel]) -> list[dict[str, Any]]:
    """What the template shows of each channel (the privacy option it offers, the templates as set)."""
    rows = []
    for stored in channels:
        channel = stored.channel
        privacy = PRIVACY.get(channel.platform)
        rows.append(
            {
                "channel": channel,
                "stored": stored,
                "privacy_choices": privacy[1] if privacy else (),
                "privacy": channel.options.get(privacy[0], "") if privacy else "",
                "templates": {key: channel.options.get(key, "") for key in TEMPLATES},
            }
        )
    return rows


def edited_options(
    options: dict[str, Option], platform: str, privacy: str, templates: dict[str, str]
) -> dict[str, Any]:
    """The channel's options with the page's fields applied: an empty field removes its option, the rest stay."""
    merged: dict[str, Any] = dict(options)
    fields = dict(templates)
    if platform in PRIVACY:
        fields[PRIVACY[platform][0]] = privacy
    for key, value in fields.items():
        if value.strip():
            merged[key] = value.strip()
        else:
            merged.pop(key, None)
    return merged


def channels_page_router(desk: ChannelDesk, requires: Requires, session_of: SessionOf) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    WardAdmin = Annotated[Caller, Depends(requires("ward_admin"))]

    signed_in = sign_in_first(session_of)

    def page(
        request: Request,
        who: Caller,
        *,
        ward: str | None = None,
        error: HTTPException | None = None,
        done: tuple[str, str] | None = None,
    ) -> Response:
        session = session_of(request)
        lang = language_of(request)
        context = {
            "rows": channel_rows(desk.visible(who, ward)),
            "district": who.is_district,
            "ward": ward or "",
            "own_ward": who.ward or "",
            "platforms": PLATFORMS,
            "profiles": PROFILE_NAMES,
            "error": in_language(error.detail, lang) if error is not None else None,
            "done": done,
        }
        code = error.status_code if error is not None else status.HTTP_200_OK
        return render(
            request,
            "channels.html",
            STRINGS,
            context,
            status_code=code,
            person=(session.account.display_name or session.account.username) if session else None,
            csrf_token=session.csrf_token if session else None,
        )

    async def acted(request: Request, who: Caller, action: Awaitable[StoredChannel], done: str = "saved") -> Response:
        """After a change, a redirect to the page (so a reload does not post twice); after a refusal, the page."""
        try:
            stored = await action
        except HTTPException as refused:
            return page(request, who, error=refused)
        return RedirectResponse(f"{PAGE}?{done}={quote(stored.channel.name)}", status.HTTP_303_SEE_OTHER)

    @router.get(PAGE, dependencies=[Depends(signed_in)])
    async def channels_page(
        request: Request,
        who: WardAdmin,
        ward: Annotated[str | None, Query(max_length=40)] = None,  # the district admin's filter ("": every ward)
        saved: Annotated[str | None, Query(max_length=40)] = None,
        removed: Annotated[str | None, Query(max_length=40)] = None,
    ) -> Response:
        done = ("saved", saved) if saved else ("removed", removed) if removed else None
        return page(request, who, ward=ward or None, done=done)

    @router.post(PAGE)
    async def add(
        request: Request,
        who: WardAdmin,
        name: Annotated[str, Form(max_length=200)],
        platform: Annotated[str, Form(max_length=40)],
        profiles: Annotated[list[str] | None, Form()] = None,
        approval: Annotated[bool, Form()] = False,
        ward: Annotated[str, Form(max_length=40)] = "",
    ) -> Response:
        try:
            body = ChannelRequest(
                name=name.strip(),
                platform=platform,
                ward=ward.strip() or None,
                profiles=profiles or None,
                approval_required=approval,
            )
        except ValidationError:
            return page(request, who, error=refusal(422, "That is not a ward id.", "Mã phường không hợp lệ."))
        return await acted(request, who, desk.add(who, body))

    @router.post(PAGE + "/{name}")
    async def edit(
        request: Request,
        who: WardAdmin,
        name: str,
        profiles: Annotated[list[str] | None, Form()] = None,
        approval: Annotated[bool, Form()] = False,
        privacy: Annotated[str, Form(max_length=100)] = "",
        title_template: Annotated[str, Form(max_length=5000)] = "",
        description_template: Annotated[str, Form(max_length=5000)] = "",
    ) -> Response:
        async def change() -> StoredChannel:
            channel = desk.one(who, name).channel
            templates = {"title_template": title_template, "description_template": description_template}
            options = edited_options(channel.options, channel.platform, privacy, templates)
            return await desk.change(
                who, name, ChannelChange(profiles=profiles or [], options=options, approval_required=approval)
            )

        return await acted(request, who, change())

    @router.post(PAGE + "/{name}/remove")
    async def remove(request: Request, who: WardAdmin, name: str) -> Response:
        return await acted(request, who, desk.remove(who, name), "removed")

    @router.post(PAGE + "/{name}/branding/{kind}", dependencies=[Depends(desk.check_length)])
    async def brand(request: Request, who: WardAdmin, name: str, kind: Kind) -> Response:
        return await acted(request, who, desk.brand(who, name, kind, request))

    @router.post(PAGE + "/{name}/branding/{kind}/clear")
    async def unbrand(request: Request, who: WardAdmin, name: str, kind: Kind) -> Response:
        return await acted(request, who, desk.unbrand(who, name, kind))

    return router
