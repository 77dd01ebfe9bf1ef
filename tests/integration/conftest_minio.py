"""Session-wide real MinIO server fixture.

tests/conftest.py enables it for every test layer (integration and e2e share the one server); a run without that
conftest can load it as a plugin: `python -m pytest -p tests.integration.conftest_minio`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.minio import MinioServer

__all__ = ["minio_server"]


@pytest.fixture(scope="session")
def minio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """One MinIO for the whole session (starting takes seconds); tests isolate themselves by bucket."""
    server = MinioServer(workdir=tmp_path_factory.mktemp("minio")).start()
    try:
        yield server
    finally:
        server.stop()
