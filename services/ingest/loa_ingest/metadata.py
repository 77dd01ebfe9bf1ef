"""What the media team says about an upload, checked once for both doors (tus Upload-Metadata and the form)."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError

from loa_core.auth import Caller
from loa_core.channels import Channel
from loa_core.contracts import DEFAULT_WARD, FootageMetadata, WardId, layout
from loa_ingest.validation import RejectedUpload, clean_text, split_list

# Keys browsers and tus clients send on their own (Uppy: name, type, filename, filetype, relativePath). Accepted
# and, apart from the file name check, ignored: Loa names objects itself.
CLIENT_KEYS = frozenset({"name", "type", "filename", "filetype", "relativePath", "relativepath"})
FIELDS = frozenset(
    {
        "title",
        "description",
        "tags",
        "series",
        "channels",
        "event_date",
        "trim_start_s",
        "trim_end_s",
        "publish_at",
        "vertical_framing",
        "subtitles_key",
        "ward",  # read by `upload_ward`, not part of the metadata
    }
)
# `publish_at.<channel>`: that channel's own publish time (overrides `publish_at`, which is every channel's).
PUBLISH_AT_PREFIX = "publish_at."
# Where the wards are: a publish time typed without an offset (a phone's datetime-local) is this zone's time.
WARD_TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
MAX_TAGS = 30
MAX_CHANNELS = 20
# A publish time a little in the past is someone who filled the form slowly: post now rather than refuse.
PUBLISH_SLACK = timedelta(minutes=10)
PUBLISH_HORIZON = timedelta(days=366)
EARLIEST_EVENT = date(1945, 1, 1)
_WARD: TypeAdapter[str] = TypeAdapter(WardId)


def check_filename(name: str) -> None:
    """A file name is a label only, but one that tries to climb folders or hide control characters is refused."""
    text = unicodedata.normalize("NFC", name)
    parts = text.replace("\\", "/").split("/")
    if "/" in text or "\\" in text or ".." in parts or any(unicodedata.category(c) == "Cc" for c in text):
        raise RejectedUpload("The file name must be a plain name, without folders. / Tên tệp không hợp lệ.")
    if len(text) > 255:
        raise RejectedUpload("The file name is longer than 255 characters. / Tên tệp quá dài.")


def _seconds(value: str | None, field: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError as exc:
        raise RejectedUpload(f"{field} must be a number of seconds. / {field} phải là số giây.") from exc
    if not math.isfinite(seconds) or seconds < 0:
        raise RejectedUpload(f"{field} must be a non-negative number of seconds. / {field} không hợp lệ.")
    return seconds


def _event_date(value: str | None, today: date) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError as exc:
        raise RejectedUpload("event_date must be a date like 2026-11-20. / Ngày sự kiện không hợp lệ.") from exc
    if day < EARLIEST_EVENT or day > today + timedelta(days=1):
        raise RejectedUpload("event_date is not a plausible day for the event. / Ngày sự kiện không hợp lý.")
    return day


def publish_time(value: str | None, now: datetime, field: str = "publish_at") -> datetime | None:
    """A publish time: with its offset, or without one in the ward's time zone (Asia/Ho_Chi_Minh)."""
    if value is None or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise RejectedUpload(
            f"{field} must be a time like 2026-11-20T19:00:00+07:00. / Giờ đăng không hợp lệ ({field})."
        ) from exc
    if when.tzinfo is None or when.utcoffset() is None:
        when = when.replace(tzinfo=WARD_TIMEZONE)
    if when < now - PUBLISH_SLACK:
        raise RejectedUpload(f"{field} is in the past. / Giờ đăng đã qua ({field}).")
    if when > now + PUBLISH_HORIZON:
        raise RejectedUpload(f"{field} is more than a year ahead. / Giờ đăng quá xa ({field}).")
    return when


def _publish_times(
    one: Callable[[str], str | None], keys: Sequence[str], names: Sequence[str], now: datetime
) -> dict[str, datetime]:
    """Each channel's publish time: its own `publish_at.<channel>`, else the common `publish_at`, else none."""
    extra = [
        key[len(PUBLISH_AT_PREFIX) :] for key in keys if key.startswith(PUBLISH_AT_PREFIX) and (one(key) or "").strip()
    ]
    strangers = [name for name in extra if name not in names]
    if strangers:
        raise RejectedUpload(
            f"A publish time is given for channel(s) not chosen: {', '.join(strangers)}. "
            f"/ Có giờ đăng cho kênh không được chọn: {', '.join(strangers)}."
        )
    common = publish_time(one("publish_at"), now)
    times = {}
    for name in names:
        when = publish_time(one(PUBLISH_AT_PREFIX + name), now, PUBLISH_AT_PREFIX + name) or common
        if when is not None:
            times[name] = when
    return times


def _subtitles_key(value: str | None, ward: str) -> str | None:
    """A key the subtitles route gave this ward (`layout.subtitles_key`); another ward's or any other is refused."""
    if value is None or not value.strip():
        return None
    owner = layout.subtitles_ward(value.strip())
    if owner is None:
        raise RejectedUpload(
            "subtitles_key must be the key returned by POST /subtitles. / Mã phụ đề không hợp lệ, hãy tải tệp SRT lên."
        )
    if owner != ward:
        raise RejectedUpload(
            f"These subtitles belong to ward {owner}, not {ward}. / Phụ đề này thuộc phường {owner}, không phải {ward}."
        )
    return value.strip()


