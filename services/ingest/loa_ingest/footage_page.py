"""The footage page, /ui/footage/{id}, and the footage list, /ui/footage: where one upload stands at every stage, a
player for each cut, its stills, and every post with its channel, text, schedule, platform link, state and last error
with what to do about it; an approver approves (optionally with changed text) or rejects from here.

The cuts and stills are streamed from storage through `GET /footage/{id}/cuts/{profile}` and `/stills/{kind}`
(the caller's role and ward checked, HTTP Range honoured so a <video> can seek), never through a public URL. Where a
footage stands comes from metrics through the relay (status.py), whose 404 for another ward's footage is the ward
check; the text each channel will post is rendered here with the publisher's own code (loa_core.posttext) from the
footage's recorded upload event (the catalog).
"""
# No `from __future__ import annotations` here: FastAPI must resolve the route annotations, which use locals.

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from loa_core.auth import Caller, Role
from loa_core.contracts import (
    FOOTAGE_STATUSES,
    MANUAL_ACTION_URLS,
    PLATFORM_ACTIONS,
    ChannelName,
    FootageId,
    FootageList,
    FootageMetadata,
    FootageStatus,
    FootageView,
    PostDecision,
    ProfileName,
    Unpublish,
    allows,
    layout,
)
from loa_core.contracts import PostText as DecidedText
from loa_core.contracts.channels import Channel
from loa_core.posttext import LIMITS, Limits, PostText, approved, render
from loa_core.storage import ObjectNotFound, RangeNotSatisfiable, Storage
from loa_ingest.accounts import Session
from loa_ingest.advice import EDIT_AND_RESUBMIT, Advice, advise
from loa_ingest.audit import AuditLog, Recorded
from loa_ingest.catalog import Catalog
from loa_ingest.channels import ChannelStore
from loa_ingest.pages import SessionOf, Strings, language_of, sign_in_first
from loa_ingest.pages import render as render_page
from loa_ingest.signin import relayed_credential
from loa_ingest.status import StatusRefused, StatusRelay, StatusUnavailable

Requires = Callable[[Role], Callable[..., Awaitable[Caller]]]
STILLS = ("thumbnail", "cover")
# The candidate frames transcode makes into both stills (`thumbnail-N`, `cover-N`) for a person to pick per post.
FRAMES = (1, 2, 3)
CANDIDATES = tuple(f"{kind}-{n}" for kind in STILLS for n in FRAMES)
# What an approval record (contracts.decisions PostText) takes as a title, whatever the platform allows.
APPROVAL_TITLE_CHARS = 200
NOT_FOUND = "No such footage in your ward. / Không tìm thấy video này trong phường của bạn."

