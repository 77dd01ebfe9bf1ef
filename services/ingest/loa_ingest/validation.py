"""Decide whether an upload is footage Loa can work with, and clean its metadata. Pure functions."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from loa_core.contracts import FootageMetadata
from loa_core.media import ProbeResult
from loa_ingest.settings import IngestSettings


class RejectedUpload(ValueError):
    """The upload is refused; the message is for the person who sent it (English / Vietnamese)."""


def media_problems(probe: ProbeResult, settings: IngestSettings) -> list[str]:
    video = probe.video
    if video is None or not video.width or not video.height:
        return ["The file is not a video: it has no video stream. / Tệp không có hình ảnh (video)."]
    problems = []
    if probe.format_name.endswith("_pipe") or probe.format_name == "image2":
        return ["The file is a still image, not a video. / Tệp là ảnh tĩnh, không phải video."]
    if probe.duration_s <= 0:
        problems.append("The file is not a video that plays: it has no duration. / Video không có thời lượng.")
    if probe.duration_s > settings.max_duration_s:
        problems.append(
            f"The video is {probe.duration_s:.0f} s long; the limit is {settings.max_duration_s:.0f} s. "
            "/ Video dài quá giới hạn."
        )
    if min(video.width, video.height) < settings.min_side_px or max(video.width, video.height) > settings.max_side_px:
        problems.append(
            f"The video is {video.width}x{video.height}; each side must be {settings.min_side_px}–"
            f"{settings.max_side_px} px. / Kích thước video không hợp lệ."
        )
    return problems


def trim_problems(metadata: FootageMetadata, duration_s: float) -> list[str]:
    """Trims must fall inside the footage; known only once ffprobe has measured it."""
    problems = []
    if metadata.trim_start_s is not None and metadata.trim_start_s >= duration_s:
        problems.append(
            f"trim_start_s ({metadata.trim_start_s:g} s) is past the end of the video ({duration_s:.2f} s). "
            "/ Điểm cắt đầu vượt quá thời lượng."
        )
    # A few milliseconds of slack: people type the duration the player shows, rounded.
    if metadata.trim_end_s is not None and metadata.trim_end_s > duration_s + 0.05:
        problems.append(
            f"trim_end_s ({metadata.trim_end_s:g} s) is past the end of the video ({duration_s:.2f} s). "
            "/ Điểm cắt cuối vượt quá thời lượng."
        )
    return problems


def clean_text(value: str, field: str, max_length: int) -> str:
    """NFC-normalize (Vietnamese typed on different keyboards differs in composition) and bound the length."""
    text = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise RejectedUpload(f"{field} contains control characters. / {field} chứa ký tự điều khiển.")
    if len(text) > max_length:
        raise RejectedUpload(f"{field} is longer than {max_length} characters. / {field} quá dài.")
    return text


def split_list(values: Iterable[str]) -> list[str]:
    """Accept both repeated form fields and comma-separated ones."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
