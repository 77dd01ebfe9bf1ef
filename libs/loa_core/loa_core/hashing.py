"""The content hash Loa knows a file by (ingest's dedup, the archiver's recordings, `SourceMedia.sha256`)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    """The sha256 of a local file as hex, read in blocks (bounded memory, the GIL released while hashing)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
