"""The citizens' inbox page, /ui/inbox: a ward's comments and messages newest first (from metrics, relayed with the
caller's credential), each with its post, channel, author, words and a link to it on the platform, its topic (the
department), who has it, its replies as they stand, overdue ones highlighted; and the forms to act on one (reply,
tag, assign, mark handled or reopen, hide or show again), each a plain form post (CSRF field) through the same desk
as the API (loa_ingest/inbox_api.py), so a phone without scripts works too.

What a platform's API cannot do is not offered: the page says where a person does it by hand; a channel that
collects nothing (TikTok: its API gives no comments) is named as such.
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from loa_core.auth import Caller
from loa_core.contracts import ChannelState, Id, InboxItem, InboxList
from loa_core.contracts.feedback import FEEDBACK_ABILITIES, MAX_REPLY, ActionKind, can
from loa_ingest.approval_api import Requires
from loa_ingest.channels import ChannelStore
from loa_ingest.inbox_api import InboxDesk, manual_place, read, who_may
from loa_ingest.pages import SessionOf, Strings, render, sign_in_first
from loa_ingest.signin import relayed_credential
from loa_ingest.status import StatusUnavailable

RULES_HELP = (
    "Một dòng một chủ đề: mã | tên phòng ban | từ khoá, từ khoá… | ngoại lệ, ngoại lệ… (có dấu hoặc không dấu).",
    "One topic a line: code | department | keyword, keyword… | exception, exception… (with or without diacritics).",
)


STRINGS: Strings = {
    "inbox_title": ("Hộp thư người dân", "Citizens' inbox"),
    "inbox_page": ("Hộp thư", "Inbox"),
    "footage_page": ("Danh sách video", "Footage"),
    "channels_page": ("Kênh", "Channels"),
    "open_count": ("Chưa xử lý", "Open"),
    "overdue_count": ("Quá hạn", "Overdue"),
    "target": ("Thời hạn trả lời", "Response time"),
    "hours": ("giờ", "hours"),
    "state": ("Trạng thái", "State"),
    "state_open": ("Chưa xử lý", "Open"),
    "state_handled": ("Đã xử lý", "Handled"),
    "state_all": ("Tất cả", "All"),
    "only_overdue": ("Chỉ mục quá hạn", "Overdue only"),
    "only_mine": ("Giao cho tôi", "Assigned to me"),
    "topic": ("Chủ đề", "Topic"),
    "channel": ("Kênh", "Channel"),
    "all": ("Tất cả", "All"),
    "filter": ("Lọc", "Filter"),
    "none_found": ("Không có mục nào.", "Nothing here."),
    "comment": ("Bình luận", "Comment"),
    "message": ("Tin nhắn", "Message"),
    "under_post": ("Dưới bài", "Under"),
    "open_on_platform": ("Xem trên nền tảng", "Open on the platform"),
    "truncated": ("(đã cắt bớt: quá dài)", "(cut: too long)"),
    "by_rule": ("tự động", "by rule"),
    "no_topic": ("Chưa phân loại", "No topic"),
    "assigned_to": ("Người phụ trách", "Assigned to"),
    "nobody": ("Chưa giao", "Nobody"),
    "due": ("Hạn trả lời", "Answer by"),
    "overdue": ("Quá hạn", "Overdue"),
    "handled": ("Đã xử lý", "Handled"),
    "hidden": ("Đã ẩn", "Hidden"),
    "hide_pending": ("đang ẩn…", "hiding…"),
    "hide_failed": ("ẩn không được", "hiding failed"),
    "thread": ("Trả lời", "Replies"),
    "reply_pending": ("Đang gửi", "Sending"),
    "reply_posted": ("Đã đăng", "Posted"),
    "reply_failed": ("Không đăng được", "Failed"),
    "ward_itself": ("Phường (trên nền tảng)", "The ward (on the platform)"),
    "reply": ("Trả lời", "Reply"),
    "reply_placeholder": (
        "Viết câu trả lời, đăng dưới tên kênh của phường…",
        "Write a reply, posted as the ward's channel…",
    ),
    "tag": ("Gắn chủ đề", "Tag"),
    "assign": ("Giao", "Assign"),
    "mark_handled": ("Đánh dấu đã xử lý", "Mark handled"),
    "reopen": ("Mở lại", "Reopen"),
    "hide": ("Ẩn bình luận", "Hide comment"),
    "unhide": ("Hiện lại", "Show again"),
    "by_hand": (
        "Nền tảng này không có API cho việc này; hãy làm trực tiếp tại",
        "This platform has no API for this; do it by hand at",
    ),
    "cannot_reply": ("Không trả lời được qua Loa", "Cannot reply through Loa"),
    "cannot_hide": ("Không ẩn được qua Loa", "Cannot hide through Loa"),
    "reply_needs_approver": (
        "Trả lời trên kênh này cần người duyệt (kênh cần duyệt nội dung).",
        "Replying on this channel takes an approver (the channel requires approval).",
    ),
    "hide_needs_approver": ("Ẩn bình luận cần người duyệt.", "Hiding a comment takes an approver."),
    "collects_nothing": (
        "Kênh {channel} ({platform}) không thu thập bình luận: API của {platform} không cho Loa đọc bình luận.",
        "Channel {channel} ({platform}) collects nothing: {platform}'s API gives Loa no comments.",
    ),
    "rules_title": ("Quy tắc phân loại hộp thư", "The inbox's triage rules"),
    "rules_link": ("Quy tắc phân loại", "Triage rules"),
    "rules_help": RULES_HELP,
    "target_hours": ("Thời hạn trả lời (giờ)", "Response time (hours)"),
    "save": ("Lưu", "Save"),
    "saved": ("Đã lưu. Quy tắc áp dụng cho bình luận mới đến.", "Saved. The rules apply to comments from now on."),
    "status_away": (
        "Hộp thư (dịch vụ metrics) chưa trả lời; hãy tải lại trang sau ít phút.",
        "The inbox (metrics) is not answering; reload the page in a few minutes.",
    ),
}


@dataclass(frozen=True)
class Offer:
    """What the page offers on one item to one person: each act allowed, or why not (a note)."""

    reply: bool
    reply_note: str | None  # "cannot_reply" (with where by hand) or "reply_needs_approver"
    hide: bool
    hide_note: str | None
    bookkeeping: bool  # tag, assign, handled/reopen
    by_hand: str | None


def offer(item: InboxItem, approval_required: bool, who: Caller) -> Offer:
    """Pure: what `who` may do on `item` from the page (the desk checks it again when the form comes)."""

    def allowed(action: ActionKind) -> bool:
        return who.allows(who_may(action, approval_required))

    reply_note = None
    if not can(item.platform, "reply"):
        reply_note = "cannot_reply"
    elif not allowed("reply"):
        reply_note = "reply_needs_approver"
    hide_note = None
    if item.kind != "comment" or not can(item.platform, "hide"):
        hide_note = "cannot_hide"
    elif not allowed("hide"):
        hide_note = "hide_needs_approver"
    return Offer(
        reply=reply_note is None,
        reply_note=reply_note,
        hide=hide_note is None,
        hide_note=hide_note,
        bookkeeping=who.allows("editor"),
        by_hand=manual_place(item.platform),
    )


def format_rules(rules: list[dict[str, Any]]) -> str:
    """A ward's rules as the form's text: one topic a line, `topic | department | keywords | exceptions`."""
    lines = []
    for rule in rules:
        parts = [rule["topic"], rule["department"], ", ".join(rule["keywords"]), ", ".join(rule.get("exceptions", []))]
        lines.append(" | ".join(parts).rstrip(" |"))
    return "\n".join(lines)


def parse_rules(text: str) -> list[dict[str, Any]]:
    """The form's text back as rules (pure); ValueError in both languages naming the line that is wrong. What each
    field may hold (a topic's code, lengths) metrics checks again (422 with its reason)."""
    rules = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) not in (3, 4) or not parts[0] or not parts[1]:
            raise ValueError(
                f"Line {number}: write code | department | keywords (| exceptions). / Dòng {number}: hãy viết "
                "mã | tên phòng ban | từ khoá (| ngoại lệ)."
            )
        keywords = [k.strip() for k in parts[2].split(",") if k.strip()]
        exceptions = [k.strip() for k in parts[3].split(",") if k.strip()] if len(parts) == 4 else []
        if not keywords:
            raise ValueError(f"Line {number}: no keyword. / Dòng {number}: chưa có từ khoá nào.")
        rules.append({"topic": parts[0], "department": parts[1], "keywords": keywords, "exceptions": exceptions})
    return rules


