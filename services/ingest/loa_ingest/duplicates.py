"""The same file uploaded again: the same footage, and never a silent change of what it says. Pure functions.

A file is footage once (by its sha256). Sent again with the same details (a retry, a second click), the answer is
that footage. Sent again with other details (a new title, other channels, a later publish time), the upload is
refused and says so: the footage already exists, possibly already transcoded or posted, and an upload must not
quietly drop the new details nor quietly change what may already be on the channels.
"""

from __future__ import annotations

from loa_core.contracts import FootageMetadata
from loa_ingest.validation import RejectedUpload

# What each detail is called for people: (English, Vietnamese).
DETAIL_NAMES: dict[str, tuple[str, str]] = {
    "title": ("title", "tiêu đề"),
    "description": ("description", "mô tả"),
    "tags": ("tags", "thẻ"),
    "series": ("series", "chuỗi sự kiện"),
    "channels": ("channels", "kênh đăng"),
    "event_date": ("event date", "ngày sự kiện"),
    "trim_start_s": ("trim start", "điểm cắt đầu"),
    "trim_end_s": ("trim end", "điểm cắt cuối"),
    "subtitles_key": ("subtitles", "phụ đề"),
    "vertical_framing": ("vertical framing", "khung dọc"),
    "publish_at": ("publish time", "giờ đăng"),
}


class AlreadyUploaded(RejectedUpload):
    """The file is already footage, and this upload's details differ from that footage's: nothing was changed."""

    def __init__(self, message: str, footage_id: str) -> None:
        super().__init__(message)
        self.footage_id = footage_id


def changed_details(existing: FootageMetadata | None, sent: FootageMetadata) -> list[str]:
    """The fields in which `sent` differs from the footage's details; all of them when those are not known."""
    fields = list(FootageMetadata.model_fields)
    if existing is None:
        return fields
    return [name for name in fields if getattr(existing, name) != getattr(sent, name)]


def already_uploaded(footage_id: str, existing: FootageMetadata | None, changed: list[str]) -> AlreadyUploaded:
    """The refusal, saying which footage the file is, what was not applied, and what the person can do."""
    if existing is None:
        title = ""
        not_applied_en = "the details sent with this upload were not applied"
        not_applied_vi = "thông tin gửi kèm lần tải này không được áp dụng"
    else:
        title = f' ("{existing.title}")'
        names_en = ", ".join(DETAIL_NAMES.get(name, (name, name))[0] for name in changed)
        names_vi = ", ".join(DETAIL_NAMES.get(name, (name, name))[1] for name in changed)
        not_applied_en = f"these new details were not applied: {names_en}"
        not_applied_vi = f"các thông tin mới sau không được áp dụng: {names_vi}"
    message = (
        f"This file was already uploaded: it is footage {footage_id}{title}. Nothing was changed ({not_applied_en}), "
        "because uploading a file again never changes the footage it already is, and the details of uploaded "
        f"footage cannot be changed yet. Follow that footage with `loa status {footage_id}` or on the upload page. "
        f"/ Tệp này đã được tải lên: video {footage_id}{title}. Không có gì thay đổi ({not_applied_vi}), vì tải lại "
        "cùng một tệp không sửa video đã có, và hiện chưa thể sửa thông tin của video đã tải lên. Theo dõi video "
        f"đó bằng `loa status {footage_id}` hoặc trên trang tải lên."
    )
    return AlreadyUploaded(message, footage_id)
