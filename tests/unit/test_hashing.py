"""The one content hash of a local file (ingest's dedup, the archiver's recordings, the tests)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from loa_core.hashing import sha256_file


def test_sha256_file_hashes_the_whole_file_across_blocks(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one read block, not a multiple of it
    path = tmp_path / "clip.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
