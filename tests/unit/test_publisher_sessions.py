"""Adapter upload sessions are typed: each adapter's frozen dataclass goes to the ledger's JSON and back, and the
dicts the previous version stored still load (a publisher upgraded mid-upload resumes, never posts twice)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from loa_publisher.adapters import PermanentError, UploadSession
from loa_publisher.adapters.facebook import FacebookUpload
from loa_publisher.adapters.tiktok import TikTokUpload
from loa_publisher.adapters.youtube import YouTubeUpload
from loa_publisher.adapters.zalo import ZaloUpload

EXPIRES = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

# What the previous version stored (a dict of strings and numbers), and what it means now.
PREVIOUS: list[tuple[dict[str, Any], object]] = [
    ({"uri": "https://up/1", "size": 10}, YouTubeUpload(uri="https://up/1", size=10)),
    (
        {
            "publish_id": "v_pub_file~1",
            "upload_url": "https://tt/upload/1",
            "size": 11,
            "chunk_size": 5,
            "count": 2,
            "mode": "direct",
            "username": "ward",
            "expires_at": EXPIRES.timestamp(),  # was seconds since the epoch
            "uploaded": True,
        },
        TikTokUpload("v_pub_file~1", "https://tt/upload/1", 11, 5, 2, "direct", "ward", EXPIRES, uploaded=True),
    ),
    ({"upload_id": "upload:9", "size": 7}, FacebookUpload(upload_id="upload:9", size=7)),
    (
        {"upload_id": "upload:9", "size": 7, "handle": "h1", "publishing": True},
        FacebookUpload(upload_id="upload:9", size=7, handle="h1", publishing=True),
    ),
    (
        {"size": 3, "upload_token": "tok", "video_id": "vid", "creating": True},
        ZaloUpload(size=3, upload_token="tok", video_id="vid", creating=True),
    ),
]


def session(data: dict[str, Any] | None, store: list[dict[str, Any] | None]) -> UploadSession:
    return UploadSession(data, _save=store.append, _clear=lambda: store.append(None))


@pytest.mark.parametrize(("stored", "expected"), PREVIOUS)
def test_what_the_previous_version_stored_still_loads(stored: dict[str, Any], expected: object) -> None:
    assert session(stored, []).load(type(expected)) == expected


@pytest.mark.parametrize("value", [expected for _, expected in PREVIOUS])
def test_a_session_goes_to_json_and_back(value: object) -> None:
    store: list[dict[str, Any] | None] = []
    session(None, store).save(value)
    assert session(store[-1], []).load(type(value)) == value


def test_stored_data_of_another_shape_is_not_dropped_silently() -> None:
    with pytest.raises(PermanentError, match="not a TikTokUpload"):
        session({"uri": "https://up/1", "size": 10}, []).load(TikTokUpload)


def test_only_a_dataclass_is_saved() -> None:
    with pytest.raises(TypeError):
        session(None, []).save({"uri": "https://up/1"})
