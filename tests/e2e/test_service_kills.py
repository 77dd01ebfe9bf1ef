"""Any unit of the embedded stack (the broker, ingest, transcode, publisher or metrics) SIGKILLed at a random moment
of an upload batch and started again by `make run`'s supervisor: every footage is published once on every channel
(the `local` target and the YouTube emulator), none lost, none duplicated; announcements repeat only with their own
event id.

The suite runs one trial (the unit and the moment are random, the seed is printed); bench/service_kills.py runs the
issue's 20 and prints each.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.support.service_kills import ServiceKills

pytestmark = pytest.mark.e2e


def test_a_unit_killed_at_a_random_moment_of_a_batch_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    with ServiceKills(tmp_path, random.Random(seed), batch=2) as run:
        trial = run.trial(1)
    print(trial.line())
    assert trial.footage == 2
    assert (trial.lost, trial.duplicated, trial.problems) == (0, 0, [])
