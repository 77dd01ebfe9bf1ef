"""The report upward as an Excel workbook (openpyxl): summary, posts per channel, top posts, followers, feedback.

Vietnamese headers first, English after the slash; numbers are numbers (a district's clerk sums them again).
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from loa_metrics.upward import DISTRICT, Totals, UpwardReport

SHEETS = ("Tổng quan", "Kênh", "Bài nổi bật", "Người theo dõi", "Phản hồi")
BOLD = Font(bold=True)
NONE = "—"  # a figure nobody recorded, never a 0 that was not measured

TOTAL_ROWS: tuple[tuple[str, str], ...] = (
    ("Bài đã đăng / Posts published", "posts"),
    ("Lượt xem / Views", "views"),
    ("Lượt xem trong kỳ / Views gained in the period", "views_in_period"),
    ("Tương tác / Interactions", "interactions"),
    ("Người theo dõi / Followers", "followers"),
    ("Người theo dõi tăng / Followers gained", "followers_gained"),
    ("Phản hồi nhận được / Feedback received", "feedback_received"),
    ("Phản hồi đã trả lời / Feedback answered", "feedback_answered"),
)


def _value(value: object) -> object:
    return NONE if value is None else value


def _table(sheet: Worksheet, head: list[str], rows: list[list[object]], at: int = 1) -> int:
    if at > 1:
        sheet.append([])
    sheet.append(head)
    for cell in sheet[sheet.max_row]:
        cell.font = BOLD
    for row in rows:
        sheet.append([_value(v) for v in row])
    return sheet.max_row


def _widths(sheet: Worksheet) -> None:
    for index, column in enumerate(sheet.iter_cols(), start=1):
        longest = max((len(str(c.value)) for c in column if c.value is not None), default=8)
        sheet.column_dimensions[get_column_letter(index)].width = min(60, max(10, longest + 2))


def _totals_row(totals: Totals) -> list[object]:
    return [getattr(totals, key) for _, key in TOTAL_ROWS]


def render_xlsx(report: UpwardReport) -> bytes:
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = SHEETS[0]
    summary.append([report.title])
    summary["A1"].font = Font(bold=True, size=14)
    summary.append([report.title_en])
    summary.append(["Đơn vị / Unit", report.scope_name])
    summary.append(["Từ ngày / From", report.period.start.isoformat()])
    summary.append(["Đến hết ngày / To (exclusive)", report.period.end.isoformat()])
    summary.append([])
    for label, key in TOTAL_ROWS:
        summary.append([label, _value(getattr(report.totals, key))])
    if report.verification_requests is not None:
        summary.append(["Yêu cầu xác minh video / Verification requests", report.verification_requests])
    for note in report.notes:
        summary.append([note])
    if report.scope == DISTRICT:
        _table(
            summary,
            ["Phường / Ward", *[label for label, _ in TOTAL_ROWS]],
            [[report.name(ward), *_totals_row(t)] for ward, t in report.wards],
            at=2,
        )
    _widths(summary)

    channels = book.create_sheet(SHEETS[1])
    _table(
        channels,
        [
            "Phường / Ward",
            "Kênh / Channel",
            "Nền tảng / Platform",
            "Bài đã đăng / Posts",
            "Lượt xem / Views",
            "Thích / Likes",
            "Bình luận / Comments",
            "Chia sẻ / Shares",
            "Lượt xem trong kỳ / Views gained",
            "Người theo dõi đầu kỳ / Followers at start",
            "Người theo dõi cuối kỳ / Followers at end",
            "Tăng / Gained",
        ],
        [
            [
                report.name(c.ward),
                c.channel,
                c.platform,
                c.posts,
                c.views,
                c.likes,
                c.comments,
                c.shares,
                c.views_in_period,
                c.followers_start,
                c.followers_end,
                c.followers_gained,
            ]
            for c in report.channels
        ],
    )
    _widths(channels)

    top = book.create_sheet(SHEETS[2])
    _table(
        top,
        [
            "Hạng / Rank",
            "Tiêu đề / Title",
            "Phường / Ward",
            "Kênh / Channel",
            "Nền tảng / Platform",
            "Lượt xem / Views",
            "Ngày đăng / Published",
            "Liên kết / Link",
        ],
        [
            [
                rank,
                p["title"],
                report.name(p["ward"]),
                p["channel"],
                p["platform"],
                p["views"],
                str(p["published_at"])[:10],
                p["url"],
            ]
            for rank, p in enumerate(report.top_posts, start=1)
        ],
    )
    _widths(top)

    followers = book.create_sheet(SHEETS[3])
    _table(
        followers,
        ["Kênh / Channel", "Ngày / Day", "Người theo dõi / Followers"],
        [[channel, day, n] for channel, points in sorted(report.followers.items()) for day, n in points],
    )
    _widths(followers)

    feedback = book.create_sheet(SHEETS[4])
    if report.feedback is None:
        feedback.append([report.notes[0]])
    else:
        _table(
            feedback,
            ["Phường / Ward", "Kênh / Channel", "Nền tảng / Platform", "Nhận được / Received", "Đã trả lời / Answered"],
            [[report.name(f.ward), f.channel, f.platform, f.received, f.answered] for f in report.feedback],
        )
    _widths(feedback)

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
