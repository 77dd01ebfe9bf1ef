"""Encoder settings by measurement: the pick among measured trials, the CRF search, VMAF's command and score, and
the per-cut settings reaching x264 (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loa_core.media import parse_vmaf, vmaf_args
from loa_dev.encoder_settings import Trial, choose, highest_crf_at_bar
from loa_transcode.graph import EncodeOptions, Output, video_codec_args
from loa_transcode.profiles import PROFILES, resolve


def _trial(preset: str, crf: int | None, cpu_s: float, vmaf: float, size: int = 1000) -> Trial:
    return Trial(preset, crf, cpu_s, cpu_s, size, vmaf)


def test_the_pick_is_the_least_cpu_at_or_above_the_bar() -> None:
    bar = _trial("veryfast", 23, 10.0, 90.0)
    trials = [bar, _trial("superfast", 21, 7.0, 90.1), _trial("superfast", 23, 6.0, 89.9), _trial("fast", 25, 9.0, 92)]
    assert choose(trials, bar.vmaf) == trials[1]
    # Exactly at the bar counts; on equal CPU time the smaller file wins.
    same = [_trial("faster", 24, 7.0, 90.0, size=900), _trial("superfast", 20, 7.0, 95.0, size=1200)]
    assert choose([bar, *same], 90.0) == same[0]


def test_with_nothing_at_the_bar_there_is_no_pick() -> None:
    with pytest.raises(ValueError, match="no candidate"):
        choose([_trial("superfast", 30, 1.0, 70.0)], 90.0)


def test_the_highest_crf_at_the_bar_is_found_by_bisection() -> None:
    measured: list[int] = []

    def measure(crf: int) -> Trial:
        measured.append(crf)
        return _trial("superfast", crf, 5.0, 100.0 - crf)  # VMAF falls one point per CRF step

    found = highest_crf_at_bar(measure, 79.0, 14, 32)
    assert found is not None and found.crf == 21
    assert len(measured) <= 5  # log2 of 19 candidates, not all of them
    assert highest_crf_at_bar(measure, 99.0, 14, 32) is None


def test_vmaf_compares_the_distorted_first_against_the_reference() -> None:
    args = vmaf_args(["-i", "file:/w/cut.mp4"], ["-f", "rawvideo", "-s", "64x64", "-i", "file:/w/ref.yuv"], threads=2)
    assert args[:2] == ["-i", "file:/w/cut.mp4"] and args.index("file:/w/ref.yuv") > 2
    graph = args[args.index("-lavfi") + 1]
    assert graph.endswith("[distorted][reference]libvmaf=n_threads=2")
    assert "[0:v]setpts=PTS-STARTPTS[distorted]" in graph and "[1:v]setpts=PTS-STARTPTS[reference]" in graph


def test_the_vmaf_score_is_read_from_libvmafs_line() -> None:
    stderr = "frame=  60 fps=0.0\n[Parsed_libvmaf_4 @ 0x7f4d84001f80] VMAF score: 83.718892\n[out#0/null @ 0x5] video"
    assert parse_vmaf(stderr) == pytest.approx(83.718892)
    with pytest.raises(ValueError, match="no VMAF score"):
        parse_vmaf("[out#0/null @ 0x5] video:25KiB")


def _codec(name: str, options: EncodeOptions, duration_s: float = 60.0) -> list[str]:
    target = resolve(PROFILES[name], source_width=1920, source_height=1080, duration_s=duration_s)
    return video_codec_args(Output(target, Path("/w/cut.mp4")), options)


def test_each_cut_gets_its_own_measured_settings_unless_the_options_say_otherwise() -> None:
    for name, profile in PROFILES.items():
        args = _codec(name, EncodeOptions())
        assert args[args.index("-preset") + 1] == profile.preset
        if profile.max_size_bytes is None:
            assert args[args.index("-crf") + 1] == str(profile.crf)
    forced = _codec("youtube", EncodeOptions(preset="superfast", crf=30))
    assert (forced[forced.index("-preset") + 1], forced[forced.index("-crf") + 1]) == ("superfast", "30")
    # A size-driven cut has a bitrate, never a CRF.
    assert "-crf" not in _codec("zalo", EncodeOptions(crf=30)) and "-b:v" in _codec("zalo", EncodeOptions())
