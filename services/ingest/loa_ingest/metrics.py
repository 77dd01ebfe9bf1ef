"""Every Prometheus metric ingest exports, declared once (HTTP rate/errors/latency come from loa_core)."""

from prometheus_client import Counter

# Uploads that reached the accept step, by outcome: accepted, duplicate (same content hash and details), conflict
# (same content hash, other details: refused, nothing changed), rejected.
UPLOADS = Counter("loa_ingest_uploads_total", "Uploads by outcome", ["outcome"])
# Bytes of raw footage written to storage (accepted uploads only).
BYTES_STORED = Counter("loa_ingest_bytes_stored_total", "Bytes of raw footage written to storage")

for _outcome in ("accepted", "duplicate", "conflict", "rejected"):
    UPLOADS.labels(_outcome)  # series exist at 0 before the first upload
