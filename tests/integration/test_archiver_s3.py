"""RTMPS into the archiver on the S3 backend (real MinIO): the publish goes over TLS, a wrong key is refused, and
the segments and the assembled archive land in the bucket. (One archiver for both, to keep the suite short.)"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

from loa_core.contracts import layout
from loa_core.storage import make_storage
from loa_dev.kafka import KafkaBroker, free_port
from tests.support.archiver import SEGMENT_S, Publisher, archiver_process, livestream_events
from tests.support.minio import MinioServer


def test_rtmps_publish_archived_on_s3(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str, minio_server: MinioServer
) -> None:
    # A self-signed certificate for 127.0.0.1 (ffmpeg's RTMPS client does not verify by default, as OBS
    # does not for a custom server unless told to).
    cert, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key_file), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    rtmps_port = free_port()
    bucket = f"archiver-{uuid.uuid4().hex[:12]}"
    settings = {
        "rtmps_port": str(rtmps_port),
        "rtmps_cert_file": str(cert),
        "rtmps_key_file": str(key_file),
        "storage_backend": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": minio_server.endpoint_url,
        "s3_access_key": minio_server.access_key,
        "s3_secret_key": minio_server.secret_key,
    }
    with archiver_process(tmp_path / "a", kafka_broker.bootstrap, topic_prefix, **settings) as archiver:
        key = archiver.new_stream_key()
        assert key["rtmps_url"] == f"rtmps://127.0.0.1:{rtmps_port}/live"
        refused = Publisher(f"{key['rtmps_url']}/wrong-key", 2)
        assert refused.wait() != 0
        publisher = Publisher(f"{key['rtmps_url']}/{key['stream_key']}", 5)
        assert publisher.wait() == 0, publisher.stderr()
        archive_event = livestream_events(kafka_broker.bootstrap, topic_prefix, 2)[0]
        assert abs(archive_event.media.duration_s - publisher.sent_s) <= SEGMENT_S
        (archive,) = archiver.archives()
    storage = make_storage(minio_server.storage_settings(bucket))
    keys = storage.list(layout.live_prefix(archive["archive_id"]))
    assert archive_event.media.key in keys
    assert len([k for k in keys if "/seg" in k]) == archive["segments"] >= 2
    assert storage.size(archive_event.media.key) == archive_event.media.size_bytes
    assert not (archiver.storage_root / "live").exists()  # nothing went to local disk storage