STRINGS: Strings = {
    "list_title": ("Video đã tải lên", "Uploaded footage"),
    "footage_page": ("Danh sách video", "Footage"),
    "reports_page": ("Báo cáo", "Reports"),
    "channels_page": ("Kênh", "Channels"),
    "inbox_page": ("Hộp thư", "Inbox"),
    "stages": ("Các bước", "Stages"),
    "stage_uploaded": ("Đã tải lên", "Uploaded"),
    "stage_transcoded": ("Đã dựng", "Cut"),
    "stage_published": ("Đã đăng", "Published"),
    "not_yet": ("Chưa", "Not yet"),
    "status": ("Trạng thái", "State"),
    "status_unknown": ("Chưa rõ", "Unknown"),
    "status_uploaded": ("Đã tải lên", "Uploaded"),
    "status_transcoded": ("Đã dựng xong", "Cut"),
    "status_publishing": ("Đang đăng", "Publishing"),
    "status_published": ("Đã đăng", "Published"),
    "status_failed": ("Cần xử lý", "Needs attention"),
    "cuts": ("Bản dựng", "Cuts"),
    "seal": (
        "Đã niêm phong: bản sao của bản dựng này kiểm tra được là của phường.",
        "Sealed: a copy of this cut can be checked as the ward's.",
    ),
    "seal_check": ("Kiểm tra video", "Check a video"),
    "no_cuts": ("Chưa có bản dựng nào.", "No cut yet."),
    "stills": ("Ảnh đại diện và ảnh bìa", "Thumbnail and cover"),
    "still_thumbnail": ("Ảnh đại diện 16:9", "Thumbnail 16:9"),
    "still_cover": ("Ảnh bìa 9:16", "Cover 9:16"),
    "posts": ("Bài đăng", "Posts"),
    "channel": ("Kênh", "Channel"),
    "schedule": ("Giờ đăng", "Publish time"),
    "at_once": ("Ngay khi sẵn sàng", "As soon as ready"),
    "post_awaiting": ("Chờ duyệt", "Awaiting approval"),
    "post_approved": ("Đã duyệt", "Approved"),
    "post_rejected": ("Bị từ chối", "Rejected"),
    "post_published": ("Đã đăng", "Published"),
    "post_edited": ("Đã đăng, đã sửa", "Published, edited"),
    "post_unpublished": ("Đã gỡ", "Taken down"),
    "post_failed": ("Lỗi", "Failed"),
    "post_pending": ("Đang xử lý", "On its way"),
    "open_post": ("Xem trên nền tảng", "Open on the platform"),
    "reason": ("Lý do", "Reason"),
    "last_error": ("Lỗi gần nhất (lời của nền tảng)", "Last error (the platform's words)"),
    "what_to_do": ("Cần làm gì", "What to do"),
    "post_title": ("Tiêu đề", "Title"),
    "post_description": ("Mô tả", "Description"),
    "post_caption": ("Chú thích (cả thẻ #)", "Caption (hashtags included)"),
    "chars": ("ký tự", "characters"),
    "bytes": ("byte", "bytes"),
    "forbidden": ("Không được dùng", "Not allowed"),
    "over_limit": ("Quá giới hạn của nền tảng", "Over the platform's limit"),
    "no_description": ("Nền tảng này chỉ có một phần chú thích.", "This platform has a single caption."),
    "text_note": (
        "Nội dung dựng từ mẫu của kênh. Biên tập viên có thể sửa và lưu trước khi đăng; người duyệt có thể sửa trước "
        "khi duyệt; nội dung đã duyệt mà bị sửa cần duyệt lại.",
        "Rendered from the channel's templates. An editor may change and save it before it goes out, an approver "
        "before approving; approved text that changes needs approval again.",
    ),
    "text_drafted": (
        "Nội dung đã được người biên tập hoặc người duyệt sửa (không còn theo mẫu của kênh).",
        "Text changed by an editor or an approver (no longer the channel's templates).",
    ),
    "save_text": ("Lưu nội dung", "Save text"),
    "pick_still": (
        "Ảnh cho bài (nền tảng nhận ảnh nếu có thể)",
        "The post's still (sent where the platform takes one)",
    ),
    "still_default": ("Tự chọn", "Automatic"),
    "still_frame": ("Khung hình", "Frame"),
    "text_saved": ("Đã lưu nội dung; bài sẽ đăng với nội dung này.", "Text saved; the post goes out with it."),
    "text_saved_approval": (
        "Đã lưu nội dung; bài chờ người duyệt duyệt nội dung mới.",
        "Text saved; the post waits for an approver to approve the new text.",
    ),
    "retry": ("Thử lại", "Retry"),
    "retried": (
        "Đã gửi lại các bài lỗi của video này; trang cập nhật khi nền tảng trả lời (tải lại trang).",
        "The footage's failed posts are on their way again; reload the page to see how it went.",
    ),
    "approve": ("Duyệt", "Approve"),
    "approve_changed": ("Duyệt với nội dung đã sửa", "Approve with the changed text"),
    "reject": ("Từ chối", "Reject"),
    "reject_reason": ("Lý do từ chối (người biên tập sẽ thấy)", "Why (the editor sees it)"),
    "decided": ("Đã ghi quyết định.", "Decision recorded."),
    "by": ("bởi", "by"),
    "cuts_not_ready": (
        "Chưa duyệt được: các bản dựng của kênh chưa xong.",
        "Cannot be approved yet: the channel's cuts are not ready.",
    ),
    "filter": ("Lọc", "Filter"),
    "all": ("Tất cả", "All"),
    "series": ("Chuỗi", "Series"),
    "date_from": ("Từ ngày", "From"),
    "date_to": ("Đến ngày", "To"),
    "title_col": ("Tiêu đề", "Title"),
    "none_found": ("Không có video nào khớp.", "No footage matches."),
    "status_away": (
        "Chưa lấy được trạng thái từ dịch vụ đo lường; hãy tải lại sau ít giây.",
        "The status service is not answering; reload in a few seconds.",
    ),
    "fix_post": ("Sửa bài đã đăng", "Fix what went out"),
    "edit_title": ("Sửa tiêu đề", "Edit title"),
    "edit_note": (
        "Tiêu đề và mô tả mới được gửi lên nền tảng thay cho nội dung đang hiển thị.",
        "The new title and description replace what the platform shows now.",
    ),
    "edit_sent": (
        "Đã gửi yêu cầu sửa; trang cập nhật khi nền tảng trả lời (tải lại trang).",
        "The change is on its way; reload the page to see how it went.",
    ),
    "take_down": ("Gỡ bài", "Take down"),
    "how_delete": ("Xóa hẳn", "Delete it"),
    "how_private": ("Chuyển sang riêng tư", "Make it private"),
    "take_down_confirm": (
        "Gỡ bài này khỏi nền tảng? Người xem sẽ không còn thấy bài.",
        "Take this post down from the platform? Viewers will no longer see it.",
    ),
    "taken_down_sent": (
        "Đã gửi yêu cầu gỡ bài; trang cập nhật khi nền tảng trả lời (tải lại trang).",
        "The take-down is on its way; reload the page to see how it went.",
    ),
    "by_hand": (
        "Nền tảng này không có API để sửa hay gỡ bài đã đăng: hãy làm trực tiếp trong ứng dụng hoặc tại",
        "This platform offers no API to change or take down a post: do it by hand in its app or at",
    ),
    "unknown_text": (
        "Chưa đọc được nội dung bài (video được tải lên trước khi Loa lưu nội dung).",
        "The post text is not known (uploaded before Loa kept it).",
    ),
}


