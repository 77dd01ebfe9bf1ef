"""parse_probe's fields that transcode plans with: rotation, frame rates, field order, SAR, audio rate."""

from __future__ import annotations

from loa_core.media import parse_probe

PHONE = {
    "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "3.003", "size": "1000"},
    "streams": [
        {
            "codec_type": "video",
            "codec_name": "hevc",
            "profile": "Main 10",
            "width": 1920,
            "height": 1080,
            "pix_fmt": "yuv420p10le",
            "color_range": "tv",
            "color_space": "bt2020nc",
            "color_transfer": "arib-std-b67",
            "color_primaries": "bt2020",
            "sample_aspect_ratio": "1:1",
            "r_frame_rate": "60/1",
            "avg_frame_rate": "30000/1001",
            "field_order": "progressive",
            "duration": "3.003",
            "nb_frames": "90",
            "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}],
        },
        {"codec_type": "audio", "codec_name": "aac", "sample_rate": "44100", "channels": 1, "duration": "N/A"},
    ],
}


def test_phone_video_fields() -> None:
    probe = parse_probe(PHONE)
    video = probe.video
    assert video is not None
    assert (video.rotation, video.pix_fmt, video.profile) == (-90, "yuv420p10le", "Main 10")
    assert video.r_frame_rate == 60.0
    assert abs(video.avg_frame_rate - 29.97) < 0.01
    assert (video.duration_s, video.nb_frames) == (3.003, 90)
    colour = (video.color_range, video.color_space, video.color_transfer, video.color_primaries)
    assert colour == ("tv", "bt2020nc", "arib-std-b67", "bt2020")
    audio = probe.streams[1]
    assert (audio.sample_rate, audio.channels, audio.duration_s) == (44100, 1, None)


def test_legacy_rotate_tag_and_unknown_rates() -> None:
    raw = {
        "format": {"duration": "1"},
        "streams": [
            {
                "codec_type": "video",
                "codec_name": "h264",
                "r_frame_rate": "0/0",
                "tags": {"rotate": "270"},
                "color_primaries": "unknown",
            },
        ],
    }
    video = parse_probe(raw).video
    assert video is not None
    assert video.rotation == 270
    assert video.r_frame_rate == 0.0
    assert video.field_order == ""
    assert video.sample_rate is None
    # ffprobe's "unknown" and an absent tag read alike: untagged.
    assert (video.color_primaries, video.color_range) == ("", "")
