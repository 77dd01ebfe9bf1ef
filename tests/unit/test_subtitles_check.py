"""The SRT check ingest runs on an uploaded subtitle file (loa_core.subtitles.check_srt; pure)."""

from __future__ import annotations

import pytest

from loa_core.subtitles import Cue, InvalidSubtitles, check_srt, parse_srt
from tests.support.bilingual import assert_bilingual

GOOD = (
    "1\r\n00:00:00,500 --> 00:00:02,000\r\nKính thưa quý vị đại biểu\r\n\r\n"
    "2\r\n00:00:02.000 --> 00:00:04,250\r\nHội nghị tiếp xúc cử tri\r\nphường Bến Nghé\r\n"
)


def test_a_good_file_keeps_its_vietnamese_text_and_timings() -> None:
    cues = check_srt(("\ufeff" + GOOD).encode())
    assert cues == [
        Cue(0.5, 2.0, "Kính thưa quý vị đại biểu"),
        Cue(2.0, 4.25, "Hội nghị tiếp xúc cử tri\nphường Bến Nghé"),
    ]
    assert cues == parse_srt(GOOD)  # what transcode reads later is what was checked


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("Kính thưa".encode("utf-16"), "not UTF-8"),
        ("1\n00:00:01,000 --> 00:00:02,000\nchào\n".encode("cp1258"), "not UTF-8"),
        (b"", "no cue"),
        (b"1\n00:00:01 --> 00:00:02\nhello\n", "Line 2: expected a timing"),
        (b"1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\nnot a timing\nx\n", "Line 6: expected a timing"),
        (b"1\n00:00:03,000 --> 00:00:02,000\nback\n", "ends before it starts"),
        (b"1\n00:61:00,000 --> 00:62:00,000\nx\n", "up to 59"),
        (b"1\n00:00:01,000 --> 00:00:02,000\n\n", "no text"),
        (b"\x00\x01", "not a text file"),
        (b"x" * (2 * 1024 * 1024 + 1), "larger than 2 MB"),
    ],
)
def test_a_malformed_file_is_refused_saying_where(data: bytes, message: str) -> None:
    with pytest.raises(InvalidSubtitles, match=message) as refused:
        check_srt(data)
    assert_bilingual(str(refused.value))