# -- Range requests (RFC 9110 §14) ----------------------------------------------------------------------------------


class Unsatisfiable(ValueError):
    """A Range no byte of the object satisfies: answered 416 with `Content-Range: bytes */size`."""


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a Range header asks of an object of `size` bytes, None for the whole object (no
    header, another unit, several ranges or a malformed one: a server may ignore those and answer 200)."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable(header)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid syntax: ignored
    if start >= size:
        raise Unsatisfiable(header)
    return start, min(end, size - 1)


# -- what the page shows of each post ---------------------------------------------------------------------------------

PostState = Literal["awaiting", "approved", "rejected", "published", "edited", "unpublished", "failed", "pending"]


@dataclass(frozen=True)
class PostRow:
    channel: ChannelName
    platform: str
    profiles: tuple[str, ...]
    state: PostState
    approval_required: bool
    urls: tuple[str, ...]
    schedule: datetime | None
    reason: str | None  # the approver's reason, or the last error (the platform's words)
    by: str | None
    advice: Advice | None
    text: PostText | None  # as it will go out (rendered from the channel's templates), None if unknown
    drafted: bool  # `text` is a person's (an editor's edit, an approver's change), not the templates'
    frame: int | None  # the candidate frame a person picked for the post's still, None: the default
    limits: Limits
    cuts: dict[str, str] | None  # profile -> sha256 of the cuts an approval names; None until every one is known


