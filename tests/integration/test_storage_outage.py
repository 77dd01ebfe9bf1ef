"""S3 (MinIO) unreachable mid-batch: the workers retry, every footage completes, nothing half-written shows.

The MinIO is this test's own (the session's is shared by every other test). A transcode worker and a publisher run
as processes on S3 storage; once the first cuts are announced the MinIO is SIGKILLed (connections refused, as a
crashed or unreachable server) and started again on the same port and data after an outage of OUTAGE_S. The issue
asks for 30 s; 15 s keeps the test short and still outlasts botocore's own retries (about 5 s), so the services' own
retries are what carries the batch through.
"""

from __future__ import annotations

from pathlib import Path

from loa_core.contracts import layout
from loa_core.hashing import sha256_file
from loa_dev.kafka import KafkaBroker
from tests.support.faults import storage_outage_batch
from tests.support.pipeline import assert_each_transcoded_and_posted_once

OUTAGE_S = 15.0


def test_storage_unreachable_mid_batch_completes_once_and_shows_nothing_half_written(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    outcome, storage = storage_outage_batch(
        tmp_path, kafka_broker.bootstrap, topic_prefix, batch=6, outage_s=OUTAGE_S, timeout_s=120
    )
    print(outcome.summary())
    assert_each_transcoded_and_posted_once(outcome)
    keys = storage.list()
    assert [k for k in keys if k.startswith(layout.STAGING.prefix)] == []
    for ready in outcome.ready:
        for rendition in ready.renditions:  # type: ignore[attr-defined]
            assert storage.size(rendition.key) == rendition.size_bytes, rendition.key
    for footage_id in outcome.footage_ids:
        posted = tmp_path / "pipe" / "published" / footage_id / "youtube.mp4"
        stored = storage.local_path(layout.rendition_key(footage_id, "youtube"))
        assert stored is not None
        assert sha256_file(posted) == sha256_file(stored)
