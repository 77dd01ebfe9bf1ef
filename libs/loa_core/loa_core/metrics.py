"""Prometheus metrics every service shares, declared once, with helpers to declare service-specific ones.

Labels stay bounded: routes are templates (`/footage/{footage_id}`), never raw paths; services, topics and
consumer groups are fixed names; never a footage, post or event id.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

# Buckets for jobs that run from a second to hours (a 2-hour livestream's transcode): Faust's own
# histograms stop at 10 s, which would put every transcode in +Inf.
JOB_BUCKETS: tuple[float, ...] = (
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1200,
    1800,
    3600,
    7200,
    14400,
    28800,
)

# Buckets for HTTP requests: most answer in milliseconds; an upload of a large file takes minutes.
HTTP_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


def job_duration_histogram(name: str, documentation: str, labelnames: Sequence[str] = ()) -> Histogram:
    """A histogram of job durations in seconds with buckets up to 8 hours."""
    return Histogram(name, documentation, labelnames, buckets=JOB_BUCKETS)


# HTTP requests answered, by method, route template and status code (rate and errors).
HTTP_REQUESTS = Counter("loa_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
# HTTP request latency in seconds, by method and route template, until the response's last byte.
HTTP_LATENCY = Histogram(
    "loa_http_request_duration_seconds", "HTTP request latency", ["method", "route"], buckets=HTTP_BUCKETS
)
# Records this process sent to the dead-letter topic, by the service that gave up and the error's type name.
DEAD_LETTERS_SENT = Counter(
    "loa_dead_letters_sent_total", "Records sent to the dead-letter topic", ["origin_service", "error_type"]
)
# 1 while a service has stopped consuming a topic because its dead-letter limit was reached (the reason is on its
# /readyz and in its log), 0 while it consumes. Topic is the contract's name, without the deployment's prefix.
CONSUMER_STOPPED = Gauge(
    "loa_consumer_stopped", "Stopped consuming a topic at its dead-letter limit", ["service", "topic"]
)
# Records not yet consumed, per consumer group and topic (end offset minus committed offset, summed over
# partitions). A group with no commit on a partition counts that partition's whole log.
CONSUMER_LAG = Gauge("loa_consumer_lag", "Records not yet consumed", ["group", "topic"])
# Unix time of the last successful lag measurement: an alert can tell "no lag" from "not measured".
CONSUMER_LAG_MEASURED = Gauge("loa_consumer_lag_measured_timestamp_seconds", "Last successful lag measurement")
# Channel registry records a process could not read (not a ChannelUpdated it understands), by the reading service.
# Each is logged and passed over; the channel keeps its last readable configuration until a newer record.
CHANNEL_RECORDS_UNREADABLE = Counter(
    "loa_channel_records_unreadable_total", "Unreadable channel registry records passed over", ["service"]
)