def _back(value: str) -> str:
    """Where a form post returns: the inbox page with its filters, never another site."""
    return value if value.startswith("/ui/inbox") and "//" not in value and "\\" not in value else "/ui/inbox"


def inbox_page_router(desk: InboxDesk, channels: ChannelStore, requires: Requires, session_of: SessionOf) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    Credentials = Annotated[str, Depends(relayed_credential)]
    Signed = Annotated[Any, Depends(sign_in_first(session_of))]

    async def page(
        request: Request,
        who: Caller,
        session: Any,
        credentials: str,
        params: dict[str, Any],
        error: str | None = None,
        status_code: int = 200,
    ) -> Response:
        listed = InboxList(items=(), limit=100, offset=0)
        away = None
        try:
            listed = await desk.listing(params, credentials)
        except HTTPException as exc:
            if exc.status_code != status.HTTP_502_BAD_GATEWAY:
                raise
            away = "status_away"
        ward = who.ward_filter()
        known = {s.channel.name: s.channel for s in channels.listed(ward) if s.channel.state != ChannelState.REMOVED}
        people = {a.id: a.display_name or a.username for a in desk.people.list(ward) if a.disabled_at is None}
        silent = [
            c for c in known.values() if not FEEDBACK_ABILITIES.get(c.platform, frozenset()) & {"comments", "messages"}
        ]
        offers = {
            i.item_id: offer(i, known[i.channel].approval_required if i.channel in known else True, who)
            for i in listed.items
        }
        context = {
            "listed": listed,
            "offers": offers,
            "people": people,
            "channels": sorted(known),
            "silent": [c for c in silent if c.platform != "local"],
            "filters": params,
            "me": who.account,
            "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            "error": error,
            "away": away,
            "max_reply": MAX_REPLY,
            "ward_admin": who.allows("ward_admin"),
        }
        return render(
            request,
            "inbox.html",
            STRINGS,
            context,
            status_code=status_code,
            person=(session.account.display_name or session.account.username) if session else None,
            csrf_token=session.csrf_token if session else None,
        )

    def params_of(
        state: str, overdue: bool, mine: bool, topic: str | None, channel: str | None, who: Caller
    ) -> dict[str, Any]:
        return {
            "state": state,
            "overdue": "true" if overdue else None,
            "mine": "1" if mine else None,
            "assignee": who.account if mine else None,
            "topic": topic or None,
            "channel": channel or None,
            "limit": 100,
            "offset": 0,
        }

    @router.get("/ui/inbox")
    async def inbox_page(
        request: Request,
        session: Signed,
        who: Viewer,
        credentials: Credentials,
        state: Annotated[Literal["open", "handled", "all"], Query()] = "open",
        overdue: Annotated[bool, Query()] = False,
        mine: Annotated[bool, Query()] = False,
        topic: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z0-9_-]*$")] = None,
        channel: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z0-9_-]*$")] = None,
    ) -> Response:
        return await page(request, who, session, credentials, params_of(state, overdue, mine, topic, channel, who))

    WardAdmin = Annotated[Caller, Depends(requires("ward_admin"))]

    def rules_page(
        request: Request, session: Any, rules: dict[str, Any], text: str, error: str | None, code: int = 200
    ) -> Response:
        context = {
            "rules_text": text,
            "target": rules.get("target_hours", 48),
            "error": error,
            "saved": request.query_params.get("saved") == "1",
        }
        return render(
            request,
            "inbox_rules.html",
            STRINGS,
            context,
            status_code=code,
            person=(session.account.display_name or session.account.username) if session else None,
            csrf_token=session.csrf_token if session else None,
        )

    @router.get("/ui/inbox/rules")
    async def rules_form(request: Request, session: Signed, _: WardAdmin, credentials: Credentials) -> Response:
        rules = await read(desk.source.inbox_rules(credentials))
        return rules_page(request, session, rules, format_rules(rules["rules"]), None)

    @router.post("/ui/inbox/rules")
    async def rules_save(
        request: Request,
        session: Signed,
        _: WardAdmin,
        credentials: Credentials,
        target_hours: Annotated[int, Form(ge=1, le=24 * 90)],
        rules: Annotated[str, Form(max_length=50_000)] = "",
    ) -> Response:
        try:
            await read(
                desk.source.inbox_rules(credentials, {"target_hours": target_hours, "rules": parse_rules(rules)})
            )
        except (ValueError, HTTPException) as exc:
            detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
            code = exc.status_code if isinstance(exc, HTTPException) else 422
            message = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)[:1000]
            return rules_page(request, session, {"target_hours": target_hours}, rules, message, code)
        return RedirectResponse("/ui/inbox/rules?saved=1", status_code=status.HTTP_303_SEE_OTHER)

    @router.post("/ui/inbox/{item_id}")
    async def act_from_page(
        item_id: Id,
        request: Request,
        session: Signed,
        who: Viewer,
        credentials: Credentials,
        action: Annotated[Literal["assign", "tag", "handled", "reopen", "hide", "unhide", "reply"], Form()],
        assignee: Annotated[str, Form(max_length=200)] = "",
        topic: Annotated[str, Form(max_length=40)] = "",
        text: Annotated[str, Form(max_length=MAX_REPLY * 2)] = "",
        back: Annotated[str, Form(max_length=2000)] = "/ui/inbox",
    ) -> Response:
        fields: dict[str, Any] = {}
        if action == "assign":
            fields["assignee"] = assignee or None
        elif action == "tag":
            fields["topic"] = topic
        elif action == "reply":
            fields["text"] = text.strip()
        try:
            await desk.act(item_id, who, credentials, action, **fields)
        except (HTTPException, ValueError) as exc:
            code = exc.status_code if isinstance(exc, HTTPException) else 422
            detail = exc.detail if isinstance(exc, HTTPException) else _invalid(action)
            params = params_of("open", False, False, None, None, who)
            return await page(request, who, session, credentials, params, str(detail), code)
        except StatusUnavailable:
            params = params_of("open", False, False, None, None, who)
            return await page(request, who, session, credentials, params, None, 502)
        return RedirectResponse(f"{_back(back)}#item-{item_id}", status_code=status.HTTP_303_SEE_OTHER)

    return router


def _invalid(action: str) -> str:
    if action == "reply":
        return f"A reply has 1 to {MAX_REPLY} characters. / Câu trả lời có từ 1 đến {MAX_REPLY} ký tự."
    return "Check what you chose and try again. / Hãy kiểm tra lựa chọn rồi thử lại."
