from tests.integration.conftest_minio import minio_server

__all__ = ["minio_server"]
