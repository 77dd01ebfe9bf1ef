"""The archiver's Prometheus metrics, declared in one place (served on /metrics by loa_core.observability)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# Segments stored as they closed, by source (rtmp push or hls pull): the archive's heartbeat.
SEGMENTS_STORED = Counter("loa_archiver_segments_stored_total", "Recorded segments stored", ["source"])
# Archives assembled and announced as footage.uploaded (outcome: announced, empty, failed).
ARCHIVES_FINISHED = Counter("loa_archiver_archives_finished_total", "Archives finished", ["outcome"])
# Livestreams being recorded right now.
LIVE_STREAMS = Gauge("loa_archiver_live_streams", "Livestreams being recorded", ["source"])
# RTMP publishes refused (unknown or revoked key, wrong app, key already live).
RTMP_REFUSED = Counter("loa_archiver_rtmp_refused_total", "RTMP publishes refused")
# HLS URLs refused by the SSRF policy (including redirects to refused addresses).
HLS_REFUSED = Counter("loa_archiver_hls_refused_total", "HLS pull URLs refused by the address policy")
