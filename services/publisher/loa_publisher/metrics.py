"""Every Prometheus metric the publisher exports, declared once (Faust's sensor and dead letters come from loa_core).

Labels: platform (a fixed set of adapters), outcome and kind (fixed words). Never a footage, post or channel id.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import Counter, Gauge

from loa_core.metrics import job_duration_histogram
from loa_core.streaming import RetryableError

# Upload attempts by platform and outcome: ok, quota (held for the platform's next day), retry (held after
# transient errors), failed (permanent: the post waits for a person).
UPLOADS = Counter("loa_publisher_uploads_total", "Upload attempts by outcome", ["platform", "outcome"])
# Wall-clock seconds per upload attempt (a 4 GB upload over a slow uplink takes a while): buckets up to 8 h.
UPLOAD_SECONDS = job_duration_histogram("loa_publisher_upload_seconds", "Upload attempt duration", ["platform"])
# Uploads running now in this worker.
UPLOADS_ACTIVE = Gauge("loa_publisher_uploads_active", "Uploads running now")
# Authorization problems, by kind: token_rejected (a 401, normally cured by one refresh), refresh_refused (the
# platform refused the refresh token: the channel must be re-authorized), still_unauthorized (a 401 right after a
# fresh token: revoked access or missing scope). The last two need a person and are what the alert watches.
AUTH_FAILURES = Counter("loa_publisher_auth_failures_total", "Authorization failures by kind", ["kind"])

# Notices to approvers that a post awaits them (loa_publisher/notify.py), by way (email, webhook) and outcome (sent,
# failed: logged with the reason; the post still waits in the ledger and on the ward's page).
APPROVAL_NOTICES = Counter("loa_approval_notices_total", "Approval notices by way and outcome", ["way", "outcome"])

# People's actions on posts that went out (posts.actions), by platform, action (edit, unpublish) and outcome (edited,
# unpublished, failed: the platform refused or stayed down, or the action was refused before trying). A redelivered
# action answered again is not counted twice.
POST_ACTIONS = Counter(
    "loa_post_actions_total", "Actions on published posts by outcome", ["platform", "action", "outcome"]
)

# People's acts on citizens' comments and messages that reach a platform (feedback.actions: reply, hide, unhide), by
# platform, action and outcome (replied, hidden, unhidden, failed). An act answered again after a redelivery is not
# counted twice.
FEEDBACK_ACTIONS = Counter(
    "loa_publisher_feedback_actions_total",
    "Acts on comments and messages by outcome",
    ["platform", "action", "outcome"],
)
# YouTube Data API quota units the publisher spent, by call (comments.insert and comments.setModerationStatus 50,
# comments.list and channels.list 1, thumbnails.set 50): the project's daily quota (10,000 by default) is shared
# with metrics' polling.
YOUTUBE_QUOTA_UNITS = Counter("loa_publisher_youtube_quota_units_total", "YouTube quota units spent", ["call"])

for _kind in ("token_rejected", "refresh_refused", "still_unauthorized"):
    AUTH_FAILURES.labels(_kind)
for _way in ("email", "webhook"):
    for _outcome_word in ("sent", "failed"):
        APPROVAL_NOTICES.labels(_way, _outcome_word)


def _outcome(exc: BaseException) -> str:
    if type(exc).__name__ == "QuotaExceeded":
        return "quota"
    if isinstance(exc, RetryableError):
        return "retry"
    return "failed"  # PermanentError, or a bug: either way the post does not go out now


@contextlib.contextmanager
def upload(platform: str) -> Iterator[None]:
    """Count, time and mark active one upload attempt to a platform."""
    UPLOADS_ACTIVE.inc()
    started = time.monotonic()
    outcome = "ok"
    try:
        yield
    except BaseException as exc:
        outcome = _outcome(exc)
        raise
    finally:
        UPLOADS_ACTIVE.dec()
        UPLOADS.labels(platform, outcome).inc()
        UPLOAD_SECONDS.labels(platform).observe(time.monotonic() - started)
