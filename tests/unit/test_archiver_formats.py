"""Pure parts of the archiver: HLS playlists, AMF0 and FLV for RTMP, ffmpeg arguments, highlight ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from loa_archiver.finalize import assemble_args, clamp_range, highlight_title
from loa_archiver.hls import MasterPlaylist, MediaPlaylist, PlaylistError, parse_playlist
from loa_archiver.recorder import listed_segments, recorder_args, restream_url_problem
from loa_archiver.rtmp import FLV_HEADER, MSG_DATA_AMF0, MSG_VIDEO, amf0_decode_all, amf0_encode, flv_tag

BASE = "https://cdn.example.com/live/index.m3u8"


def test_media_playlist() -> None:
    text = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:17
#EXTINF:4.000,
seg17.ts
#EXT-X-DISCONTINUITY
#EXTINF:3.5,title
https://other.example.com/seg18.ts
"""
    playlist = parse_playlist(text, BASE)
    assert isinstance(playlist, MediaPlaylist) and not playlist.ended
    assert playlist.target_duration_s == 4
    assert [(s.seq, s.uri, s.duration_s) for s in playlist.segments] == [
        (17, "https://cdn.example.com/live/seg17.ts", 4.0),
        (18, "https://other.example.com/seg18.ts", 3.5),
    ]
    ended = parse_playlist(text + "#EXT-X-ENDLIST\n", BASE)
    assert isinstance(ended, MediaPlaylist) and ended.ended


def test_master_playlist_picks_the_best_variant() -> None:
    text = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2"
low/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080
hd/index.m3u8
"""
    assert parse_playlist(text, BASE) == MasterPlaylist("https://cdn.example.com/live/hd/index.m3u8")


def test_fmp4_and_refused_playlists() -> None:
    fmp4 = parse_playlist('#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2,\na.m4s\n', BASE)
    assert isinstance(fmp4, MediaPlaylist) and fmp4.segments[0].init_uri == "https://cdn.example.com/live/init.mp4"
    for text in (
        "not a playlist",
        '#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k"\n#EXTINF:2,\na.ts\n',
        "#EXTM3U\n#EXTINF:2,\n#EXT-X-BYTERANGE:100@0\na.ts\n",
        "#EXTM3U\na.ts\n",
    ):
        with pytest.raises(PlaylistError):
            parse_playlist(text, BASE)


def test_amf0_round_trip() -> None:
    values = ["connect", 1.0, {"app": "live", "tcUrl": "rtmp://x/live", "fpad": False, "n": None}, None]
    assert amf0_decode_all(b"".join(amf0_encode(v) for v in values)) == values


def test_flv_tags() -> None:
    assert FLV_HEADER[:3] == b"FLV" and len(FLV_HEADER) == 13
    tag = flv_tag(MSG_VIDEO, 0x01020304, b"abc")
    assert tag[0] == MSG_VIDEO and tag[1:4] == b"\x00\x00\x03"
    assert tag[4:7] == b"\x02\x03\x04" and tag[7] == 0x01  # 24-bit timestamp, then its upper byte
    assert tag[11:14] == b"abc" and tag[-4:] == (14).to_bytes(4, "big")
    meta = amf0_encode("@setDataFrame") + amf0_encode("onMetaData") + amf0_encode({"width": 320.0})
    stripped = flv_tag(MSG_DATA_AMF0, 0, meta)[11:-4]
    assert amf0_decode_all(stripped) == ["onMetaData", {"width": 320.0}]


def test_recorder_args(tmp_path: Path) -> None:
    args = recorder_args(tmp_path, "r1", 4.0, 7)
    assert args[args.index("-c") + 1] == "copy" and args[args.index("-f", 8) + 1] == "segment"
    assert args[args.index("-segment_start_number") + 1] == "7" and args[-1] == str(tmp_path / "seg%05d.ts")
    tee = recorder_args(tmp_path, "r1", 4.0, 1, ("rtmp://a.example.com/app/KEY",))
    assert tee[-2:-1] == ["tee"] and tee[-1].endswith("|[f=flv:onfail=ignore]rtmp://a.example.com/app/KEY")
    assert "segment_start_number=1" in tee[-1]
    assert restream_url_problem("rtmps://live-api-s.facebook.com:443/rtmp/KEY") is None
    assert restream_url_problem("http://x/y") is not None
    assert restream_url_problem("rtmp://x/a|[f=segment]/tmp/evil") is not None


def test_listed_segments(tmp_path: Path) -> None:
    (tmp_path / "list-1.csv").write_text("seg00001.ts,0.000000,2.020000\nseg00002.ts,2.020000,4.000000\n")
    (tmp_path / "list-2.csv").write_text("seg00003.ts,0.000000,1.500000\ngarbage\n")
    assert listed_segments(tmp_path) == [(1, 2.02), (2, pytest.approx(1.98)), (3, 1.5)]


def test_finalize_pieces(tmp_path: Path) -> None:
    args = assemble_args(tmp_path / "l.txt", tmp_path / "o.mp4")
    assert args[:6] == ["-f", "concat", "-safe", "0", "-i", str(tmp_path / "l.txt")]
    assert args[args.index("-c") + 1] == "copy"
    assert clamp_range(0, 60, 30) is not None and clamp_range(0, 60, 30).end_s == 30  # type: ignore[union-attr]
    assert clamp_range(40, 60, 30) is None
    assert highlight_title("Lễ", None, 2) == "Lễ — highlight 2"
    assert len(highlight_title("x" * 300, "Khai mạc", 1)) <= 200
