"""schemathesis hooks for ingest's raw-body routes: tus chunks and subtitle files (loaded with
SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks)."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.transport.serialization import serialize_binary


@schemathesis.serializer("application/offset+octet-stream")
def tus_chunk(ctx: Any, value: Any) -> bytes:
    # A tus PATCH body is raw bytes, like application/octet-stream.
    return serialize_binary(value)


@schemathesis.serializer("application/x-subrip")
def subtitle_file(ctx: Any, value: Any) -> bytes:
    # POST /subtitles takes the SRT file itself as the body: generated strings go as UTF-8 text.
    return value.encode("utf-8") if isinstance(value, str) else serialize_binary(value)
