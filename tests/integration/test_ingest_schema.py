"""schemathesis against the running ingest's own OpenAPI schema: no input it generates may cause a 5xx.

Run through schemathesis' CLI: its pytest plugin does not work with pytest 9 (it reads `Function._nodeid`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loa_dev.kafka import KafkaBroker
from tests.support.ingest import IngestProcess, run_ingest


@pytest.fixture(scope="module")
def ingest(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    env = {"LOA_RATE_LIMIT_BURST": "100000", "LOA_MAX_UPLOAD_BYTES": "10000000"}
    with run_ingest(tmp_path_factory.mktemp("ingest-schema"), kafka_broker.bootstrap, env) as process:
        yield process


def test_schemathesis_finds_no_server_errors(ingest: IngestProcess, tmp_path: Path) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    argv = [
        str(schemathesis),
        "run",
        f"{ingest.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        # With the admin token, so generated requests reach the handlers instead of stopping at 401.
        "--header",
        f"Authorization: Bearer {ingest.token}",
        "--max-examples",
        "30",
        "--seed",
        "20261121",
        "--generation-deterministic",
        "--request-timeout",
        "60",
        "--no-shrink",
        # The relays answer 502 by design here: no metrics service and no publisher run in this test. The status
        # relays are exercised against a running metrics by tests/e2e/test_ingest_page.py (their 502 by
        # test_ingest_access), the cut and still endpoints (which ask metrics for the cut's key) by
        # test_ingest_footage_page.py, the retry relay against a running publisher by test_post_actions.py, and the
        # inbox (every act first reads its item from metrics) by test_ward_walk.py and tests/e2e/test_inbox_page.py.
        "--exclude-name",
        "GET /footage",
        "--exclude-name",
        "GET /footage/{footage_id}",
        "--exclude-name",
        "GET /footage/{footage_id}/cuts/{profile}",
        "--exclude-name",
        "GET /footage/{footage_id}/stills/{kind}",
        "--exclude-name",
        "POST /posts/{footage_id}/retry",
        "--exclude-path-regex",
        "^/inbox",
    ]
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks", "PYTHONPATH": str(repo)}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=540, cwd=tmp_path, env=env)
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    # It really generated requests, and every one passed the check.
    counts = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert counts is not None and counts[1] == counts[2] and int(counts[1]) >= 100, report
    assert ingest.alive()
    assert httpx.get(f"{ingest.url}/healthz").status_code == 200
