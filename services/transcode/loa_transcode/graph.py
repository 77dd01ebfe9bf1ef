"""Build the one ffmpeg command that decodes the source once and writes every cut. Pure: no ffmpeg runs here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from loa_transcode.profiles import Profile

# The blurred background is computed at a quarter of the output size: blur is the costly part, and a
# background that is blurred anyway loses nothing visible at low resolution.
BLUR_DOWNSCALE = 4
BLUR_RADIUS = 10


@dataclass(frozen=True)
class Output:
    profile: Profile
    path: Path


@dataclass(frozen=True)
class EncodeOptions:
    preset: str = "veryfast"
    crf: int = 23
    threads: int = 0


def _same_aspect(width: int, height: int, profile: Profile) -> bool:
    return abs(width / height - profile.aspect) < 0.01


def _even(n: float) -> int:
    return max(2, int(n) // 2 * 2)


def _fan_out(
    stream: ffmpeg.nodes.FilterableStream, count: int, split_filter: str
) -> list[ffmpeg.nodes.FilterableStream]:
    """One decoded stream feeds many filter chains through split/asplit (a filter output is used once)."""
    if count == 1:
        return [stream]
    split = stream.filter_multi_output(split_filter, count)
    return [split.stream(i) for i in range(count)]


def _fit_on_blur(
    fg_src: ffmpeg.nodes.FilterableStream, bg_src: ffmpeg.nodes.FilterableStream, profile: Profile
) -> ffmpeg.nodes.FilterableStream:
    """The whole frame stays visible, centred on a blurred, cropped copy of itself: never stretched."""
    small_w, small_h = _even(profile.width / BLUR_DOWNSCALE), _even(profile.height / BLUR_DOWNSCALE)
    background = (
        bg_src.filter("scale", small_w, small_h, force_original_aspect_ratio="increase")
        .filter("crop", small_w, small_h)
        .filter("boxblur", BLUR_RADIUS)
        .filter("scale", profile.width, profile.height)
    )
    foreground = fg_src.filter(
        "scale", profile.width, profile.height, force_original_aspect_ratio="decrease", force_divisible_by=2
    )
    return ffmpeg.overlay(background, foreground, x="(W-w)/2", y="(H-h)/2")


def build_args(
    source: Path,
    *,
    width: int,
    height: int,
    duration_s: float,
    has_audio: bool,
    outputs: list[Output],
    options: EncodeOptions,
) -> list[str]:
    """ffmpeg arguments (without the program name) for one decode feeding every output."""
    if not outputs:
        raise ValueError("at least one output is needed")
    src = ffmpeg.input(f"file:{source}")
    needs_blur = [not _same_aspect(width, height, o.profile) for o in outputs]
    video_streams = _fan_out(src.video, len(outputs) + sum(needs_blur), "split")

    if has_audio:
        # Resample once, then fan out: every platform wants 48 kHz stereo AAC.
        audio = src.audio.filter("aresample", 48_000).filter("aformat", channel_layouts="stereo")
    else:
        # Platforms handle silent tracks better than none, so footage without audio gets digital silence.
        audio = ffmpeg.input("anullsrc=channel_layout=stereo:sample_rate=48000", f="lavfi", t=f"{duration_s:.3f}").audio
    audio_streams = _fan_out(audio, len(outputs), "asplit")

    rendered: list[ffmpeg.nodes.OutputStream] = []
    cursor = 0
    for output, blur in zip(outputs, needs_blur, strict=True):
        p = output.profile
        if blur:
            video = _fit_on_blur(video_streams[cursor], video_streams[cursor + 1], p)
            cursor += 2
        else:
            video = video_streams[cursor].filter("scale", p.width, p.height)
            cursor += 1
        video = video.filter("setsar", 1).filter("format", "yuv420p")
        rendered.append(
            ffmpeg.output(
                video,
                audio_streams[len(rendered)],
                str(output.path),
                vcodec="libx264",
                preset=options.preset,
                crf=options.crf,
                **{"profile:v": "high", "b:a": p.audio_bitrate},
                acodec="aac",
                ar=p.audio_rate,
                ac=2,
                # moov before mdat, so platforms and browsers start playing before the download ends.
                movflags="+faststart",
                threads=options.threads,
                # Cut both tracks at the source's duration so every cut matches it.
                t=f"{duration_s:.3f}",
            )
        )
    return list(ffmpeg.merge_outputs(*rendered).get_args())
