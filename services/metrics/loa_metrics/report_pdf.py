"""The report upward as a PDF people open and print: totals, charts and the top posts, in Vietnamese.

fpdf2 lays the pages out and embeds the font; the charts are matplotlib figures (Agg, PNG, no display). The font is
DejaVu Sans as matplotlib ships it inside its own package (mpl-data/fonts/ttf), which covers Vietnamese (precomposed
and combining marks): nothing depends on the fonts a machine happens to have, and the charts use the same face.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from loa_metrics.report_xlsx import NONE, TOTAL_ROWS
from loa_metrics.upward import DISTRICT, UpwardReport

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
REGULAR, BOLD = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
CHART_W_MM = 180
COLOURS = ("#1f5fa8", "#d9822b", "#2e8540", "#a83232", "#6a4c93", "#5f6b7a")


def _png(fig: Figure) -> io.BytesIO:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=120, bbox_inches="tight")
    out.seek(0)
    return out


def _bars(title: str, labels: Sequence[str], values: Sequence[int], *, horizontal: bool = False) -> io.BytesIO:
    fig = Figure(figsize=(7.2, max(2.4, 0.35 * len(labels) + 1) if horizontal else 3.0))
    ax = fig.subplots()
    colours = [COLOURS[i % len(COLOURS)] for i in range(len(labels))]
    if horizontal:
        bars = ax.barh(list(labels)[::-1], list(values)[::-1], color=colours[::-1])
    else:
        bars = ax.bar(list(labels), list(values), color=colours)
        ax.tick_params(axis="x", labelrotation=15)
    ax.bar_label(bars, fmt="{:,.0f}", padding=2, fontsize=8)
    (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _grouped(title: str, labels: Sequence[str], series: dict[str, Sequence[int]]) -> io.BytesIO:
    fig = Figure(figsize=(7.2, 3.0))
    ax = fig.subplots()
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [x + i * width for x in range(len(labels))]
        ax.bar_label(ax.bar(xs, list(values), width, label=name, color=COLOURS[i % len(COLOURS)]), fontsize=8)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], list(labels))
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _lines(title: str, series: Mapping[str, Sequence[tuple[str, int]]]) -> io.BytesIO:
    fig = Figure(figsize=(7.2, 3.0))
    ax = fig.subplots()
    for i, (name, points) in enumerate(sorted(series.items())):
        days = [date.fromisoformat(d).toordinal() for d, _ in points]
        ax.plot(days, [n for _, n in points], marker="o", label=name, color=COLOURS[i % len(COLOURS)])
    ax.legend(fontsize=8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: date.fromordinal(int(x)).strftime("%d/%m")))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _fmt(value: int | None) -> str:
    return NONE if value is None else f"{value:,}".replace(",", ".")  # 12.345: the Vietnamese grouping


class _Pdf(FPDF):
    def __init__(self, footer: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._footer = footer
        self.add_font(FONT, "", str(REGULAR))
        self.add_font(FONT, "B", str(BOLD))
        self.set_auto_page_break(auto=True, margin=15)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 8, f"{self._footer} · Trang {self.page_no()}/{{nb}}", align="C")


def render_pdf(report: UpwardReport) -> bytes:
    pdf = _Pdf(f"Loa · {report.title} · {report.scope_name}")
    pdf.set_title(f"{report.title} - {report.scope_name}")
    pdf.set_creator("Loa")
    pdf.add_page()

    def line(text: str, size: float = 10, style: str = "", height: float = 6) -> None:
        pdf.set_font(FONT, style, size)
        pdf.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(text: str) -> None:
        pdf.ln(2)
        line(text, 13, "B", 8)

    def chart(png: io.BytesIO) -> None:
        pdf.image(png, w=CHART_W_MM)
        pdf.ln(2)

    line(report.title, 20, "B", 10)
    line(report.scope_name, 14, "B", 8)
    line(
        f"{report.title_en} · Từ {report.period.start:%d/%m/%Y} đến trước {report.period.end:%d/%m/%Y} "
        f"(from {report.period.start.isoformat()} to {report.period.end.isoformat()}, exclusive)",
        9,
    )

    heading("Tổng quan / Summary")
    pdf.set_font(FONT, size=10)
    with pdf.table(col_widths=(120, 60), text_align=("LEFT", "RIGHT"), first_row_as_headings=False) as table:
        for label, key in TOTAL_ROWS:
            row = table.row()
            row.cell(label)
            row.cell(_fmt(getattr(report.totals, key)))
        if report.verification_requests is not None:
            row = table.row()
            row.cell("Yêu cầu xác minh video / Verification requests")
            row.cell(_fmt(report.verification_requests))
    for note in report.notes:
        line(note, 9)

    if report.scope == DISTRICT:
        heading("Các phường / Wards")
        pdf.set_font(FONT, size=9)
        with pdf.table(col_widths=(50, 25, 30, 30, 30, 25), text_align=("LEFT", *["RIGHT"] * 5)) as table:
            head = table.row()
            for text in ("Phường", "Bài đã đăng", "Lượt xem", "Người theo dõi", "Tăng", "Phản hồi"):
                head.cell(text)
            for ward, t in report.wards:
                row = table.row()
                for text in (
                    report.name(ward),
                    _fmt(t.posts),
                    _fmt(t.views),
                    _fmt(t.followers),
                    _fmt(t.followers_gained),
                    _fmt(t.feedback_received),
                ):
                    row.cell(text)

    channels = list(report.channels)
    if channels:
        names = [c.channel for c in channels]
        heading("Bài đăng và lượt xem theo kênh / Posts and reach per channel")
        chart(_bars("Bài đã đăng theo kênh (Posts per channel)", names, [c.posts for c in channels]))
        chart(
            _grouped(
                "Lượt xem (Reach)",
                names,
                {
                    "Bài đăng trong kỳ (posts of the period)": [c.views for c in channels],
                    "Lượt xem trong kỳ (gained in the period)": [c.views_in_period for c in channels],
                },
            )
        )
    if any(len(points) > 0 for points in report.followers.values()):
        heading("Người theo dõi / Followers")
        chart(_lines("Người theo dõi theo thời gian (Followers over time)", report.followers))
    if report.top_posts:
        heading("Bài nổi bật / Top posts")
        top = report.top_posts[:5]
        chart(
            _bars(
                "Lượt xem của các bài nổi bật (Views of the top posts)",
                [f"{i}. {str(p['title'])[:40]}" for i, p in enumerate(top, start=1)],
                [int(p["views"]) for p in top],
                horizontal=True,
            )
        )
        pdf.set_font(FONT, size=9)
        with pdf.table(col_widths=(8, 92, 30, 25, 25), text_align=("RIGHT", "LEFT", "LEFT", "LEFT", "RIGHT")) as table:
            head = table.row()
            for text in ("#", "Tiêu đề", "Kênh", "Ngày đăng", "Lượt xem"):
                head.cell(text)
            for rank, p in enumerate(report.top_posts, start=1):
                row = table.row()
                day = str(p["published_at"])[:10]
                for text in (
                    str(rank),
                    str(p["title"]),
                    str(p["channel"]),
                    f"{day[8:10]}/{day[5:7]}",
                    _fmt(p["views"]),
                ):
                    row.cell(text)
    heading("Phản hồi của người dân / Citizens' feedback")
    if report.feedback:
        labels = [f.channel for f in report.feedback]
        chart(
            _grouped(
                "Phản hồi nhận được và đã trả lời (Feedback received and answered)",
                labels,
                {
                    "Nhận được (received)": [f.received for f in report.feedback],
                    "Đã trả lời (answered)": [f.answered or 0 for f in report.feedback],
                },
            )
        )
    elif report.feedback is not None:
        line("Không có phản hồi trong kỳ. / No feedback in the period.", 10)
    return bytes(pdf.output())
