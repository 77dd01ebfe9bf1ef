"""What the media team says about an upload, checked once for both doors (tus Upload-Metadata and the form)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from loa_core.channels import Channel
from loa_core.contracts import FootageMetadata
from loa_ingest.validation import RejectedUpload, clean_text, split_list

# Keys browsers and tus clients send on their own (Uppy: name, type, filename, filetype, relativePath). Accepted
# and, apart from the file name check, ignored: Loa names objects itself.
CLIENT_KEYS = frozenset({"name", "type", "filename", "filetype", "relativePath", "relativepath"})
FIELDS = frozenset({"title", "description", "tags", "series", "channels"})


def check_filename(name: str) -> None:
    """A file name is a label only, but one that tries to climb folders or hide control characters is refused."""
    text = unicodedata.normalize("NFC", name)
    parts = text.replace("\\", "/").split("/")
    if "/" in text or "\\" in text or ".." in parts or any(unicodedata.category(c) == "Cc" for c in text):
        raise RejectedUpload("The file name must be a plain name, without folders. / Tên tệp không hợp lệ.")
    if len(text) > 255:
        raise RejectedUpload("The file name is longer than 255 characters. / Tên tệp quá dài.")


def build_metadata(
    fields: Mapping[str, str | Sequence[str]], channels: Mapping[str, Channel], *, strict_keys: bool = True
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
        unknown = sorted(set(fields) - FIELDS - CLIENT_KEYS)
        if unknown:
            raise RejectedUpload(f"Unknown metadata field(s): {', '.join(unknown)}. / Trường không hợp lệ.")
    for key in ("filename", "name"):
        name = one(key)
        if name:
            check_filename(name)
    title = one("title")
    if title is None or not title.strip():
        raise RejectedUpload("A title is required. / Cần có tiêu đề.")
    names = [unicodedata.normalize("NFC", n) for n in many("channels")] or list(channels)[:1]
    unknown_channels = [n for n in names if n not in channels]
    if unknown_channels:
        raise RejectedUpload(
            f"Unknown channel(s): {', '.join(unknown_channels)}. Known: {', '.join(channels)}. / Kênh không tồn tại."
        )
    series = one("series")
    try:
        return FootageMetadata(
            title=clean_text(title, "title", 200),
            description=clean_text(one("description") or "", "description", 5000),
            tags=tuple(dict.fromkeys(clean_text(t, "tag", 100) for t in many("tags"))),
            series=clean_text(series, "series", 100) or None if series else None,
            channels=tuple(dict.fromkeys(names)),
        )
    except ValidationError as exc:
        raise RejectedUpload("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc
