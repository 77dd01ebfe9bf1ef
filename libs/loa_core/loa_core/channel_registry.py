"""The channel registry as every service sees it: the current channels in memory, kept by a reader of the topic.

Ingest writes one `ChannelUpdated` per change to the compacted `channels.registry` topic (contracts/channels.py).
Every process of every service runs a `RegistryReader`: no consumer group, every partition assigned, read from the
beginning and followed for ever, so a channel added, changed, disconnected or removed on the page applies everywhere
within seconds, without a restart. The reader is "ready" once it has read up to the end offsets it saw at its start:
before that, a channel missing from the registry may only not have been read yet, so services wait for it before
they judge a footage's channels.

A channels file (LOA_CHANNELS_FILE, or the embedded default) seeds the registry at revision 0: those channels are
known from the start, and any record of the topic (revision 1 and up) overrides them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from loa_core.channels import load_channels
from loa_core.contracts import CHANNEL_REGISTRY, Channel, ChannelState, ChannelUpdated, WardId, group_id
from loa_core.kafka import ensure_topics
from loa_core.metrics import CHANNEL_RECORDS_UNREADABLE

log = logging.getLogger(__name__)

# A seeded channel's revision: below every record's (ChannelUpdated.revision >= 1), so the topic always wins.
SEED_REVISION = 0

Listener = Callable[[Channel], None]


class ChannelRegistry(Mapping[str, Channel]):
    """The current channels by name (a read-only mapping), and whether the topic has been read up to date.

    Changed only by `apply` (the reader); whoever must react to a change (metrics' label sets, a held post)
    `subscribe`s and is called with the channel's new configuration (state REMOVED for a removal).
    """

    def __init__(self, seed: Iterable[Channel] = ()) -> None:
        self._channels: dict[str, Channel] = {c.name: c for c in seed}
        # Every name ever seen, removed ones included: a replayed older record of a removed channel stays ignored.
        self._revisions: dict[str, int] = dict.fromkeys(self._channels, SEED_REVISION)
        self._listeners: list[Listener] = []
        self._ready = asyncio.Event()  # binds to the running loop on first wait (Python >= 3.10)

    @classmethod
    def seeded(cls, channels_file: Path | None) -> ChannelRegistry:
        """A registry that starts with the channels file's channels (no file: the embedded default)."""
        return cls(load_channels(channels_file).values())

    # --- reading

    def __getitem__(self, name: str) -> Channel:
        return self._channels[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)

    def all(self) -> list[Channel]:
        """Every current channel, by name."""
        return sorted(self._channels.values(), key=lambda c: c.name)

    def for_ward(self, ward: WardId) -> list[Channel]:
        """One ward's current channels, by name."""
        return [c for c in self.all() if c.ward == ward]

    def revision(self, name: str) -> int | None:
        """The revision last applied for `name` (removals included), None for a name never seen."""
        return self._revisions.get(name)

    # --- readiness

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def not_ready(self) -> str | None:
        """Why this process does not know its channels yet (for /readyz), or None."""
        return None if self.ready else "channel registry not read up to date yet"

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def mark_ready(self) -> None:
        if not self.ready:
            self._ready.set()
            log.info("channel registry read up to date: %d channel(s) known", len(self))

    # --- changing

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def apply(self, update: ChannelUpdated) -> bool:
        """Apply one record: the highest revision per channel wins; REMOVED forgets the channel. True if it changed
        what a reader sees."""
        channel, name = update.channel, update.channel.name
        seen = self._revisions.get(name)
        if seen is not None and update.revision <= seen:
            return False  # a replay, or an older record read after a newer one
        self._revisions[name] = update.revision
        before = self._channels.get(name)
        if channel.state is ChannelState.REMOVED:
            if self._channels.pop(name, None) is None:
                return False
        elif before == channel:
            return False
        else:
            self._channels[name] = channel
        log.info("channel %s: revision %d, %s", name, update.revision, channel.state.value)
        for listener in self._listeners:
            try:
                listener(channel)
            except Exception:  # one listener's bug must not stop the registry or the other listeners
                log.exception("a listener of channel %s's change failed", name)
        return True


class RegistryReader:
    """Follows the registry topic into a `ChannelRegistry`, for ever: `run` is a service's background task.

    No consumer group (each process needs every record, and nothing is committed), so every partition is assigned
    and read from the beginning. The broker being away is waited out: aiokafka reconnects a running consumer by
    itself, and a reader that fails (the broker away at its start, the topic deleted) starts over after `retry_s`,
    from the beginning again, which the revisions make harmless.
    """

    def __init__(
        self, registry: ChannelRegistry, bootstrap: str, prefix: str, *, service: str, retry_s: float = 2.0
    ) -> None:
        self.registry = registry
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.service = service
        self.retry_s = retry_s
        self.topic = CHANNEL_REGISTRY.full_name(prefix)

    async def run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError, RuntimeError) as exc:  # the broker away (RuntimeError: ensure_topics)
                log.warning("reading channel registry %s failed (%s); again in %.1f s", self.topic, exc, self.retry_s)
            except Exception:  # a bug here must not leave the process without its channels for good
                log.exception("reading channel registry %s failed; again in %.1f s", self.topic, self.retry_s)
            await asyncio.sleep(self.retry_s)

    async def _follow(self) -> None:
        # The topic is declared in the contracts; a reader that starts first (a fresh installation, a test) makes it
        # rather than wait for ingest, as every service does with the topics it uses.
        await ensure_topics(self.bootstrap, self.prefix, (CHANNEL_REGISTRY,))
        # Subscribed without a group, aiokafka assigns this consumer every partition of the topic (and any added
        # later) and commits nothing.
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=f"{group_id(self.service)}-channels",
        )
        await consumer.start()
        try:
            assigned = await self._assignment(consumer)
            await consumer.seek_to_beginning(*assigned)
            ends = await consumer.end_offsets(sorted(assigned))
            while True:
                if not self.registry.ready and await self._caught_up(consumer, ends):
                    self.registry.mark_ready()
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        self._apply(record.value, record.partition, record.offset)
        finally:
            await consumer.stop()

    @staticmethod
    async def _assignment(consumer: AIOKafkaConsumer, timeout_s: float = 30.0) -> set[TopicPartition]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not (assigned := consumer.assignment()):
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("no partition of the topic in the broker's metadata")
            await asyncio.sleep(0.1)
        return set(assigned)

    @staticmethod
    async def _caught_up(consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int]) -> bool:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return False
        return True

    def _apply(self, value: bytes | None, partition: int, offset: int) -> None:
        where = f"{self.topic}[{partition}]@{offset}"
        if value is None:
            # A tombstone only lets compaction drop the key; the channel's REMOVED record said it was gone.
            log.info("tombstone at %s: nothing to apply", where)
            return
        try:
            update = ChannelUpdated.from_bytes(value)
        except (ValidationError, ValueError) as exc:
            # Logged and counted, then passed over: there is no consumer group to hold back and no footage to fail,
            # and the record stays on the topic for a person to read (kcat). The channel keeps its last readable
            # configuration until a newer record replaces it. Not dead-lettered: every process of every service
            # reads this topic, so each would send its own copy of the same dead letter.
            CHANNEL_RECORDS_UNREADABLE.labels(self.service).inc()
            log.error("unreadable channel registry record at %s passed over: %s", where, exc)
            return
        self.registry.apply(update)
