"""The pure parts of transcode: profiles, source planning and the ffmpeg graph builder, without ffmpeg."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from loa_core.media import ProbeResult, StreamInfo
from loa_core.streaming import PermanentError
from loa_transcode.colour import BT709, Colour, source_colour, to_bt709
from loa_transcode.graph import (
    Bumper,
    Candidates,
    CropPath,
    Job,
    Output,
    Trim,
    build_args,
    build_graph,
    crop_script,
    edits_of,
    escape_value,
    measure_job_loudness_args,
    measure_loudness_args,
    plan_inputs,
    stills_args,
)
from loa_transcode.loudness import Loudness
from loa_transcode.profiles import MB, PROFILES, profiles_for, resolve
from loa_transcode.source import SourceInfo, output_rate, source_info

# BT.709 limited-range sources are only tagged (see the colour tests below).
TAG = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
HD = SourceInfo(width=1920, height=1080, duration_s=10.0, has_audio=True, fps="30", fps_value=30.0)


def _target(name: str, info: SourceInfo = HD, duration_s: float | None = None):  # type: ignore[no-untyped-def]
    return resolve(
        PROFILES[name], source_width=info.width, source_height=info.height, duration_s=duration_s or info.duration_s
    )


def _job(*names: str, info: SourceInfo = HD, **kwargs: object) -> Job:
    outputs = tuple(Output(_target(n, info), Path(f"/w/{n}.mp4")) for n in names)
    return Job(Path("/w/source.mp4"), info, outputs, **kwargs)  # type: ignore[arg-type]


def _value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


# --- profiles -----------------------------------------------------------------------------------------


def test_youtube_keeps_4k_only_for_a_4k_source() -> None:
    assert (_target("youtube").width, _target("youtube").height) == (1920, 1080)
    uhd = SourceInfo(3840, 2160, 10.0, True, "30", 30.0)
    assert (_target("youtube", uhd).width, _target("youtube", uhd).height) == (3840, 2160)
    # A 4K phone video filmed upright is 4K too.
    upright = SourceInfo(2160, 3840, 10.0, True, "30", 30.0)
    assert _target("youtube", upright).height == 2160
    assert (_target("tiktok", uhd).width, _target("tiktok", uhd).height) == (1080, 1920)


def test_shorts_are_cut_to_three_minutes_and_tiktok_to_ten() -> None:
    assert _target("shorts", duration_s=300).duration_s == 180
    assert _target("shorts", duration_s=42).duration_s == 42
    assert _target("tiktok", duration_s=900).duration_s == 600
    assert _target("youtube", duration_s=7200).duration_s == 7200


def test_zalo_bitrate_comes_from_the_duration() -> None:
    short, long = _target("zalo", duration_s=60), _target("zalo", duration_s=1200)
    assert short.video_kbps == PROFILES["zalo"].max_video_kbps  # plenty of room: capped
    assert long.video_kbps is not None and long.video_kbps < 300
    # The whole file fits in 50 MB with its audio.
    assert (long.video_kbps + PROFILES["zalo"].audio_kbps) * 1000 / 8 * 1200 <= 50 * MB
    assert _target("youtube").video_kbps is None


def test_zalo_refuses_footage_too_long_to_fit() -> None:
    with pytest.raises(PermanentError, match="cannot fit in 50 MB"):
        _target("zalo", duration_s=4 * 3600)


def test_unknown_profile_is_named() -> None:
    with pytest.raises(KeyError, match="instagram"):
        profiles_for({"tiktok", "instagram"})


# --- source planning ----------------------------------------------------------------------------------


def _probe(**video: object) -> ProbeResult:
    fields: dict[str, object] = {"codec_type": "video", "codec_name": "h264", "width": 1920, "height": 1080}
    fields.update(video)
    return ProbeResult("mp4", 5.0, 1, (StreamInfo(**fields),))  # type: ignore[arg-type]


def test_rotated_phone_video_is_planned_upright() -> None:
    info = source_info(_probe(rotation=-90, avg_frame_rate=30.0))
    assert (info.width, info.height) == (1080, 1920)


def test_anamorphic_pixels_are_made_square() -> None:
    info = source_info(_probe(width=720, height=576, sample_aspect_ratio="64:45", avg_frame_rate=25.0))
    assert (info.width, info.height) == (1024, 576)
    assert "scale=1024:576,setsar=1" in build_graph(_job("youtube", info=info))[0]


def test_interlaced_footage_is_deinterlaced_first() -> None:
    info = source_info(_probe(field_order="tt", avg_frame_rate=25.0))
    graph = build_graph(_job("youtube", info=info))[0]
    assert graph.startswith("[0:v]bwdif=")


@pytest.mark.parametrize(
    ("avg", "base", "expected"),
    [
        (29.6, 90000.0, "30000/1001"),  # variable frame rate phone video: snapped to a broadcast rate
        (25.0, 25.0, "25"),
        (120.0, 120.0, "60"),  # high-speed footage is capped at 60 fps
        (0.0, 24.0, "24"),  # unknown average: the base rate
        (12.5, 12.5, "24"),  # frames repeated up to the lowest rate platforms take
        (20.69, 30.0, "24"),  # variable frame rate with dropped frames
        (59.94, 59.94, "60000/1001"),
    ],
)
def test_output_rate(avg: float, base: float, expected: str) -> None:
    assert output_rate(avg, base)[0] == expected


def test_source_without_video_is_refused() -> None:
    with pytest.raises(PermanentError, match="no video"):
        source_info(ProbeResult("mp3", 3.0, 1, (StreamInfo("audio", "mp3", None, None),)))


# --- graph --------------------------------------------------------------------------------------------


def test_one_input_one_graph_every_output() -> None:
    args = build_args(_job("tiktok", "youtube", "zalo"))
    assert args.count("-i") == 1
    assert args.count("-filter_complex") == 1
    for name in ("tiktok", "youtube", "zalo"):
        assert f"file:/w/{name}.mp4" in args
    assert args.count("+faststart") == 3
    assert args.count("-profile:v") == 3 and set(args[i + 1] for i, a in enumerate(args) if a == "-profile:v") == {
        "high"
    }
    graph = _value(args, "-filter_complex")
    # Only tiktok (vertical from horizontal) needs a second copy for its blurred background.
    assert "split=4[s0][s1][s2][s3]" in graph
    assert graph.count("boxblur") == 1
    assert graph.count("format=yuv420p") == 3
    assert "asplit=3[a0][a1][a2]" in graph


def test_blur_is_computed_at_a_quarter_of_the_output_size() -> None:
    graph = build_graph(_job("tiktok"))[0]
    assert (
        "scale=270:480:force_original_aspect_ratio=increase:flags=fast_bilinear,crop=270:480,boxblur=10,"
        "scale=1080:1920:flags=fast_bilinear" in graph
    )
    assert "overlay=x=(W-w)/2:y=(H-h)/2" in graph


def test_vertical_source_gets_a_blurred_pillarbox_for_youtube_and_fills_tiktok() -> None:
    upright = SourceInfo(1080, 1920, 10.0, True, "30", 30.0)
    graph = build_graph(_job("youtube", "tiktok", info=upright))[0]
    assert graph.count("boxblur") == 1  # youtube only
    assert "scale=1080:1920:force_original_aspect_ratio=increase,crop=1080:1920" in graph  # tiktok fills


def test_quality_driven_cuts_use_crf_and_zalo_uses_a_capped_bitrate() -> None:
    args = build_args(_job("youtube"))
    assert "-crf" in args and "-b:v" not in args
    zalo = build_args(_job("zalo"))
    assert "-crf" not in zalo
    assert _value(zalo, "-b:v") == _value(zalo, "-maxrate") == "2500k"


def test_every_cut_is_cut_at_its_own_length() -> None:
    info = SourceInfo(1920, 1080, 300.0, True, "30", 30.0)
    args = build_args(_job("shorts", "youtube", info=info))
    assert [args[i + 1] for i, a in enumerate(args) if a == "-t"] == ["180", "300"]


def test_trim_seeks_on_the_input() -> None:
    job = _job("youtube", trim=Trim(2.5, 7.25))
    args = build_args(job)
    assert args[: args.index("-i")] == ["-ss", "2.5", "-to", "7.25"]
    assert job.duration_s == pytest.approx(4.75)
    assert measure_loudness_args(Path("/w/source.mp4"), Trim(2.5, 7.25))[:4] == ["-ss", "2.5", "-to", "7.25"]


def test_no_audio_gets_silence_of_the_right_length() -> None:
    info = SourceInfo(1920, 1080, 4.0, False, "30", 30.0)
    args = build_args(_job("youtube", "tiktok", info=info, trim=Trim(1.0)))
    assert args.count("-i") == 2
    lavfi = args.index("lavfi")
    assert args[lavfi + 1 : lavfi + 5] == ["-t", "3", "-i", "anullsrc=channel_layout=stereo:sample_rate=48000"]
    graph = _value(args, "-filter_complex")
    assert "[1:a]aresample=48000" in graph and "loudnorm" not in graph


def test_loudness_uses_the_measurement_in_linear_mode() -> None:
    loud = Loudness(input_i=-23.5, input_tp=-6.1, input_lra=4.2, input_thresh=-33.9, target_offset=0.3)
    graph = build_graph(_job("youtube", loudness=loud))[0]
    assert (
        "loudnorm=I=-14:TP=-1.5:LRA=11:measured_I=-23.5:measured_TP=-6.1:measured_LRA=4.2:measured_thresh=-33.9"
        ":offset=0.3:linear=true" in graph
    )
    assert graph.index("loudnorm") < graph.rindex("aresample=48000")


def test_loudness_out_of_loudnorms_range_is_clamped() -> None:
    # A hard-clipped source measures above 0 LUFS; loudnorm refuses measured_I above 0.
    square = Loudness(input_i=3.05, input_tp=2.05, input_lra=0.0, input_thresh=-6.95, target_offset=-0.05)
    graph = build_graph(_job("youtube", loudness=square))[0]
    assert "measured_I=0:measured_TP=2.05:measured_LRA=0:measured_thresh=-6.95:offset=-0.05:" in graph


def test_subtitles_and_logo_on_every_cut() -> None:
    job = _job("tiktok", "youtube", subtitles=Path("/w/sub: a,b.srt"), logo=Path("/w/logo.png"))
    args = build_args(job)
    assert args.count("-i") == 2 and "file:/w/logo.png" in args
    graph = _value(args, "-filter_complex")
    assert graph.count("subtitles=filename=") == 2
    assert escape_value("/w/sub: a,b.srt") in graph
    assert "[1:v]format=rgba,split=2[logo0][logo1]" in graph
    assert "[logo1]scale=230:-2[lg1]" in graph  # 12% of 1920
    assert graph.count("overlay=x=W-w-") == 2


def test_escape_value_quotes_both_levels() -> None:
    # Level 1 (option values) escapes ':' and quotes, level 2 (the graph) escapes those backslashes and ','.
    assert escape_value("a:b") == "a\\\\:b"
    assert escape_value("x,y") == "x\\,y"
    assert escape_value("it's") == "it\\\\\\'s"


def test_subject_crop_replaces_the_blur_and_moves_by_commands() -> None:
    target = _target("tiktok")
    crop = CropPath(606, 1080, ((0.0, 100.0), (1.0, 200.0), (2.5, 200.0)))
    job = Job(
        Path("/w/s.mp4"),
        HD,
        (Output(_target("youtube"), Path("/w/y.mp4")), Output(target, Path("/w/t.mp4"), crop)),
        crop_commands=Path("/w/crop.cmd"),
    )
    graph = build_graph(job)[0]
    assert "boxblur" not in graph
    assert graph.startswith(f"[0:v]{TAG},fps=30,sendcmd=f=/w/crop.cmd,split=2")
    assert "[s1]crop@f1=w=606:h=1080:x=100:y=0,scale=1080:1920[f1]" in graph
    assert (
        crop_script(job)
        == "0.000 crop@f1 x '100+(100)*(t-0)/1';\n1.000 crop@f1 x '200+(0)*(t-1)/1.5';\n2.500 crop@f1 x '200';\n"
    )
    with pytest.raises(ValueError, match="crop_commands"):
        build_graph(replace(job, crop_commands=None))


def test_a_subject_crop_shows_the_blurred_fit_during_the_shots_that_fall_back() -> None:
    crop = CropPath(606, 1080, ((0.0, 100.0),), fallback=((0.0, 1.5), (4.0, 6.25)))
    job = Job(Path("/w/s.mp4"), HD, (Output(_target("tiktok"), Path("/w/t.mp4"), crop),), crop_commands=Path("/w/c"))
    graph = build_graph(job)[0]
    # Three copies: the crop, and the fitted frame's picture and background.
    assert graph.startswith(f"[0:v]{TAG},fps=30,sendcmd=f=/w/c,split=3[s0][s1][s2];")
    assert "[s0]crop@f0=w=606:h=1080:x=100:y=0,scale=1080:1920[f0crop]" in graph
    assert "[s2]scale=270:480" in graph and "[s1]scale=1080:1920:force_original_aspect_ratio=decrease" in graph
    assert "[f0crop][f0fit]overlay=x=0:y=0:enable='between(t,0,1.5)+between(t,4,6.25)'[f0]" in graph


def test_candidates_are_one_more_copy() -> None:
    job = _job("youtube", candidates=Candidates(Path("/w/c.gray"), every_s=0.5))
    args = build_args(job)
    graph = _value(args, "-filter_complex")
    assert "split=2[s0][s1]" in graph
    assert "[s1]fps=1/0.5,scale=160:90,format=gray[cand]" in graph
    assert args[-6:] == ["-map", "[cand]", "-f", "rawvideo", "-pix_fmt", "gray"] or args[-1] == "file:/w/c.gray"


def test_no_outputs_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_args(Job(Path("/w/s.mp4"), HD, ()))


INTRO = Bumper(Path("/w/intro.mp4"), SourceInfo(1920, 1080, 2.0, True, "25", 25.0))
OUTRO = Bumper(Path("/w/outro.mp4"), SourceInfo(1080, 1920, 1.5, False, "30", 30.0))


@pytest.mark.parametrize(
    "bumpers", [{}, {"intro": INTRO, "outro": OUTRO}, {"outro": OUTRO}], ids=["none", "both", "outro"]
)
@pytest.mark.parametrize("has_audio", [True, False])
@pytest.mark.parametrize("subject", [False, True], ids=["fitted", "subject-crop"])
def test_every_graph_label_is_produced_once_and_consumed_once(
    bumpers: dict[str, Bumper], has_audio: bool, subject: bool
) -> None:
    """A dangling or reused label makes ffmpeg refuse the graph; check the plumbing of a busy graph."""
    info = SourceInfo(1920, 1080, 10.0, has_audio, "30", 30.0)
    job = _job(
        "tiktok",
        "shorts",
        "youtube",
        "zalo",
        info=info,
        subtitles=Path("/w/s.srt"),
        logo=Path("/w/l.png"),
        candidates=Candidates(Path("/w/c.gray"), 1.0),
        **bumpers,
    )
    if subject:
        # The tiktok cut follows a subject, except during one shot that falls back to the blurred fit.
        tiktok = job.outputs[0]
        crop = CropPath(606, 1080, ((0.0, 100.0),), fallback=((2.0, 4.5),))
        job = replace(
            job, outputs=(Output(tiktok.target, tiktok.path, crop), *job.outputs[1:]), crop_commands=Path("/w/c.cmd")
        )
    inputs = plan_inputs(job)
    graph, video, audio = build_graph(job, inputs)
    produced: list[str] = []
    consumed: list[str] = []
    for chain in graph.split(";"):
        head = re.match(r"^((?:\[[^\]]+\])+)", chain)
        tail = re.search(r"((?:\[[^\]]+\])+)$", chain)
        assert head and tail, chain
        consumed += re.findall(r"\[([^\]]+)\]", head.group(1))
        produced += re.findall(r"\[([^\]]+)\]", tail.group(1))
    outputs = [*video, *audio, "cand"]
    streams = ["0:v", inputs.main_audio, f"{inputs.logo}:v"]
    streams += [f"{i}:v" for i in (inputs.intro, inputs.outro) if i is not None]
    streams += [a for a in (inputs.intro_audio, inputs.outro_audio) if a is not None]
    assert sorted(produced) == sorted(set(produced))
    assert sorted(consumed) == sorted(set(consumed))
    assert set(produced) - set(consumed) == set(outputs)
    assert set(consumed) - set(produced) == set(streams)
    assert inputs.args.count("-i") == 1 + 1 + len(bumpers) + (not has_audio) + ("outro" in bumpers)


def test_bumpers_frame_into_each_cut_and_join_the_footage() -> None:
    job = _job("tiktok", "youtube", intro=INTRO, outro=OUTRO)
    args = build_args(job)
    assert args.count("-i") == 4  # source, intro, outro, and silence for the outro that has no sound
    graph = _value(args, "-filter_complex")
    assert f"[1:v]{TAG},fps=30,split=3[intro0][intro1][intro2]" in graph  # 16:9 intro: tiktok needs a blur copy
    assert f"[2:v]{TAG},fps=30,split=3[outro0][outro1][outro2]" in graph  # 9:16 outro: youtube needs one
    assert "[ib0][m0][ob0]concat=n=3:v=1:a=0[v0]" in graph
    assert "apad,atrim=duration=2" in graph and "[3:a]" in graph
    assert "[ia][ma][oa]concat=n=3:v=0:a=1[joined]" in graph
    assert job.total_s == 13.5
    measure = measure_job_loudness_args(job)
    assert measure.count("-i") == 4 and "[aout]" in measure and "loudnorm" in _value(measure, "-filter_complex")


def test_stills_frame_each_image() -> None:
    args = stills_args(Path("/w/s.mp4"), 3.5, HD, [(1280, 720, Path("/w/t.jpg")), (1080, 1920, Path("/w/c.jpg"))])
    assert args[:4] == ["-ss", "3.5", "-i", "file:/w/s.mp4"]
    graph = _value(args, "-filter_complex")
    assert "split=3" in graph  # thumbnail fills 16:9, the cover needs a blurred background
    assert args.count("-frames:v") == 2


# --- colour ---------------------------------------------------------------------------------------------


def _stream(**fields: object) -> StreamInfo:
    base: dict[str, object] = {"codec_type": "video", "codec_name": "h264", "width": 1920, "height": 1080}
    return StreamInfo(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"color_range": "tv", "color_space": "bt709", "color_transfer": "bt709", "color_primaries": "bt709"}, BT709),
        ({}, BT709),  # untagged HD: BT.709, as players assume
        # Untagged SD: BT.601, NTSC's SMPTE C primaries for 480 lines, PAL's EBU ones for 576.
        ({"width": 640, "height": 480}, Colour("smpte170m", "bt709", "smpte170m", "tv")),
        ({"width": 720, "height": 576}, Colour("smpte170m", "bt709", "bt470bg", "tv")),
        (
            {
                "width": 720,
                "height": 576,
                "color_space": "bt470bg",
                "color_primaries": "bt470bg",
                "color_transfer": "smpte170m",
            },
            Colour("bt470bg", "bt709", "bt470bg", "tv"),
        ),
        # Full range: said by the tag, or by a yuvj pixel format; MJPEG's matrix is JPEG's BT.601.
        (
            {"pix_fmt": "yuvj420p", "color_range": "pc", "color_space": "bt470bg"},
            Colour("bt470bg", "bt709", "bt709", "pc"),
        ),
        ({"pix_fmt": "yuvj422p"}, Colour(range="pc")),
        # Phone HDR: HLG or PQ in BT.2020; primaries and matrix assumed BT.2020 when only the transfer is tagged.
        (
            {
                "pix_fmt": "yuv420p10le",
                "color_space": "bt2020nc",
                "color_transfer": "arib-std-b67",
                "color_primaries": "bt2020",
            },
            Colour("bt2020nc", "arib-std-b67", "bt2020", "tv"),
        ),
        ({"color_transfer": "smpte2084"}, Colour("bt2020nc", "smpte2084", "bt2020", "tv")),
        # Tags zscale cannot convert from are replaced by the assumption.
        ({"color_space": "ycgco", "color_primaries": "jedec-p22"}, BT709),
    ],
)
def test_source_colour(fields: dict[str, object], expected: Colour) -> None:
    assert source_colour(_stream(**fields)) == expected


def test_probe_colour_tags_reach_the_source_info() -> None:
    tags = {"color_range": "pc", "color_space": "bt709", "color_transfer": "bt709", "color_primaries": "bt709"}
    assert source_info(_probe(**tags)).colour == Colour(range="pc")


TAG_PIXELS = ["format=yuv420p", TAG]


def test_a_bt709_source_is_only_tagged() -> None:
    assert to_bt709(BT709) == [TAG]


def test_full_range_is_converted_to_limited() -> None:
    steps = to_bt709(Colour(range="pc"))
    assert steps == ["zscale=pin=bt709:min=bt709:rin=pc:tin=bt709:p=bt709:t=bt709:m=bt709:r=tv", *TAG_PIXELS]


def test_sd_bt601_is_converted_to_bt709() -> None:
    steps = to_bt709(Colour("bt470bg", "bt709", "bt470bg", "tv"))
    assert steps[0] == "zscale=pin=bt470bg:min=bt470bg:rin=tv:tin=bt709:p=bt709:t=bt709:m=bt709:r=tv"
    assert steps[1:] == TAG_PIXELS


@pytest.mark.parametrize("transfer", ["arib-std-b67", "smpte2084"])
def test_hdr_is_tone_mapped_in_linear_light(transfer: str) -> None:
    steps = to_bt709(Colour("bt2020nc", transfer, "bt2020", "tv"))
    assert steps == [
        # Linear light in units of BT.2408 reference white (203 cd/m²), in float.
        f"zscale=pin=bt2020:min=bt2020nc:rin=tv:tin={transfer}:t=linear:npl=203",
        "format=gbrpf32le",
        "zscale=p=bt709",
        # Highlights up to 1000 cd/m² (4.926 x reference white) roll off into SDR white.
        "tonemap=tonemap=mobius:param=0.7:desat=0:peak=4.926",
        "zscale=t=bt709:m=bt709:r=tv",
        *TAG_PIXELS,
    ]


def test_the_colour_conversion_runs_once_before_the_split_and_every_cut_is_tagged() -> None:
    hlg = replace(HD, colour=Colour("bt2020nc", "arib-std-b67", "bt2020", "tv"))
    args = build_args(_job("tiktok", "youtube", info=hlg))
    graph = _value(args, "-filter_complex")
    first = graph.split(";")[0]
    assert first.startswith("[0:v]zscale=pin=bt2020") and "tonemap=" in first and "split=" in first
    assert graph.count("tonemap=tonemap") == 1
    tags = ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv"]
    encodes = [i for i, a in enumerate(args) if a == "-c:v"]
    assert len(encodes) == 2
    for start in encodes:
        window = args[start : start + 30]
        assert any(window[k : k + len(tags)] == tags for k in range(len(window)))


def test_bumpers_are_converted_from_their_own_colour() -> None:
    intro = Bumper(Path("/w/intro.mp4"), replace(INTRO.info, colour=Colour(range="pc")))
    graph = build_graph(_job("youtube", intro=intro))[0]
    assert graph.startswith(f"[0:v]{TAG},")
    assert "[1:v]zscale=pin=bt709:min=bt709:rin=pc:" in graph


def test_stills_are_converted_from_the_source_and_to_jpeg_colour() -> None:
    pal = replace(HD, colour=Colour("bt470bg", "bt709", "bt470bg", "tv"))
    graph = _value(stills_args(Path("/w/s.mp4"), 1.0, pal, [(1280, 720, Path("/w/t.jpg"))]), "-filter_complex")
    assert graph.startswith("[0:v]zscale=pin=bt470bg:min=bt470bg:rin=tv:")
    # JFIF: full range, BT.601 matrix.
    assert graph.endswith("setsar=1,zscale=m=bt470bg:r=pc,format=yuvj420p[v0]")


def test_read_rate_caps_the_input() -> None:
    from loa_transcode.graph import EncodeOptions

    args = build_args(_job("youtube", options=EncodeOptions(read_rate=1.5), trim=Trim(1.0)))
    assert args[: args.index("-i")] == ["-ss", "1", "-readrate", "1.5"]
    assert "-readrate" not in build_args(_job("youtube"))


# --- what a cut's signed manifest says was done --------------------------------------------------------


def test_a_cuts_edits_are_what_its_job_did_to_the_footage() -> None:
    loud = Loudness(input_i=-23.5, input_tp=-6.1, input_lra=4.2, input_thresh=-33.9, target_offset=0.3)
    plain = _job("youtube", "tiktok")
    youtube, tiktok = (out.target for out in plain.outputs)
    assert edits_of(plain, youtube) == ()  # a 1080p 16:9 source as the 1080p 16:9 cut: nothing done to it
    assert edits_of(plain, tiktok) == ("reframed", "resized")  # 9:16, 1080x1920 from 1920x1080
    everything = replace(
        plain,
        trim=Trim(start_s=2.0, end_s=8.0),
        subtitles=Path("/w/subs.srt"),
        logo=Path("/w/logo.png"),
        intro=INTRO,
        outro=OUTRO,
        loudness=loud,
    )
    done = ("trimmed", "reframed", "resized", "subtitles", "logo", "intro", "outro", "loudness")
    assert edits_of(everything, tiktok) == done
    # A trim that keeps the whole footage is no trim; a smaller cut of the same shape is a resize.
    assert edits_of(replace(plain, trim=Trim(start_s=0.0, end_s=10.0)), youtube) == ()
    uhd = _job("youtube", info=SourceInfo(3840, 2160, 10.0, True, "30", 30.0))
    assert edits_of(uhd, uhd.outputs[0].target) == ()  # 4K stays 4K on YouTube
    assert edits_of(plain, _target("zalo")) == ("resized",)  # 1280x720: the same shape, smaller