def upload_ward(fields: Mapping[str, str | Sequence[str]], caller: Caller) -> str:
    """The ward an upload belongs to: the uploader's own; a district admin names it in the `ward` field (else its
    own ward, else the default ward). Raise RejectedUpload for a ward that is not the caller's to upload to."""
    named = fields.get("ward")
    if named is not None and not isinstance(named, str):
        named = ",".join(named)
    named = named.strip() if named else None
    if not caller.is_district:
        if named and named != caller.ward:
            raise RejectedUpload(
                f"This token uploads for ward {caller.ward} only, not {named}. / Mã này chỉ tải lên cho phường "
                f"{caller.ward}, không phải {named}."
            )
        assert caller.ward is not None  # a caller confined to a ward always names it (loa_core.auth)
        return caller.ward
    ward = named or caller.ward or DEFAULT_WARD
    try:
        return _WARD.validate_python(ward)
    except ValidationError as exc:
        raise RejectedUpload(f"{ward!r} is not a ward id. / Mã phường không hợp lệ.") from exc


def build_metadata(
    fields: Mapping[str, str | Sequence[str]],
    channels: Mapping[str, Channel],
    *,
    ward: str = DEFAULT_WARD,
    strict_keys: bool = True,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FootageMetadata:
    """Validate and NFC-normalize the fields; raise RejectedUpload with a message for people."""

    def one(key: str) -> str | None:
        value = fields.get(key)
        if value is None or isinstance(value, str):
            return value
        return ",".join(value)

    def many(key: str) -> list[str]:
        value = fields.get(key)
        if value is None:
            return []
        return split_list([value] if isinstance(value, str) else list(value))

    if strict_keys:
        unknown = sorted(k for k in set(fields) - FIELDS - CLIENT_KEYS if not k.startswith(PUBLISH_AT_PREFIX))
        if unknown:
            raise RejectedUpload(f"Unknown metadata field(s): {', '.join(unknown)}. / Trường không hợp lệ.")
    for key in ("filename", "name"):
        name = one(key)
        if name:
            check_filename(name)
    title = one("title")
    if title is None or not title.strip():
        raise RejectedUpload("A title is required. / Cần có tiêu đề.")
    own = [name for name, channel in channels.items() if channel.ward == ward]
    names = [unicodedata.normalize("NFC", n) for n in many("channels")] or own[:1]
    if not names:
        raise RejectedUpload(f"Ward {ward} has no channel yet. / Phường {ward} chưa có kênh nào.")
    unknown_channels = [n for n in names if n not in channels]
    if unknown_channels:
        raise RejectedUpload(
            f"Unknown channel(s): {', '.join(unknown_channels)}. Known: {', '.join(own)}. / Kênh không tồn tại."
        )
    foreign = [n for n in names if channels[n].ward != ward]
    if foreign:
        raise RejectedUpload(
            f"Channel(s) {', '.join(foreign)} do not belong to ward {ward}; footage of ward {ward} goes to its own "
            f"channels: {', '.join(own)}. / Kênh {', '.join(foreign)} không thuộc phường {ward}."
        )
    if len(names) > MAX_CHANNELS:
        raise RejectedUpload(f"At most {MAX_CHANNELS} channels. / Quá nhiều kênh.")
    tags = tuple(dict.fromkeys(clean_text(t, "tag", 100) for t in many("tags")))
    if len(tags) > MAX_TAGS:
        raise RejectedUpload(f"At most {MAX_TAGS} tags. / Quá nhiều thẻ.")
    trim_start, trim_end = _seconds(one("trim_start_s"), "trim_start_s"), _seconds(one("trim_end_s"), "trim_end_s")
    if trim_end is not None and trim_end <= (trim_start or 0.0):
        raise RejectedUpload("trim_end_s must be after trim_start_s. / Điểm cắt cuối phải sau điểm cắt đầu.")
    current = now()
    channel_names = tuple(dict.fromkeys(names))
    publish_at = _publish_times(one, list(fields), channel_names, current)
    framing_text = one("vertical_framing") or "blur"
    if framing_text not in ("blur", "subject"):
        raise RejectedUpload("vertical_framing must be blur or subject. / Kiểu khung dọc không hợp lệ.")
    framing: Literal["blur", "subject"] = "subject" if framing_text == "subject" else "blur"
    series = one("series")
    try:
        return FootageMetadata(
            title=clean_text(title, "title", 200),
            description=clean_text(one("description") or "", "description", 5000),
            tags=tags,
            series=clean_text(series, "series", 100) or None if series else None,
            channels=channel_names,
            event_date=_event_date(one("event_date"), (current + timedelta(hours=7)).date()),
            trim_start_s=trim_start,
            trim_end_s=trim_end,
            subtitles_key=_subtitles_key(one("subtitles_key"), ward),
            vertical_framing=framing,
            publish_at=publish_at,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RejectedUpload(f"{problems}. / Thông tin video không hợp lệ.") from exc


def describe_upload(
    fields: Mapping[str, str | Sequence[str]], caller: Caller, channels: Mapping[str, Channel]
) -> tuple[str, FootageMetadata]:
    """An upload's ward (`upload_ward`) and its metadata, whose channels must be that ward's."""
    ward = upload_ward(fields, caller)
    return ward, build_metadata(fields, channels, ward=ward)
