"""The per-service metric helpers wired into the other services."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from loa_transcode import metrics as transcode_metrics


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_transcode_job_counts_times_and_marks_active() -> None:
    ok, error = (
        _value("loa_transcode_jobs_total", {"outcome": "ok"}),
        _value("loa_transcode_jobs_total", {"outcome": "error"}),
    )
    with transcode_metrics.job():
        assert _value("loa_transcode_jobs_active") == 1
    with pytest.raises(RuntimeError), transcode_metrics.job():
        raise RuntimeError("ffmpeg failed")
    assert _value("loa_transcode_jobs_active") == 0
    assert _value("loa_transcode_jobs_total", {"outcome": "ok"}) == ok + 1
    assert _value("loa_transcode_jobs_total", {"outcome": "error"}) == error + 1
    assert _value("loa_transcode_job_seconds_bucket", {"outcome": "ok", "le": "28800.0"}) >= 1


def test_publisher_upload_outcomes() -> None:
    from loa_core.streaming import PermanentError
    from loa_publisher import metrics as publisher_metrics
    from loa_publisher.adapters import QuotaExceeded

    def count(outcome: str) -> float:
        return _value("loa_publisher_uploads_total", {"platform": "unit", "outcome": outcome})

    before = {o: count(o) for o in ("ok", "quota", "failed")}
    with publisher_metrics.upload("unit"):
        assert _value("loa_publisher_uploads_active") == 1
    with pytest.raises(PermanentError), publisher_metrics.upload("unit"):
        raise PermanentError("403 forbidden")
    quota = QuotaExceeded.__new__(QuotaExceeded)  # its constructor's arguments do not matter here
    with pytest.raises(QuotaExceeded), publisher_metrics.upload("unit"):
        raise quota
    assert {o: count(o) - before[o] for o in before} == {"ok": 1, "quota": 1, "failed": 1}
    assert _value("loa_publisher_uploads_active") == 0
