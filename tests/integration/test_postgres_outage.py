"""PostgreSQL crashed and back in the middle of a batch: every footage published once, none lost, none duplicated.

The publisher's ledger (what makes each post happen once) is on a PostgreSQL server of this test's own, which
crashes after the first post (every connection cut, no checkpoint), stays away 5 s while posts are in flight, and
comes back on the same port and data. The batch completes: one announced set of cuts per footage, one post per
(footage, channel), one video per footage on the YouTube emulator, nothing dead-lettered or failed.
"""

from __future__ import annotations

from pathlib import Path

from loa_dev.kafka import KafkaBroker
from tests.support.faults import postgres_outage_batch
from tests.support.pipeline import assert_each_transcoded_and_posted_once


def test_postgres_crashed_mid_batch_loses_and_duplicates_nothing(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    outcome, posted_before = postgres_outage_batch(
        tmp_path, batch=8, bootstrap=kafka_broker.bootstrap, prefix=topic_prefix
    )
    print(outcome.summary())
    # The outage hit a batch still being posted (8 footage to 2 channels: 16 posts).
    assert posted_before < 16
    assert_each_transcoded_and_posted_once(outcome)
