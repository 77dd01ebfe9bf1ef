"""The footage page's decisions, pure: which bytes a Range header asks for, what each post's row says (its state,
reason, advice, cuts an approval names, text as it will go out), and which actions on a post that went out the page
offers to whom (Edit title, Take down, or where to do it by hand), as rendered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from starlette.requests import Request

from loa_core.contracts import (
    ApprovalView,
    FailureView,
    FootageMetadata,
    FootageStatus,
    FootageView,
    PostDecision,
    PostText,
    PostView,
    PublishedStage,
    RenditionView,
    Stages,
    TranscodedStage,
    UploadedStage,
)
from loa_core.contracts.channels import Channel
from loa_ingest.advice import Action
from loa_ingest.footage_page import (
    STRINGS,
    PostActions,
    PostRow,
    Unsatisfiable,
    byte_range,
    limits_of,
    post_actions,
    post_rows,
)
from loa_ingest.pages import render

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", (0, 0)),
        ("bytes=0-", (0, 999)),
        ("bytes=500-599", (500, 599)),
        ("bytes=900-5000", (900, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        (" bytes=1-2 ", (1, 2)),
        ("bytes=5-4", None),  # invalid: ignored, the whole object
        ("bytes=0-1,5-6", None),  # several ranges: answered whole
        ("items=0-1", None),
        ("bytes=-", None),
        ("bytes=x-1", None),
    ],
)
def test_the_range_asked(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, SIZE) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-1001", "bytes=-0"])
def test_a_range_past_the_end_is_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        byte_range(header, SIZE)


NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SHA = "a" * 64
FOOTAGE = "f" * 32
CHANNELS = {
    "p1-tiktok": Channel(name="p1-tiktok", platform="tiktok", profiles=("tiktok",), approval_required=True),
    "p1-youtube": Channel(name="p1-youtube", platform="youtube", profiles=("youtube",), approval_required=True),
    "p1-local": Channel(name="p1-local", platform="local", profiles=("tiktok", "youtube")),
}
METADATA = FootageMetadata(
    title="Lễ khánh thành <nhà văn hóa>",
    description="Mô tả",
    tags=("Văn hóa",),
    channels=tuple(CHANNELS),
    publish_at={"p1-youtube": datetime(2026, 12, 7, 8, 0, tzinfo=UTC)},
)


def _view(
    posts: tuple[PostView, ...] = (),
    approvals: tuple[ApprovalView, ...] = (),
    errors: tuple[FailureView, ...] = (),
    shas: dict[str, str | None] | None = None,
) -> FootageView:
    shas = {"tiktok": SHA, "youtube": SHA} if shas is None else shas
    renditions = tuple(
        RenditionView(profile=p, key=f"renditions/{FOOTAGE}/{p}.mp4", width=9, height=16, duration_s=1.0, sha256=s)
        for p, s in shas.items()
    )
    return FootageView(
        footage_id=FOOTAGE,
        title=METADATA.title,
        series=None,
        source="upload",
        channels=tuple(CHANNELS),
        status=FootageStatus.TRANSCODED,
        stages=Stages(
            uploaded=UploadedStage(at=NOW),
            transcoded=TranscodedStage(at=NOW, renditions=renditions),
            published=PublishedStage(posts=posts, expected=4, approvals=approvals),
        ),
        errors=errors,
    )


def _post(channel: str, profile: str, state: str = "published") -> PostView:
    return PostView.model_validate(
        {
            "channel": channel,
            "profile": profile,
            "platform": "local",
            "post_id": "x",
            "url": f"https://x/{profile}",
            "published_at": NOW,
            "state": state,
        }
    )


def test_each_channel_says_where_its_post_stands() -> None:
    view = _view(
        posts=(_post("p1-local", "tiktok"),),
        approvals=(
            ApprovalView(channel="p1-tiktok", profile="tiktok", state="rejected", reason="Sai tên phường", by="acc-1"),
            ApprovalView(channel="p1-youtube", profile="youtube", state="awaiting"),
        ),
    )
    rows = {row.channel: row for row in post_rows(view, CHANNELS, METADATA)}

    rejected = rows["p1-tiktok"]
    assert (rejected.state, rejected.reason, rejected.by) == ("rejected", "Sai tên phường", "acc-1")
    assert rejected.advice is not None and rejected.advice.action is Action.EDIT_AND_RESUBMIT
    assert rejected.cuts == {"tiktok": SHA} and rejected.approval_required
    assert rows["p1-youtube"].state == "awaiting" and rows["p1-youtube"].advice is None
    assert rows["p1-youtube"].schedule == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    # One of the local channel's two cuts is out: still on its way, with the link of the one that is.
    assert rows["p1-local"].state == "pending" and rows["p1-local"].urls == ("https://x/tiktok",)


def test_a_post_out_on_every_cut_is_published_and_an_unresolved_error_is_failed_with_advice() -> None:
    errors = (
        # A rejection is also a failure on posts.failed (the publisher's words): the approver's reason shows.
        FailureView(
            stage="publish",
            channel="p1-youtube",
            reason="rejected by an approver: Thiếu phụ đề / bị từ chối khi duyệt: Thiếu phụ đề",
            at=NOW,
            resolved=False,
        ),
        FailureView(stage="publish", channel="p1-youtube", reason="youtube: HTTP 401: x", at=NOW, resolved=True),
        FailureView(
            stage="publish", channel="p1-tiktok", reason="tiktok: access_token_invalid", at=NOW, resolved=False
        ),
    )
    rejected = ApprovalView(channel="p1-youtube", profile="youtube", state="rejected", reason="Thiếu phụ đề")
    view = _view(posts=(_post("p1-local", "tiktok"), _post("p1-local", "youtube")), errors=errors)
    rows = {row.channel: row for row in post_rows(view, CHANNELS, METADATA)}
    youtube = {row.channel: row for row in post_rows(_view(approvals=(rejected,), errors=errors), CHANNELS, None)}
    assert (youtube["p1-youtube"].state, youtube["p1-youtube"].reason) == ("rejected", "Thiếu phụ đề")

    assert rows["p1-local"].state == "published"
    failed = rows["p1-tiktok"]
    assert failed.state == "failed" and failed.reason == "tiktok: access_token_invalid"
    assert failed.advice is not None and failed.advice.action is Action.RECONNECT
    assert rows["p1-youtube"].state == "failed", "the newest unresolved failure counts"
    assert rows["p1-youtube"].advice is not None and rows["p1-youtube"].advice.action is Action.EDIT_AND_RESUBMIT


def test_a_post_a_person_edited_or_took_down_says_so() -> None:
    def state(*posts: PostView) -> tuple[str, tuple[str, ...]]:
        (row,) = [r for r in post_rows(_view(posts=posts), CHANNELS, METADATA) if r.channel == "p1-local"]
        return row.state, row.urls

    tiktok, youtube = ("p1-local", "tiktok"), ("p1-local", "youtube")
    assert state(_post(*tiktok, "edited"), _post(*youtube)) == ("edited", ("https://x/tiktok", "https://x/youtube"))
    assert state(_post(*tiktok, "unpublished"), _post(*youtube, "unpublished")) == ("unpublished", ())
    assert state(_post(*tiktok, "unpublished"), _post(*youtube)) == ("published", ("https://x/youtube",))


def test_the_text_is_the_channels_rendering_and_cuts_are_named_only_when_all_are_known() -> None:
    rows = {row.channel: row for row in post_rows(_view(shas={"tiktok": SHA, "youtube": None}), CHANNELS, METADATA)}

    youtube = rows["p1-youtube"]
    assert youtube.text is not None and youtube.text.title == "Lễ khánh thành ‹nhà văn hóa›", "YouTube refuses < >"
    assert rows["p1-tiktok"].text is not None and rows["p1-tiktok"].text.title.endswith("#Vănhóa")
    assert youtube.cuts is None, "no approval of a cut whose fingerprint is unknown"
    assert rows["p1-tiktok"].cuts == {"tiktok": SHA}
    assert all(row.text is None for row in post_rows(_view(), CHANNELS, None)), "no upload recorded: no text"


def test_a_persons_saved_text_is_the_post_text_within_the_platforms_limits() -> None:
    draft = PostText(title="Đã sửa <tiêu đề>", description="Mô tả mới", hashtags=("#PhườngMột",))
    edit = PostDecision(
        footage_id=FOOTAGE,
        channel="p1-youtube",
        decision="edited",
        by="acc",
        text=draft,
        text_sha256=draft.sha256(),
        frame=2,
    )
    rows = {row.channel: row for row in post_rows(_view(), CHANNELS, METADATA, {"p1-youtube": edit})}
    youtube = rows["p1-youtube"]
    assert youtube.drafted and youtube.text is not None and youtube.frame == 2
    assert rows["p1-tiktok"].frame is None
    assert (youtube.text.title, youtube.text.description) == ("Đã sửa ‹tiêu đề›", "Mô tả mới"), "YouTube refuses < >"
    assert not rows["p1-tiktok"].drafted and rows["p1-tiktok"].text is not None
    assert rows["p1-tiktok"].text.title.endswith("#Vănhóa"), "the others keep the channel's templates"


def _out(platform: str, approval: bool, state: str = "published") -> PostRow:
    (row,) = [r for r in post_rows(_view(), CHANNELS, METADATA) if r.channel == "p1-youtube"]
    return replace(row, platform=platform, approval_required=approval, state=state)  # type: ignore[arg-type]


TIKTOK_STUDIO = "https://www.tiktok.com/tiktokstudio/content"


@pytest.mark.parametrize(
    ("platform", "approval", "editor", "approver", "expected"),
    [
        # YouTube with approval: only an approver changes the words; any editor takes it down, deleted or private.
        ("youtube", True, True, True, PostActions(edit=True, unpublish=("delete", "private"), by_hand=None)),
        ("youtube", True, True, False, PostActions(edit=False, unpublish=("delete", "private"), by_hand=None)),
        ("youtube", False, True, False, PostActions(edit=True, unpublish=("delete", "private"), by_hand=None)),
        ("facebook", False, True, False, PostActions(edit=True, unpublish=("delete",), by_hand=None)),
        ("zalo", False, True, True, PostActions(edit=False, unpublish=("delete",), by_hand=None)),
        ("tiktok", True, True, True, PostActions(edit=False, unpublish=(), by_hand=TIKTOK_STUDIO)),
        ("local", False, True, True, PostActions(edit=False, unpublish=(), by_hand=None)),
        ("youtube", False, False, False, PostActions(edit=False, unpublish=(), by_hand=None)),  # a viewer
    ],
)
def test_which_actions_a_published_post_offers_to_whom(
    platform: str, approval: bool, editor: bool, approver: bool, expected: PostActions
) -> None:
    assert post_actions(_out(platform, approval), editor, approver) == expected
    assert post_actions(_out(platform, approval, "edited"), editor, approver) == expected, "edited: still out"


@pytest.mark.parametrize("state", ["pending", "awaiting", "approved", "rejected", "failed", "unpublished"])
def test_a_post_not_out_offers_no_action_on_the_platform(state: str) -> None:
    assert not post_actions(_out("youtube", False, state), editor=True, approver=True).any


def _page(rows: list[PostRow], editor: bool, approver: bool, lang: str = "vi") -> str:
    scope = {
        "type": "http",
        "method": "GET",
        "path": f"/ui/footage/{FOOTAGE}",
        "query_string": f"lang={lang}".encode(),
        "headers": [(b"host", b"loa.test")],
        "scheme": "http",
        "server": ("loa.test", 80),
    }
    context = {
        "view": _view(),
        "rows": rows,
        "limits": {row.channel: limits_of(row) for row in rows},
        "actions": {row.channel: post_actions(row, editor, approver) for row in rows},
        "stills": [],
        "frames": [],
        "focus": None,
        "approver": approver,
        "editor": editor,
        "lang_code": lang,
    }
    return bytes(render(Request(scope), "footage.html", STRINGS, context, csrf_token="csrf").body).decode()


def _article(html: str, channel: str) -> str:
    return html.split(f'id="post-{channel}"')[1].split("</article>")[0]


def test_the_page_renders_edit_and_take_down_where_allowed_and_tiktoks_way_by_hand() -> None:
    rows = [
        replace(_out("youtube", True), channel="p1-youtube"),
        replace(_out("tiktok", True), channel="p1-tiktok"),
        replace(_out("youtube", True, "failed"), channel="p1-local"),
    ]
    approver = _page(rows, editor=True, approver=True)
    youtube = _article(approver, "p1-youtube")
    assert 'class="edit-published"' in youtube and "Sửa tiêu đề" in youtube
    assert '"title_chars": 100' in youtube, "YouTube's title limit, counted as typed"
    assert 'class="unpublish danger"' in youtube and "Gỡ bài này khỏi nền tảng?" in youtube
    assert '<option value="private">Chuyển sang riêng tư</option>' in youtube
    assert 'data-role="by-hand"' not in youtube
    tiktok = _article(approver, "p1-tiktok")
    assert "edit-published" not in tiktok and "unpublish" not in tiktok
    assert f'href="{TIKTOK_STUDIO}"' in tiktok and "không có API để sửa hay gỡ" in tiktok
    assert 'data-role="actions"' not in _article(approver, "p1-local"), "a failed post: Retry, not these"

    editor = _article(_page(rows, editor=True, approver=False), "p1-youtube")
    assert "edit-published" not in editor, "a channel with approval: only an approver changes the words"
    assert 'class="unpublish danger"' in editor
    viewer = _page(rows, editor=False, approver=False)
    assert 'data-role="actions"' not in _article(viewer, "p1-youtube")
    assert f'href="{TIKTOK_STUDIO}"' in _article(viewer, "p1-tiktok"), "anyone may read where it is done by hand"

    english = _article(_page(rows, editor=True, approver=True, lang="en"), "p1-youtube")
    assert "Edit title" in english and "Take down" in english and "Make it private" in english
    assert "Take this post down from the platform?" in english
    assert "no API to change or take down" in _article(_page(rows, True, True, "en"), "p1-tiktok")
