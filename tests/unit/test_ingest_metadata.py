"""Metadata checks shared by the tus and form doors (pure; no server)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

import pytest

from loa_core.auth import Caller
from loa_core.channels import DEFAULT_CHANNELS, Channel
from loa_core.contracts import layout
from loa_core.media import ProbeResult, StreamInfo
from loa_ingest.metadata import build_metadata, describe_upload
from loa_ingest.settings import IngestSettings
from loa_ingest.validation import RejectedUpload, media_problems, trim_problems
from tests.support.bilingual import assert_bilingual

CHANNELS = {**DEFAULT_CHANNELS, "yt-phuong": Channel(name="yt-phuong", platform="youtube", profiles=("youtube",))}
NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


def build(**fields: str) -> object:
    return build_metadata(fields, CHANNELS, now=lambda: NOW)


def test_full_metadata_is_normalized() -> None:
    meta = build_metadata(
        {
            "title": unicodedata.normalize("NFD", "  Hội nghị tiếp xúc cử tri  "),
            "description": "Phường Bến Nghé",
            "tags": ["cử tri, phường", "cử tri"],
            "series": "Hội nghị",
            "channels": "local,yt-phuong",
            "event_date": "2026-11-20",
            "trim_start_s": "1.5",
            "trim_end_s": "60",
            "publish_at": "2026-11-21T19:00:00+07:00",
            "vertical_framing": "subject",
            "filename": "hội nghị.mp4",
        },
        CHANNELS,
        now=lambda: NOW,
    )
    assert meta.title == unicodedata.normalize("NFC", "Hội nghị tiếp xúc cử tri")
    assert meta.tags == ("cử tri", "phường")
    assert meta.channels == ("local", "yt-phuong")
    assert meta.event_date == date(2026, 11, 20)
    assert (meta.trim_start_s, meta.trim_end_s) == (1.5, 60.0)
    assert set(meta.publish_at) == {"local", "yt-phuong"}
    assert meta.vertical_framing == "subject"


def test_channels_default_to_the_first_configured() -> None:
    assert build(title="t").channels == ("local",)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": ""}, "title is required"),
        ({}, "title is required"),
        ({"title": "x" * 201}, "longer than 200"),
        ({"title": "a\x07b"}, "control characters"),
        ({"title": "t", "channels": "nope"}, "Unknown channel"),
        ({"title": "t", "colour": "red"}, "Unknown metadata field"),
        ({"title": "t", "filename": "../../etc/passwd"}, "plain name"),
        ({"title": "t", "filename": "a\\b.mp4"}, "plain name"),
        ({"title": "t", "trim_start_s": "5", "trim_end_s": "5"}, "after trim_start_s"),
        ({"title": "t", "trim_start_s": "-1"}, "non-negative"),
        ({"title": "t", "trim_end_s": "nan"}, "non-negative"),
        ({"title": "t", "trim_end_s": "ten"}, "number of seconds"),
        ({"title": "t", "event_date": "20/11/2026"}, "date like"),
        ({"title": "t", "event_date": "2031-01-01"}, "plausible"),
        ({"title": "t", "publish_at": "2026-11-21T09:00:00"}, "in the past"),  # 02:00 UTC, Vietnam time
        ({"title": "t", "publish_at.yt-phuong": "2026-11-21T19:00:00+07:00"}, "not chosen: yt-phuong"),
        ({"title": "t", "publish_at.local": "soon"}, r"publish_at\.local must be a time"),
        ({"title": "t", "subtitles_key": "raw/0123/source"}, "POST /subtitles"),
        ({"title": "t", "subtitles_key": "subtitles/phuong-2/0123456789abcdef.srt"}, "belong to ward phuong-2"),
        ({"title": "t", "publish_at": "2026-11-01T19:00:00+07:00"}, "in the past"),
        ({"title": "t", "publish_at": "2029-11-01T19:00:00+07:00"}, "a year ahead"),
        ({"title": "t", "vertical_framing": "zoom"}, "blur or subject"),
        ({"title": "t", "tags": ",".join(f"t{i}" for i in range(31))}, "At most 30 tags"),
    ],
)
def test_bad_metadata_is_refused_with_a_reason(fields: dict[str, str], message: str) -> None:
    with pytest.raises(RejectedUpload, match=message) as refused:
        build(**fields)
    assert_bilingual(str(refused.value))


def _probe(duration: float, width: int = 640, height: int = 360, fmt: str = "mov,mp4") -> ProbeResult:
    return ProbeResult(fmt, duration, 1000, (StreamInfo("video", "h264", width, height),))


def test_media_limits() -> None:
    settings = IngestSettings(max_duration_s=100)
    assert media_problems(_probe(10), settings) == []
    assert "no duration" in media_problems(_probe(0), settings)[0]
    assert "limit" in media_problems(_probe(101), settings)[0]
    assert "1x1" in media_problems(_probe(10, 1, 1), settings)[0]
    assert "still image" in media_problems(_probe(0, fmt="png_pipe"), settings)[0]
    no_video = ProbeResult("mp3", 10, 1000, (StreamInfo("audio", "mp3", None, None),))
    assert "no video" in media_problems(no_video, settings)[0]


def test_trims_must_fall_inside_the_duration() -> None:
    meta = build_metadata({"title": "t", "trim_start_s": "1", "trim_end_s": "9"}, CHANNELS, now=lambda: NOW)
    assert trim_problems(meta, 10.0) == []
    assert trim_problems(meta, 5.0) != []
    late_start = build_metadata({"title": "t", "trim_start_s": "12"}, CHANNELS, now=lambda: NOW)
    assert trim_problems(late_start, 10.0) != []


WARDS = {
    "a-yt": Channel(name="a-yt", platform="youtube", profiles=("youtube",), ward="ward-a"),
    "b-yt": Channel(name="b-yt", platform="youtube", profiles=("youtube",), ward="ward-b"),
}


def test_an_upload_belongs_to_the_uploaders_ward_and_a_district_admin_names_it() -> None:
    editor = Caller(id="e", role="editor", ward="ward-a")
    district = Caller(id="d", role="district_admin")
    assert describe_upload({"title": "t"}, editor, WARDS)[0] == "ward-a"
    assert describe_upload({"title": "t"}, editor, WARDS)[1].channels == ("a-yt",), "the ward's own first channel"
    assert describe_upload({"title": "t", "ward": "ward-b"}, district, WARDS)[0] == "ward-b"
    assert describe_upload({"title": "t"}, district, DEFAULT_CHANNELS)[0] == "default"
    with pytest.raises(RejectedUpload) as other_ward:
        describe_upload({"title": "t", "ward": "ward-b"}, editor, WARDS)
    assert_bilingual(str(other_ward.value))
    with pytest.raises(RejectedUpload):
        describe_upload({"title": "t", "ward": "Ward/../b"}, district, WARDS)


def test_another_wards_channel_is_refused_by_name() -> None:
    editor = Caller(id="e", role="editor", ward="ward-a")
    with pytest.raises(RejectedUpload) as refused:
        describe_upload({"title": "t", "channels": "a-yt,b-yt"}, editor, WARDS)
    assert "b-yt" in str(refused.value) and "ward-a" in str(refused.value)
    assert_bilingual(str(refused.value))
    with pytest.raises(RejectedUpload) as none:
        describe_upload({"title": "t"}, Caller(id="c", role="editor", ward="ward-c"), WARDS)
    assert_bilingual(str(none.value))


def test_each_channel_has_its_own_publish_time_in_the_wards_time_zone() -> None:
    """`publish_at.<channel>` overrides the common `publish_at`; a time without an offset is Vietnam time."""
    meta = build_metadata(
        {
            "title": "t",
            "channels": "local,yt-phuong",
            "publish_at": "2026-11-21T19:00:00+07:00",
            "publish_at.yt-phuong": "2026-11-22T07:30",
        },
        CHANNELS,
        now=lambda: NOW,
    )
    assert meta.publish_at == {  # type: ignore[attr-defined]
        "local": datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
        "yt-phuong": datetime(2026, 11, 22, 0, 30, tzinfo=UTC),
    }
    only_one = build(title="t", channels="local,yt-phuong", **{"publish_at.local": "2026-11-21T20:00:00+07:00"})
    assert set(only_one.publish_at) == {"local"}  # type: ignore[attr-defined]
    empty = build(title="t", channels="local", **{"publish_at.yt-phuong": ""})  # a page sends every field
    assert empty.publish_at == {}  # type: ignore[attr-defined]


def test_the_framing_switch_and_the_subtitles_key_come_through() -> None:
    key = layout.subtitles_key("default", "ab" * 32)
    meta = build(title="t", vertical_framing="subject", subtitles_key=key)
    assert (meta.vertical_framing, meta.subtitles_key) == ("subject", key)  # type: ignore[attr-defined]
    assert build(title="t").vertical_framing == "blur"  # type: ignore[attr-defined]
