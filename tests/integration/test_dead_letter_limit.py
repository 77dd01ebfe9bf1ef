"""The dead-letter limit on a real broker, with the transcode worker as a process: after a run of records it cannot
process, it stops consuming instead of dead-lettering the rest of the topic, says why, and commits nothing past
the record it held; after the fix (here: a restart with a higher limit) the held records are processed."""

from __future__ import annotations

from pathlib import Path

import httpx
from aiokafka.partitioner import DefaultPartitioner

from loa_core.contracts import DEAD_LETTER, FOOTAGE_UPLOADED, DeadLetter, group_id
from loa_dev.kafka import KafkaBroker
from tests.support.kafka import produce_raw, read_topic
from tests.support.polling import wait_until
from tests.support.transcode import TranscodeWorker, committed_offsets

KEY = b"one-partition"  # every record on one partition, so the committed offset says which were consumed
PARTITION = int(DefaultPartitioner()(KEY, list(range(6)), list(range(6))))


def _dead_letters(bootstrap: str, prefix: str) -> list[DeadLetter]:
    """Every dead letter so far (the workers are stopped: nothing more can come)."""
    records = read_topic(bootstrap, DEAD_LETTER.full_name(prefix), timeout_s=5)
    return [DeadLetter.from_bytes(r.value or b"") for r in records]


def _stopped_reason(readyz: str) -> str | None:
    try:
        answer = httpx.get(readyz, timeout=5)
    except httpx.HTTPError:
        return None  # not listening yet
    reason = answer.json().get("reason", "")
    return reason if answer.status_code == 503 and "stopped consuming" in reason else None


def test_a_run_of_dead_letters_stops_the_consumer_and_leaves_the_rest_unconsumed(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    group = group_id("transcode", topic_prefix)
    limited = TranscodeWorker(
        tmp_path / "w", bootstrap, topic_prefix, "limited", dead_letter_max_consecutive="3", concurrency="1"
    )
    for n in range(6):  # a producer gone wrong: six records no reader can decode
        produce_raw(bootstrap, FOOTAGE_UPLOADED.full_name(topic_prefix), f"broken {n}".encode(), key=KEY)

    limited.start()
    try:
        readyz = f"http://127.0.0.1:{limited.port}/readyz"
        # Before the limit /readyz says 503 too (no partitions yet): wait for the limit's reason.
        reason = wait_until(lambda: _stopped_reason(readyz), 120, "/readyz to say why", diagnose=limited.log_tail)
        assert "transcode stopped consuming footage.uploaded" in reason, reason
        assert "4 records in a row could not be processed" in reason and "liên tiếp" in reason
        metrics = httpx.get(f"http://127.0.0.1:{limited.port}/metrics", timeout=5).text
        assert 'loa_consumer_stopped{service="transcode",topic="footage.uploaded"} 1.0' in metrics
    finally:
        limited.stop()  # SIGTERM: the stop commits what was consumed
    assert limited.process is not None and limited.process.returncode == 0, limited.log_tail()

    # Three dead letters (the limit), the fourth record held, none of the rest touched: committed up to the held one.
    letters = _dead_letters(bootstrap, topic_prefix)
    assert sorted(letter.original_value for letter in letters) == ["broken 0", "broken 1", "broken 2"]
    assert committed_offsets(bootstrap, group)[PARTITION] == 3

    # After the fix, the held record and those after it are consumed: here they are still broken, so they go to
    # the dead-letter topic, each once.
    fixed = TranscodeWorker(tmp_path / "w", bootstrap, topic_prefix, "fixed", concurrency="1")
    fixed.start()
    try:
        fixed.wait_assigned()
        wait_until(
            lambda: committed_offsets(bootstrap, group).get(PARTITION) == 6,
            120,
            "the held records to be consumed",
            diagnose=fixed.log_tail,
        )
    finally:
        fixed.stop()
    letters = _dead_letters(bootstrap, topic_prefix)
    assert sorted(letter.original_value for letter in letters) == [f"broken {n}" for n in range(6)]
