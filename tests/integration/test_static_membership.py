"""A Faust worker with a stable instance name (`make run`, a StatefulSet) is a static consumer-group member: SIGKILLed
and restarted, it takes its partitions back at once, instead of waiting in a rebalance for its dead session to end."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loa_core.channels import Channel
from loa_core.contracts import RENDITIONS_READY, new_id
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.integration.test_publisher_registry import ready, send
from tests.support.publisher_process import PublisherProcess
from tests.support.publishing import event_for, metadata, stored_rendition

# The dead session (and the rebalance that would wait for it) outlives the whole test: a worker that had to wait it
# out would never get its partitions back within the test's bounds, so publishing after the restart proves the
# restarted worker was not made to wait. (Checked: without LOA_INSTANCE_ID this test fails.)
SESSION_S = 600
WITHIN_S = 120  # a bound for the test to fail on, far under SESSION_S; not a speed claim


@pytest.fixture
def publisher(tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str) -> Iterator[PublisherProcess]:
    process = PublisherProcess(
        tmp_path / "publisher",
        bootstrap=kafka_broker.bootstrap,
        prefix=topic_prefix,
        channels=[Channel(name="local", platform="local", profiles=("youtube",))],
        token="test-token-" + new_id(),
        env={
            "LOA_INSTANCE_ID": "publisher-0",
            "LOA_BROKER_SESSION_TIMEOUT_S": str(SESSION_S),
            # A dynamic member's restart waits in a rebalance for the dead member until this (Faust reads it from
            # the environment); a static member's restart needs no rebalance at all.
            "BROKER_REBALANCE_TIMEOUT": str(SESSION_S),
        },
    )
    yield process
    process.stop()


def wait_for(what: str, check: Callable[[], bool], publisher: PublisherProcess) -> None:
    deadline = time.monotonic() + WITHIN_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {WITHIN_S} s\n{publisher.log_tail()}")


def published(publisher: PublisherProcess, footage_id: str) -> Callable[[], bool]:
    folder = publisher.root / "published"
    return lambda: folder.is_dir() and any(footage_id in path.name for path in folder.rglob("*"))


def send_rendition(broker: KafkaBroker, prefix: str, storage: LocalStorage, footage_id: str) -> None:
    rendition = stored_rendition(storage, 1000, footage_id=footage_id)
    send(broker.bootstrap, prefix, RENDITIONS_READY, event_for(footage_id, metadata(("local",)), rendition))


def test_a_killed_worker_restarted_under_its_name_publishes_again_without_waiting_out_its_old_session(
    publisher: PublisherProcess, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    storage = LocalStorage(publisher.root / "storage")
    publisher.start()
    wait_for("/readyz", lambda: ready(publisher), publisher)

    first = new_id()
    send(
        kafka_broker.bootstrap,
        topic_prefix,
        RENDITIONS_READY,
        event_for(first, metadata(("local",)), stored_rendition(storage, 1000, footage_id=first)),
    )
    wait_for("the first post", published(publisher, first), publisher)

    publisher.kill()  # no LeaveGroup: the broker still counts the dead process's session for SESSION_S
    publisher.start()
    second = new_id()
    send(
        kafka_broker.bootstrap,
        topic_prefix,
        RENDITIONS_READY,
        event_for(second, metadata(("local",)), stored_rendition(storage, 1000, footage_id=second)),
    )
    wait_for("the post sent after the restart", published(publisher, second), publisher)