def post_rows(
    view: FootageView,
    channels: dict[str, Channel],
    metadata: FootageMetadata | None,
    drafts: dict[str, PostDecision] | None = None,
) -> list[PostRow]:
    """One row per channel the footage goes to: its state (published, failed, or where it stands with the
    approvers, else on its way), the newest unresolved error with its advice, and the text it will post: the newest
    decision's text per channel (`drafts`: an editor's edit, an approver's change) else the channel's templates'."""
    drafts = drafts or {}
    shas = {r.profile: r.sha256 for r in view.stages.transcoded.renditions}
    rows = []
    for name in view.channels:
        channel = channels.get(name)
        platform = channel.platform if channel else next((p.platform for p in view.stages.published.posts), "local")
        profiles = channel.profiles if channel else ()
        posts = [p for p in view.stages.published.posts if p.channel == name]
        approvals = [a for a in view.stages.published.approvals if a.channel == name]
        errors = [e for e in view.errors if e.channel == name and not e.resolved]
        state: PostState
        reason = by = None
        rejection = next((a for a in approvals if a.state == "rejected"), None)
        advice = None
        if posts and len(posts) >= max(1, len(profiles)):
            # After a person's action (posts.changed): taken down once every cut is, edited once any is.
            taken_down = all(p.state == "unpublished" for p in posts)
            state = (
                "unpublished" if taken_down else "edited" if any(p.state == "edited" for p in posts) else "published"
            )
        elif rejection is not None:  # the publisher also says so on posts.failed: the approver's words come first
            state, reason, by, advice = "rejected", rejection.reason, rejection.by, EDIT_AND_RESUBMIT
        elif errors:
            state, reason = "failed", max(errors, key=lambda e: e.at).reason
            advice = advise(platform, reason)
        elif approvals:
            newest = approvals[0]
            state, reason, by = newest.state, newest.reason, newest.by
        else:
            state = "pending"
        cuts = {p: shas.get(p) for p in profiles}
        draft = drafts.get(name)
        rows.append(
            PostRow(
                channel=name,
                platform=platform,
                profiles=tuple(profiles),
                state=state,
                approval_required=bool(channel and channel.approval_required),
                urls=tuple(p.url for p in posts if p.url and p.state != "unpublished"),
                schedule=metadata.publish_at.get(name) if metadata else None,
                reason=reason,
                by=by,
                advice=advice,
                text=_text(channel, metadata, view.footage_id, draft.text if draft else None),
                drafted=channel is not None and draft is not None and draft.text is not None,
                frame=draft.frame if draft else None,
                limits=LIMITS.get(platform, LIMITS["local"]),
                cuts={p: s for p, s in cuts.items() if s} if all(cuts.values()) and cuts else None,
            )
        )
    return rows


def _text(
    channel: Channel | None, metadata: FootageMetadata | None, footage_id: str, draft: DecidedText | None
) -> PostText | None:
    if channel is not None and draft is not None:
        return approved(channel, draft)
    return None if channel is None or metadata is None else render(channel, metadata, footage_id)


@dataclass(frozen=True)
class PostActions:
    """What the page offers a person for a post that went out (the same rules as actions_api's routes)."""

    edit: bool  # change its title and description
    unpublish: tuple[Unpublish, ...]  # the ways to take it down, first the default; () none
    by_hand: str | None  # where to do it by hand, on a platform whose API cannot

    @property
    def any(self) -> bool:
        return self.edit or bool(self.unpublish) or self.by_hand is not None


NO_ACTIONS = PostActions(edit=False, unpublish=(), by_hand=None)


def post_actions(row: PostRow, editor: bool, approver: bool) -> PostActions:
    """For a published (or edited) post: Edit title where the platform allows it, to an approver on a channel that
    requires approval, else to an editor; Take down to an editor where the platform allows it; on a platform with
    neither (TikTok), where to do it by hand."""
    if row.state not in ("published", "edited"):
        return NO_ACTIONS
    ways = PLATFORM_ACTIONS.get(row.platform, {}).get("unpublish", ())
    return PostActions(
        edit=allows(row.platform, "edit") and (approver if row.approval_required else editor),
        unpublish=tuple(ways) if editor and allows(row.platform, "unpublish") else (),
        by_hand=MANUAL_ACTION_URLS.get(row.platform),
    )


def drafts_of(entries: list[Recorded]) -> dict[str, PostDecision]:
    """Each channel's newest decision (entries oldest first, as the audit log lists them): its text and picked frame
    are what the publisher would post (contracts.decisions.chosen_text/chosen_frame, once approved where approval is
    required)."""
    newest: dict[str, PostDecision] = {}
    for entry in entries:
        if isinstance(entry.entry, PostDecision):
            newest[entry.entry.channel] = entry.entry
    return newest


