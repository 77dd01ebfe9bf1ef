"""What a person can do about a failed post: the platform's own message (or the publisher's reason) read against a
table of known causes, answered with one action in Vietnamese and English.

Pure: `advise(platform, reason)` looks at the words only. The table is ordered (the first rule that matches wins),
each rule a platform (None: any) and case-insensitive patterns that the platforms' documented error codes and
messages contain (YouTube Data API errors, TikTok Content Posting API error codes, Graph API error codes, Zalo OA
error codes) or that the publisher writes itself (contracts' reasons: disconnected, awaiting approval, rejected).
A reason no rule knows gets the general advice (read the platform's message, retry, then ask the operator), never
nothing: the page always says what to do next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    RECONNECT = "reconnect"  # the platform no longer accepts the channel's sign-in
    PERMISSION = "permission"  # the sign-in lacks a permission, or the account may not post this way
    SHORTEN_TITLE = "shorten_title"
    FIX_TEXT = "fix_text"  # forbidden characters, an invalid description or hashtags
    WAIT_QUOTA = "wait_quota"  # the platform's daily quota or posting rate is spent
    FIX_VIDEO = "fix_video"  # the platform refused the file (format, length, size)
    APPROVE = "approve"  # the post waits for an approver
    EDIT_AND_RESUBMIT = "edit_and_resubmit"  # an approver rejected it
    RETRY = "retry"  # a temporary fault that lasted too long
    CHECK = "check"  # unknown: read the platform's message


@dataclass(frozen=True)
class Advice:
    action: Action
    vi: str
    en: str

    def say(self, lang: str) -> str:
        return self.vi if lang == "vi" else self.en


@dataclass(frozen=True)
class Rule:
    platform: str | None
    patterns: tuple[str, ...]
    advice: Advice

    def matches(self, platform: str | None, reason: str) -> bool:
        if self.platform is not None and self.platform != platform:
            return False
        return any(re.search(pattern, reason, re.IGNORECASE) for pattern in self.patterns)


RECONNECT = Advice(
    Action.RECONNECT,
    "Nền tảng không còn chấp nhận đăng nhập của kênh. Quản trị phường vào trang Kênh, bấm Kết nối lại, "
    "rồi bấm Thử lại.",
    "The platform no longer accepts the channel's sign-in. A ward admin opens Channels, taps Reconnect, then Retry.",
)
PERMISSION = Advice(
    Action.PERMISSION,
    "Tài khoản kênh chưa cấp đủ quyền đăng video (hoặc ứng dụng chưa được nền tảng duyệt). Quản trị phường kết nối "
    "lại kênh và đồng ý mọi quyền được hỏi; nếu vẫn lỗi, báo người vận hành.",
    "The channel's account has not granted the permission to post videos (or the platform has not approved the "
    "app). A ward admin reconnects the channel and allows every permission asked; if it persists, tell the operator.",
)
SHORTEN_TITLE = Advice(
    Action.SHORTEN_TITLE,
    "Tiêu đề không hợp lệ với nền tảng (quá dài, để trống hoặc có ký tự bị cấm như < >). Sửa tiêu đề trên trang "
    "này rồi bấm Thử lại.",
    "The platform refused the title (too long, empty, or with forbidden characters such as < >). Edit the title on "
    "this page, then tap Retry.",
)
FIX_TEXT = Advice(
    Action.FIX_TEXT,
    "Nền tảng từ chối phần mô tả hoặc thẻ (quá dài hoặc có ký tự bị cấm). Rút gọn mô tả, bớt thẻ, rồi bấm Thử lại.",
    "The platform refused the description or hashtags (too long or with forbidden characters). Shorten the "
    "description, drop some hashtags, then tap Retry.",
)
WAIT_QUOTA = Advice(
    Action.WAIT_QUOTA,
    "Kênh đã dùng hết lượt đăng của nền tảng trong hôm nay (hoặc đăng quá dày). Bài sẽ tự đăng khi hạn mức được cấp "
    "lại; không cần làm gì, hoặc hẹn giờ đăng muộn hơn.",
    "The channel has used the platform's posting quota for today (or posted too often). The post goes out by itself "
    "when the quota is renewed; nothing to do, or schedule it later.",
)
FIX_VIDEO = Advice(
    Action.FIX_VIDEO,
    "Nền tảng từ chối tệp video (định dạng, độ dài hoặc kích thước). Kiểm tra đoạn cắt (thời lượng tối đa của nền "
    "tảng), tải lại video nếu cần, rồi bấm Thử lại.",
    "The platform refused the video file (format, length or size). Check the trims against the platform's maximum "
    "length, upload the video again if needed, then tap Retry.",
)
APPROVE = Advice(
    Action.APPROVE,
    "Bài đang chờ người duyệt của phường. Người duyệt xem bản dựng và nội dung trên trang này rồi bấm Duyệt.",
    "The post waits for an approver of the ward, who watches the cut and reads the text on this page, then approves.",
)
EDIT_AND_RESUBMIT = Advice(
    Action.EDIT_AND_RESUBMIT,
    "Người duyệt đã từ chối bài, lý do ở trên. Sửa nội dung theo lý do đó; bài sửa cần được duyệt lại.",
    "An approver rejected the post, for the reason above. Change the text as it asks; the changed post needs "
    "approval again.",
)
RETRY = Advice(
    Action.RETRY,
    "Nền tảng tạm thời không trả lời trong một thời gian dài. Bấm Thử lại; nếu vẫn lỗi, báo người vận hành.",
    "The platform did not answer for a long time. Tap Retry; if it fails again, tell the operator.",
)
CHECK = Advice(
    Action.CHECK,
    "Đọc thông báo của nền tảng ở trên. Nếu đã sửa được nguyên nhân, bấm Thử lại; nếu không rõ, báo người vận hành.",
    "Read the platform's message above. Once the cause is fixed, tap Retry; if it is unclear, tell the operator.",
)

# Ordered: the first match wins (a rejection's reason is the approver's own words, so it is looked at first).
RULES: tuple[Rule, ...] = (
    Rule(None, (r"^rejected by an approver", r"bị từ chối khi duyệt"), EDIT_AND_RESUBMIT),
    Rule(None, (r"^awaiting approval", r"chờ duyệt"), APPROVE),
    Rule(None, (r"channel disconnected", r"mất kết nối"), RECONNECT),
    # Quotas and posting rates (YouTube quotaExceeded/dailyLimitExceeded/uploadLimitExceeded, TikTok spam_risk_*
    # and rate_limit_exceeded, Graph 4/17/32/613 and "rate limit", Zalo -32 "exceed").
    Rule(
        None,
        (
            r"quotaExceeded",
            r"dailyLimitExceeded",
            r"uploadLimitExceeded",
            r"exceeded your quota",
            r"exceeded the number of videos",
            r"spam_risk",
            r"rate_limit_exceeded",
            r"rate limit",
            r"too many (posts|requests|calls)",
            r"\(#(4|17|32|613)\)",
            r"HTTP 429",
        ),
        WAIT_QUOTA,
    ),
    # The sign-in: expired, revoked or invalid tokens (YouTube 401 / authError, TikTok access_token_invalid, Graph
    # 190, Zalo -216/-124 access token invalid/expired, invalid_grant on refresh).
    Rule(
        None,
        (
            r"invalid_grant",
            r"access_token_invalid",
            r"access token (is )?(invalid|expired)",
            r"invalid authentication credentials",
            r"authError",
            r"Error validating access token",
            r"\(#190\)",
            r"OAuthException",
            r"HTTP 401",
        ),
        RECONNECT,
    ),
    # Zalo answers errors as numbers: -216 access token invalid, -124 access token expired.
    Rule("zalo", (r"(?<!\d)-216\b", r"(?<!\d)-124\b"), RECONNECT),
    # Permissions and app review (TikTok scope_not_authorized / unaudited_client_*, YouTube forbidden, Graph 10/200).
    Rule(
        None,
        (
            r"scope_not_authorized",
            r"unaudited_client",
            r"insufficientPermissions",
            r"forbidden",
            r"\(#(10|200)\)",
            r"permission",
            r"HTTP 403",
        ),
        PERMISSION,
    ),
    Rule(
        None, (r"invalidTitle", r"invalid (or empty )?video title", r"title.*(too long|invalid|empty)"), SHORTEN_TITLE
    ),
    Rule(
        None,
        (r"invalidDescription", r"invalidTags", r"description.*(too long|invalid)", r"caption.*(too long|invalid)"),
        FIX_TEXT,
    ),
    Rule(
        None,
        (
            r"file_format_check_failed",
            r"duration_check_failed",
            r"video_pull_failed",
            r"picture_size_check_failed",
            r"invalidVideo",
            r"mediaBodyRequired",
            r"unsupported (video )?format",
            r"video.*too (long|large|short)",
            r"\(#(351|352|381|382)\)",
        ),
        FIX_VIDEO,
    ),
    Rule(None, (r"HTTP 5\d\d", r"timed? ?out", r"not answering", r"connection"), RETRY),
)


def advise(platform: str | None, reason: str) -> Advice:
    """What to do about a post that failed (or waits) for `reason` on `platform`."""
    for rule in RULES:
        if rule.matches(platform, reason):
            return rule.advice
    return CHECK
