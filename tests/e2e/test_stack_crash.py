"""The embedded stack (broker and ingest) SIGKILLed at random moments of an upload batch, with torn appends left at
the end of its logs as a power cut leaves them: every restart comes up and every footage announced before a kill is
still there, on Kafka and in ingest's catalog.

The suite runs a few trials (the kill points are random, the seed is printed); bench/stack_crash.py runs 20, with
metrics in the stack if asked.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.support.stack_crash import CrashRun

TRIALS = 3
pytestmark = pytest.mark.e2e


def test_the_stack_killed_at_random_points_restarts_with_every_footage_announced_before(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    run = CrashRun(root=tmp_path / "stack", rng=random.Random(seed))
    trials = run.run(TRIALS, log=print)
    assert len(trials) == TRIALS
    assert all(t.announced > 0 for t in trials)
