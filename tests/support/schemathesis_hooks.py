"""schemathesis hooks for ingest's tus routes (loaded with SCHEMATHESIS_HOOKS=tests.support.schemathesis_hooks)."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.transport.serialization import serialize_binary


@schemathesis.serializer("application/offset+octet-stream")
def tus_chunk(ctx: Any, value: Any) -> bytes:
    # A tus PATCH body is raw bytes, like application/octet-stream.
    return serialize_binary(value)
