"""The archiver on the S3 backend (real MinIO): segments and the assembled archive land in the bucket."""

from __future__ import annotations

import uuid
from pathlib import Path

from loa_core.storage import make_storage
from loa_dev.kafka import KafkaBroker
from tests.support.archiver import SEGMENT_S, Publisher, archiver_process, livestream_events
from tests.support.minio import MinioServer


def test_archive_on_s3(tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str, minio_server: MinioServer) -> None:
    bucket = f"archiver-{uuid.uuid4().hex[:12]}"
    s3 = {
        "storage_backend": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": minio_server.endpoint_url,
        "s3_access_key": minio_server.access_key,
        "s3_secret_key": minio_server.secret_key,
    }
    with archiver_process(tmp_path, kafka_broker.bootstrap, topic_prefix, **s3) as archiver:
        key = archiver.new_stream_key()
        publisher = Publisher(f"{archiver.rtmp_base}/{key['stream_key']}", 5)
        assert publisher.wait() == 0, publisher.stderr()
        archive_event = livestream_events(kafka_broker.bootstrap, topic_prefix, 2)[0]
        assert abs(archive_event.media.duration_s - publisher.sent_s) <= SEGMENT_S
        (archive,) = archiver.archives()
    storage = make_storage(minio_server.storage_settings(bucket))
    keys = storage.list(f"live/{archive['archive_id']}/")
    assert archive_event.media.key in keys
    assert len([k for k in keys if "/seg" in k]) == archive["segments"] >= 2
    assert storage.size(archive_event.media.key) == archive_event.media.size_bytes
    assert not (archiver.storage_root / "live").exists()  # nothing went to local disk storage
