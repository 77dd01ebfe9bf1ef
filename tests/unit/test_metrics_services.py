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
