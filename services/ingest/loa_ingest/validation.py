"""Decide whether an upload is footage Loa can work with, and clean its metadata. Pure functions."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from loa_core.media import ProbeResult
from loa_ingest.settings import IngestSettings


class RejectedUpload(ValueError):
    """The upload is refused; the message is for the person who sent it (English / Vietnamese)."""


def media_problems(probe: ProbeResult, settings: IngestSettings) -> list[str]:
    video = probe.video
    if video is None or not video.width or not video.height:
        return ["The file has no video stream. / Tệp không có hình ảnh (video)."]
    problems = []
    if probe.duration_s <= 0:
        problems.append("The video has no duration. / Video không có thời lượng.")
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
