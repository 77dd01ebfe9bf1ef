"""Every Prometheus metric the metrics service exports, declared once. Labels stay bounded: never ids."""

from prometheus_client import Counter

# Each pipeline event projected, by topic (a fixed set of five names).
EVENTS_PROJECTED = Counter("loa_pipeline_events_total", "Pipeline events projected into the status view", ["topic"])
# Footage announced by ingest, by source (upload or livestream).
FOOTAGE_UPLOADED = Counter("loa_footage_uploaded_total", "Footage uploaded and validated", ["source"])
# Footage whose every cut is in storage.
FOOTAGE_TRANSCODED = Counter("loa_footage_transcoded_total", "Footage with all renditions ready")
# Footage whose every expected post is published.
FOOTAGE_PUBLISHED = Counter("loa_footage_published_total", "Footage published to every target channel")
# Posts that went live, by platform and channel (channels are configuration, so a small, fixed set).
POSTS_PUBLISHED = Counter("loa_posts_published_total", "Posts published", ["platform", "channel"])
# Posts that failed for good, by platform and channel.
POSTS_FAILED = Counter("loa_posts_failed_total", "Posts failed permanently", ["platform", "channel"])
# Records dead-lettered, by the service that gave up on them.
DEAD_LETTERS = Counter("loa_dead_letters_total", "Records sent to the dead-letter topic", ["origin_service"])
