"""Ingest's producer as its audit-log outbox sees it: records what it sends on one topic instead of sending it."""

from __future__ import annotations

from typing import Generic, TypeVar

from loa_core.contracts import INGEST, Event, TopicSpec
from loa_core.kafka import EventProducer

E = TypeVar("E", bound=Event)


class RecordingProducer(EventProducer, Generic[E]):
    """Records the events of `spec` (each of type `kind`) in `sent`, or fails while `down` (a broker away). Records
    for other topics (the channel registry's, when a test imports channels) are let through unrecorded."""

    def __init__(self, spec: TopicSpec, kind: type[E]) -> None:
        super().__init__("127.0.0.1:1", service=INGEST)
        self.spec = spec
        self.kind = kind
        self.sent: list[E] = []
        self.down = False

    async def send(self, spec: TopicSpec, event: Event) -> None:
        if spec is not self.spec:
            return
        assert isinstance(event, self.kind)
        if self.down:
            raise ConnectionError("broker away")
        self.sent.append(event)
