"""The report upward's PDF: read back with pypdf (its Vietnamese text, exactly, and the embedded font) and drawn to
PNG with pypdfium2 (pages that are not blank). The pages are kept in test-artifacts/report-pdf/."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from PIL import ImageStat
from pypdf import PdfReader

from loa_metrics.projection import Projection
from loa_metrics.report_pdf import render_pdf
from loa_metrics.reports import month_period, parse_period
from loa_metrics.upward import DISTRICT, build, gather
from tests.support.report_month import CHANNELS, NAMES, month_projection

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "report-pdf"


@pytest.fixture(scope="module")
def projection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Projection]:
    p = month_projection(tmp_path_factory.mktemp("pdf") / "p.sqlite3")
    yield p
    p.close()


def text_of(pdf: bytes) -> str:
    return unicodedata.normalize("NFC", "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


def pages_as_png(pdf: bytes, name: str) -> list[Path]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    document = pypdfium2.PdfDocument(pdf)
    paths = []
    for index in range(len(document)):
        image = document[index].render(scale=1.5).to_pil().convert("L")
        # Not blank: the page has ink, and more than a line of it (a white page's deviation is 0).
        stats = ImageStat.Stat(image)
        assert stats.stddev[0] > 20, f"page {index + 1} of {name} looks blank"
        assert image.getextrema()[0] < 50, f"page {index + 1} of {name} has no dark ink"
        path = ARTIFACTS / f"{name}-page{index + 1}.png"
        image.save(path)
        paths.append(path)
    document.close()
    return paths


def test_a_wards_monthly_pdf_reads_in_vietnamese(projection: Projection) -> None:
    pdf = render_pdf(gather(projection.engagement, month_period("2026-11"), "phuong-1", CHANNELS, NAMES))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "phuong-1-2026-11.pdf").write_bytes(pdf)
    text = text_of(pdf)
    for expected in (
        "Báo cáo tháng 11/2026",
        "Phường 1",
        "Lượt xem",
        "Người theo dõi tăng / Followers gained 310",
        "Phản hồi đã trả lời / Feedback answered 2",
        "Lễ ra mắt mô hình dân vận khéo",
        "Bài nổi bật / Top posts",
    ):
        assert expected in text, expected
    assert "Ra quân dọn rác" not in text, "another ward's post is not in a ward's report"
    fonts = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources: Any = page["/Resources"]
        fonts |= {str(f.get_object()["/BaseFont"]) for f in resources["/Font"].values()}
    assert fonts and all("DejaVuSans" in f for f in fonts), f"only the embedded DejaVu Sans is used: {fonts}"
    assert len(pages_as_png(pdf, "phuong-1-2026-11")) >= 2


def test_the_district_quarter_and_an_empty_week(projection: Projection) -> None:
    district = render_pdf(gather(projection.engagement, parse_period("2026-Q4"), DISTRICT, CHANNELS, NAMES))
    text = text_of(district)
    assert "Báo cáo quý 4/2026" in text and "Toàn quận" in text
    assert "Phường Bến Thành" in text and "Phường 1" in text
    pages_as_png(district, "district-2026-Q4")

    empty = build(
        parse_period("2026-W01"),
        "phuong-1",
        channels=[],
        engaged=[],
        gained={},
        followers_series=[],
        top_posts=[],
        feedback=None,
        names=NAMES,
    )
    text = text_of(render_pdf(empty))
    assert "Báo cáo tuần 1/2026" in text and "chưa thu thập" in text.lower()
