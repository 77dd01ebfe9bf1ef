"""Pure helpers of loa_core: probe parsing, dead letters, redaction, tokens, channels."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from loa_core.auth import hash_token, new_token, token_is_valid
from loa_core.channels import DEFAULT_CHANNELS, load_channels
from loa_core.kafka import dead_letter_for
from loa_core.media import parse_probe
from loa_core.observability import redact


def test_parse_probe_reads_video_audio_and_skips_cover_art() -> None:
    result = parse_probe(
        {
            "format": {"format_name": "mov,mp4", "duration": "2.500000", "size": "1234"},
            "streams": [
                {
                    "codec_type": "video",
                    "codec_name": "mjpeg",
                    "width": 300,
                    "height": 300,
                    "disposition": {"attached_pic": 1},
                },
                {"codec_type": "video", "codec_name": "h264", "width": 1920, "height": 1080},
                {"codec_type": "audio", "codec_name": "aac"},
            ],
        }
    )
    assert result.video is not None and result.video.codec_name == "h264"
    assert (result.video.width, result.video.height) == (1920, 1080)
    assert result.has_audio and result.duration_s == 2.5 and result.size_bytes == 1234


def test_parse_probe_without_duration_or_streams() -> None:
    result = parse_probe({"format": {"format_name": "png_pipe", "duration": "N/A"}, "streams": []})
    assert result.video is None and result.duration_s == 0.0 and not result.has_audio


def test_dead_letter_keeps_utf8_as_text_and_binary_as_base64() -> None:
    text = dead_letter_for('{"tiêu đề": 1'.encode(), service="s", topic="t", error=ValueError("bad"))
    assert text.original_encoding == "utf-8" and text.original_value == '{"tiêu đề": 1'
    assert text.reason == "ValueError: bad" and text.error_type == "ValueError"
    binary = dead_letter_for(b"\xff\x00", service="s", topic="t", error=ValueError("bad"), offset=7)
    assert binary.original_encoding == "base64"
    assert base64.b64decode(binary.original_value) == b"\xff\x00" and binary.origin_offset == 7
    assert text.ward is None and binary.ward is None


def test_a_dead_letter_carries_the_ward_of_a_record_it_could_not_decode() -> None:
    too_new = b'{"schema_version": 99, "footage_id": "x", "ward": "phuong-1"}'
    assert dead_letter_for(too_new, service="s", topic="t", error=ValueError("v99")).ward == "phuong-1"
    for raw in (b'{"ward": "../etc"}', b'{"ward": 3}', b"[1]", b"not json"):
        assert dead_letter_for(raw, service="s", topic="t", error=ValueError("bad")).ward is None, raw
    told = dead_letter_for(b"{}", service="s", topic="t", error=ValueError("bad"), ward="phuong-2")
    assert told.ward == "phuong-2"


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Bearer abc.def-123",
        "refresh_token=1//0gABC&client_id=x",
        '{"access_token": "ya29.secret"}',
        "client_secret: s3cr3t",
    ],
)
def test_redact_masks_credentials(line: str) -> None:
    masked = redact(line)
    for secret in ("abc.def-123", "1//0gABC", "ya29.secret", "s3cr3t"):
        assert secret not in masked
    assert "***" in masked


def test_tokens_are_checked_by_hash_only() -> None:
    token = new_token()
    allowed = frozenset({hash_token(token)})
    assert token_is_valid(token, allowed)
    assert not token_is_valid(token + "x", allowed)
    assert not token_is_valid(token, frozenset())


def test_channels_default_and_file(tmp_path: Path) -> None:
    assert load_channels(None) == DEFAULT_CHANNELS
    path = tmp_path / "channels.json"
    path.write_text('[{"name": "yt-phuong", "platform": "youtube", "profiles": ["youtube"]}]')
    channels = load_channels(path)
    assert channels["yt-phuong"].platform == "youtube"
    path.write_text(
        '[{"name": "a", "platform": "local", "profiles": ["tiktok"]},'
        ' {"name": "a", "platform": "local", "profiles": ["tiktok"]}]'
    )
    with pytest.raises(ValueError, match="unique"):
        load_channels(path)