def limits_of(row: PostRow) -> dict[str, Any]:
    """What the page's script checks as the text is typed (the same numbers the publisher cuts to)."""
    limits = row.limits
    return {
        "title_chars": min(limits.title_chars, APPROVAL_TITLE_CHARS),
        "title_utf16": row.platform == "tiktok",
        "description_chars": limits.description_chars,
        "description_bytes": limits.description_bytes,
        "forbidden": limits.forbidden,
    }


# -- the routes -----------------------------------------------------------------------------------------------------


def footage_page_router(
    relay: StatusRelay,
    channels: ChannelStore,
    catalog: Catalog,
    storage: Storage,
    requires: Requires,
    session_of: SessionOf,
    audit: AuditLog | None = None,
) -> APIRouter:
    router = APIRouter()
    Viewer = Annotated[Caller, Depends(requires("viewer"))]
    Credentials = Annotated[str, Depends(relayed_credential)]

    async def view_of(footage_id: str, credentials: str, who: Caller) -> FootageView:
        try:
            view = await relay.footage(footage_id, credentials)
        except StatusRefused as exc:
            if exc.status_code == 404:
                raise HTTPException(404, NOT_FOUND) from exc
            raise HTTPException(exc.status_code if 400 <= exc.status_code < 500 else 502, exc.detail) from exc
        except StatusUnavailable as exc:
            raise HTTPException(
                502, "The status service (metrics) is not answering; try again shortly. / Chưa lấy được trạng thái."
            ) from exc
        if not who.sees(view.ward):
            raise HTTPException(404, NOT_FOUND)
        return view

    async def stream(request: Request, key: str, media_type: str) -> Response:
        try:
            size = await asyncio.to_thread(storage.size, key)
        except ObjectNotFound as exc:
            raise HTTPException(404, NOT_FOUND) from exc
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
        try:
            wanted = byte_range(request.headers.get("range"), size)
        except Unsatisfiable:
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        if size == 0:
            return Response(b"", media_type=media_type, headers=headers)
        start, end = wanted if wanted is not None else (0, size - 1)
        try:
            chunks: Iterator[bytes] = await asyncio.to_thread(storage.read_range, key, start, end)
        except RangeNotSatisfiable:  # the object shrank between size() and now
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        headers["Content-Length"] = str(end - start + 1)
        if wanted is None:
            return StreamingResponse(chunks, media_type=media_type, headers=headers)
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return StreamingResponse(chunks, status_code=206, media_type=media_type, headers=headers)

    @router.get(
        "/footage/{footage_id}/cuts/{profile}",
        tags=["footage"],
        summary="One cut of the footage, streamed from storage (HTTP Range honoured: 206, 416)",
        response_class=Response,
        responses={200: {"content": {"video/mp4": {}}}, 206: {"content": {"video/mp4": {}}}, 416: {}},
    )
    async def cut(
        footage_id: FootageId, profile: ProfileName, request: Request, who: Viewer, credentials: Credentials
    ) -> Response:
        view = await view_of(footage_id, credentials, who)
        rendition = next((r for r in view.stages.transcoded.renditions if r.profile == profile), None)
        if rendition is None:
            raise HTTPException(404, "No such cut of this footage. / Không có bản dựng này.")
        return await stream(request, rendition.key, "video/mp4")

    @router.get(
        "/footage/{footage_id}/stills/{kind}",
        tags=["footage"],
        summary="The footage's thumbnail (16:9) or cover (9:16), or a candidate (thumbnail-N, cover-N), from storage",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    async def still(
        footage_id: FootageId,
        kind: Annotated[str, Path(description="thumbnail, cover, thumbnail-N or cover-N")],
        request: Request,
        who: Viewer,
        credentials: Credentials,
    ) -> Response:
        await view_of(footage_id, credentials, who)
        if kind not in STILLS + CANDIDATES:
            raise HTTPException(
                404,
                "No such still: thumbnail, cover, thumbnail-N or cover-N. / Không có ảnh này: thumbnail, cover, "
                "thumbnail-N hoặc cover-N.",
            )
        return await stream(request, layout.image_key(footage_id, kind), "image/jpeg")

    signed_in_or_redirect = sign_in_first(session_of)

    def page(request: Request, template: str, context: dict[str, Any], session: Session | None) -> Response:
        return render_page(
            request,
            template,
            STRINGS,
            context,
            person=(session.account.display_name or session.account.username) if session else None,
            csrf_token=session.csrf_token if session else None,
        )

    async def guarded(request: Request) -> Session | None:
        return signed_in_or_redirect(request)

    Signed = Annotated[Session | None, Depends(guarded)]

    @router.get("/ui/footage/{footage_id}", include_in_schema=False)
    async def footage_page(
        footage_id: FootageId, request: Request, session: Signed, who: Viewer, credentials: Credentials
    ) -> Response:
        view = await view_of(footage_id, credentials, who)
        uploaded = await asyncio.to_thread(catalog.uploaded, footage_id)
        metadata = uploaded.metadata if uploaded is not None and who.sees(uploaded.ward) else None
        known = {s.channel.name: s.channel for s in channels.listed(view.ward)}
        decided = await asyncio.to_thread(audit.listed, view.ward, footage_id=footage_id) if audit else []
        rows = post_rows(view, known, metadata, drafts_of(decided))
        stills = [k for k in STILLS if await asyncio.to_thread(storage.exists, layout.image_key(footage_id, k))]
        frames = [
            n for n in FRAMES if await asyncio.to_thread(storage.exists, layout.image_key(footage_id, f"cover-{n}"))
        ]
        context = {
            "view": view,
            "rows": rows,
            "limits": {row.channel: limits_of(row) for row in rows},
            "actions": {row.channel: post_actions(row, who.allows("editor"), who.allows("approver")) for row in rows},
            "stills": stills,
            "frames": frames,
            "focus": request.query_params.get("channel"),
            "approver": who.allows("approver"),
            "editor": who.allows("editor"),
            "lang_code": language_of(request),
        }
        return page(request, "footage.html", context, session)

    @router.get("/ui/footage", include_in_schema=False)
    async def footage_list_page(
        request: Request,
        session: Signed,
        who: Viewer,
        credentials: Credentials,
        status_: Annotated[FootageStatus | None, Query(alias="status")] = None,
        channel: Annotated[str | None, Query(max_length=64)] = None,
        series: Annotated[str | None, Query(max_length=100)] = None,
        date_from: Annotated[date | None, Query(alias="from")] = None,
        date_to: Annotated[date | None, Query(alias="to")] = None,
        ward: Annotated[str | None, Query(max_length=64)] = None,  # a district admin's choice (the district page)
    ) -> Response:
        params = {
            "ward": ward or None,
            "status": status_,
            "series": series or None,
            "channel": channel or None,
            "from": date_from.isoformat() if date_from else None,
            "to": date_to.isoformat() if date_to else None,
            "limit": 200,
        }
        error = None
        listed = FootageList(items=(), limit=200, offset=0)
        try:
            listed = await relay.footage_list(params, credentials)
        except StatusUnavailable:
            error = "status_away"
        except StatusRefused as exc:
            raise HTTPException(exc.status_code if 400 <= exc.status_code < 500 else 502, exc.detail) from exc
        context = {
            "items": listed.items,
            "statuses": FOOTAGE_STATUSES,
            "channels": [s.channel.name for s in channels.listed(ward or who.ward_filter())],
            "filters": {
                "ward": ward or "",
                "status": status_.value if status_ else "",
                "channel": channel or "",
                "series": series or "",
                "from": params["from"] or "",
                "to": params["to"] or "",
            },
            "error": error,
            "reasons": {v.footage_id: _reason(v) for v in listed.items},
        }
        return page(request, "footage_list.html", context, session)

    return router


def _reason(view: FootageView) -> str | None:
    """The list's reason column: the newest unresolved error, else the newest rejection, else nothing."""
    errors = [e for e in view.errors if not e.resolved]
    if errors:
        newest = max(errors, key=lambda e: e.at)
        return f"{newest.channel}: {newest.reason}" if newest.channel else newest.reason
    for approval in view.stages.published.approvals:
        if approval.state == "rejected" and approval.reason:
            return f"{approval.channel}: {approval.reason}"
    return None
