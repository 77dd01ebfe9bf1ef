"""The Kafka broker SIGKILLed and restarted in the middle of a batch: every footage published once, none lost.

The broker is this test's own (the session's is shared by every other test). A transcode worker and a publisher
run as processes; the broker dies mid-batch with a power cut's SIGKILL, comes back on the same port and data, and
the batch completes: one announced set of cuts per footage, one post per (footage, channel), one video per footage
on the YouTube emulator, nothing dead-lettered. bench/broker_restart.py runs the same with the issue's 50 uploads.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.faults import broker_restart_batch
from tests.support.pipeline import assert_each_transcoded_and_posted_once


def test_broker_sigkilled_mid_batch_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    outcome = broker_restart_batch(tmp_path, batch=8)
    print(outcome.summary())
    assert_each_transcoded_and_posted_once(outcome)
