"""Init container of every Loa pod on Kubernetes: wait until every contract topic exists in the Kafka cluster.

On Kubernetes the topics come from the cluster's side: Strimzi's topic operator (components/strimzi/topics.yaml) or
the administrators of an external cluster. Each service would create any contract topic it finds missing at start
(loa_core.kafka.ensure_topics); it asks for the broker's default.replication.factor, so a topic it made first would
still have the cluster's replicas, but it would race the topic operator and bypass the administrators. Waiting here
orders the start-up instead: the pods start once the topics exist, and ensure_topics finds them all and creates none.
"""

from __future__ import annotations

import asyncio
import os

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from loa_core.contracts import ALL_TOPICS


async def missing_topics(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [spec.full_name(prefix) for spec in ALL_TOPICS if spec.full_name(prefix) not in existing]


async def main() -> None:
    bootstrap, prefix = os.environ["LOA_KAFKA_BOOTSTRAP"], os.environ.get("LOA_TOPIC_PREFIX", "")
    while True:
        try:
            missing = await missing_topics(bootstrap, prefix)
        except (KafkaError, OSError) as exc:  # the brokers are still starting: say so and try again
            print(f"waiting for Kafka at {bootstrap} / chờ Kafka tại {bootstrap}: {exc}", flush=True)
        else:
            if not missing:
                return
            print(f"waiting for the topics / chờ các topic: {', '.join(missing)}", flush=True)
        await asyncio.sleep(2)


if __name__ == "__main__":
    asyncio.run(main())
