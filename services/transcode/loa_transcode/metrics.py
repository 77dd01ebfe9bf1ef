"""Every Prometheus metric transcode exports, declared once (Faust's sensor and dead letters come from loa_core)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import Counter, Gauge

from loa_core.metrics import job_duration_histogram

# Transcode attempts by outcome: ok, or error (retried or dead-lettered; loa_dead_letters_sent_total says which).
JOBS = Counter("loa_transcode_jobs_total", "Transcode attempts by outcome", ["outcome"])
# Wall-clock seconds per attempt, by outcome; buckets up to 8 h (a 2-hour livestream takes a while).
JOB_SECONDS = job_duration_histogram("loa_transcode_job_seconds", "Transcode attempt duration", ["outcome"])
# Attempts running now in this worker: summed over workers, how busy the transcode fleet is.
JOBS_ACTIVE = Gauge("loa_transcode_jobs_active", "Transcode attempts running now")
# Seconds of source footage transcoded successfully (throughput in media time, whatever the file sizes).
MEDIA_SECONDS = Counter("loa_transcode_media_seconds_total", "Seconds of footage transcoded")
# Bytes of renditions written to storage.
BYTES_STORED = Counter("loa_transcode_bytes_stored_total", "Bytes of renditions written to storage")

# Live chunks (live.chunks) encoded while their live goes on, by outcome: ok (encoded or found done), skipped (the
# archive cannot be made from chunks: it takes the single run) or error (retried or dead-lettered).
LIVE_CHUNKS = Counter("loa_transcode_live_chunks_total", "Live chunks handled", ["outcome"])
# How long the live chunk this worker started last had waited since the archiver announced it: near zero while the
# workers keep up with the lives; growing when they do not (the backlog a live's end will have to wait for).
LIVE_BACKLOG = Gauge("loa_transcode_live_backlog_seconds", "Wait of the latest live chunk before its encode began")

for _outcome in ("ok", "error"):
    JOBS.labels(_outcome)
    JOB_SECONDS.labels(_outcome)


@contextlib.contextmanager
def job() -> Iterator[None]:
    """Count, time and mark active one transcode attempt."""
    JOBS_ACTIVE.inc()
    started = time.monotonic()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        JOBS_ACTIVE.dec()
        JOBS.labels(outcome).inc()
        JOB_SECONDS.labels(outcome).observe(time.monotonic() - started)


for _outcome in ("ok", "skipped", "error"):
    LIVE_CHUNKS.labels(_outcome)
