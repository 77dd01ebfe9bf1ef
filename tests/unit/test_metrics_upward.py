"""The report upward: its data from a month of two wards in a real SQLite projection, the district's roll-up as the
sum of the wards, and the XLSX workbook opened again with openpyxl."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from loa_metrics.projection import Projection
from loa_metrics.report_xlsx import SHEETS, render_xlsx
from loa_metrics.reports import month_period, parse_period
from loa_metrics.upward import DISTRICT, Totals, build, gather, title
from tests.support.report_month import CHANNELS, NAMES, month_projection

NOVEMBER = month_period("2026-11")


@pytest.fixture(scope="module")
def projection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Projection]:
    p = month_projection(tmp_path_factory.mktemp("upward") / "p.sqlite3")
    yield p
    p.close()


def test_titles_of_each_kind_of_period() -> None:
    assert title(NOVEMBER) == "Báo cáo tháng 11/2026"
    assert title(parse_period("2026-W47")) == "Báo cáo tuần 47/2026"
    assert title(parse_period("2026-Q4")) == "Báo cáo quý 4/2026"
    assert parse_period("2026-Q4").start.isoformat() == "2026-10-01"
    with pytest.raises(ValueError, match="2026-Q4"):
        parse_period("2026-Q5")


def test_a_wards_month(projection: Projection) -> None:
    report = gather(projection.engagement, NOVEMBER, "phuong-1", CHANNELS, NAMES, projection.verifications)
    assert report.scope_name == "Phường 1"
    assert report.verification_requests == 3
    lines = {c.channel: c for c in report.channels}
    assert set(lines) == {"p1-yt", "p1-fb"}, "another ward's channel is not in a ward's report"
    yt, fb = lines["p1-yt"], lines["p1-fb"]
    assert (yt.posts, yt.views, yt.views_in_period) == (2, 620, 200 + 500 + 120)  # October's post gained 200
    assert (fb.posts, fb.views, fb.views_in_period) == (1, 2000, 2000)
    assert (yt.followers_start, yt.followers_end, yt.followers_gained) == (1000, 1250, 250)
    assert (fb.followers_start, fb.followers_end, fb.followers_gained) == (400, 460, 60)
    assert [p["title"] for p in report.top_posts] == [
        "Ngày hội đại đoàn kết",
        "Lễ ra mắt mô hình dân vận khéo",
        "Họp dân khu phố 3",
    ], "published in the month only, most viewed first"
    assert report.feedback is not None
    assert {(f.channel, f.received, f.answered) for f in report.feedback} == {("p1-yt", 2, 1), ("p1-fb", 1, 1)}
    assert report.totals == Totals(
        posts=3,
        views=2620,
        views_in_period=2820,
        interactions=(50 + 5 + 3) + (12 + 1 + 3) + (200 + 20 + 3),
        followers=1710,
        followers_gained=310,
        feedback_received=3,
        feedback_answered=2,
    )
    assert report.notes == ()


def test_the_district_roll_up_is_the_sum_of_its_wards(projection: Projection) -> None:
    district = gather(projection.engagement, NOVEMBER, DISTRICT, CHANNELS, NAMES)
    assert district.verification_requests is None, "not counted when no counter is given"
    assert (
        gather(
            projection.engagement, NOVEMBER, DISTRICT, CHANNELS, NAMES, projection.verifications
        ).verification_requests
        == 6
    )
    wards = {w: gather(projection.engagement, NOVEMBER, w, CHANNELS, NAMES).totals for w in ("phuong-1", "phuong-2")}
    assert dict(district.wards) == wards
    assert district.totals == wards["phuong-1"] + wards["phuong-2"]
    assert district.totals.posts == 5 and district.totals.followers_gained == 310 + 600
    assert wards["phuong-2"].feedback_received == 1 and wards["phuong-2"].feedback_answered == 0
    assert district.top_posts[0]["title"] == "Ra quân dọn rác kênh Nhiêu Lộc"
    assert district.scope_name.startswith("Toàn quận")


def test_missing_feedback_is_said_not_counted_as_zero() -> None:
    report = build(
        NOVEMBER,
        "phuong-1",
        channels=CHANNELS.values(),
        engaged=[],
        gained={},
        followers_series=[],
        top_posts=[],
        feedback=None,
    )
    assert report.totals.feedback_received is None and report.feedback is None
    assert "not collected" in report.notes[0]
    unanswered = build(
        NOVEMBER,
        "phuong-1",
        channels=CHANNELS.values(),
        engaged=[],
        gained={},
        followers_series=[],
        top_posts=[],
        feedback=[{"ward": "phuong-1", "channel": "p1-yt", "platform": "youtube", "received": 4, "answered": None}],
    )
    assert unanswered.totals.feedback_received == 4 and unanswered.totals.feedback_answered is None
    assert "not recorded" in unanswered.notes[0]
    # A channel that published nothing and was never polled still has its line, with nothing invented.
    assert {c.channel: c.followers_gained for c in report.channels} == {"p1-yt": None, "p1-fb": None}


def test_the_workbook_holds_every_sheet_with_numbers_as_numbers(projection: Projection, tmp_path: Path) -> None:
    report = gather(projection.engagement, NOVEMBER, DISTRICT, CHANNELS, NAMES)
    data = render_xlsx(report)
    (tmp_path / "report.xlsx").write_bytes(data)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == list(SHEETS)
    summary = book["Tổng quan"]
    assert summary["A1"].value == "Báo cáo tháng 11/2026"
    rows = {r[0]: r[1] for r in summary.iter_rows(values_only=True) if r and r[0]}
    assert rows["Bài đã đăng / Posts published"] == 5
    assert rows["Lượt xem / Views"] == 2620 + 3040
    assert rows["Phản hồi đã trả lời / Feedback answered"] == 2
    ward_rows = [r for r in summary.iter_rows(values_only=True) if r and r[0] in NAMES.values()]
    assert [(r[0], r[1]) for r in ward_rows] == [("Phường 1", 3), ("Phường Bến Thành", 2)]

    channels = list(book["Kênh"].iter_rows(values_only=True))
    assert channels[0][:4] == ("Phường / Ward", "Kênh / Channel", "Nền tảng / Platform", "Bài đã đăng / Posts")
    assert ("Phường 1", "p1-yt", "youtube", 2, 620) in [r[:5] for r in channels]
    top = list(book["Bài nổi bật"].iter_rows(values_only=True))
    assert top[1][:2] == (1, "Ra quân dọn rác kênh Nhiêu Lộc") and top[1][5] == 3000
    followers = list(book["Người theo dõi"].iter_rows(values_only=True))
    assert ("p2-tt", "2026-11-01", 5000) in followers and ("p2-tt", "2026-11-30", 5600) in followers
    assert all(r[1] < "2026-12-01" for r in followers[1:]), "December is not in November's report"
    feedback = list(book["Phản hồi"].iter_rows(values_only=True))
    assert ("Phường Bến Thành", "p2-tt", "tiktok", 1, 0) in feedback
