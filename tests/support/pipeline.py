"""Transcode and publisher workers as processes around one shared storage, for replica and fault tests.

Every worker has its own data folder (its scratch space, as a pod has) and shares the storage, the publish folder
and, when given, the ledger (as replicas share S3 and PostgreSQL). Footage goes to two channels: `ward` (the
`local` target) and `ward-yt` (the YouTube emulator, where a second upload of one footage would be a second
video, so a duplicate post cannot hide behind an idempotent copy).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import GroupCoordinatorNotAvailableError
from aiokafka.partitioner import DefaultPartitioner

from loa_core.channels import Channel, dump_channels
from loa_core.contracts import (
    DEAD_LETTER,
    FOOTAGE_UPLOADED,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
    Event,
    FootageUploaded,
    TopicSpec,
    new_id,
)
from loa_core.kafka import EventProducer
from loa_core.storage import LocalStorage, Storage, make_storage
from loa_dev.processes import stop_processes
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.kafka import read_topic
from tests.support.media import make_clip
from tests.support.minio import MinioServer
from tests.support.publisher_process import PublisherProcess
from tests.support.transcode import TranscodeWorker, upload

CHANNELS = ("ward", "ward-yt")


def two_channels(youtube: YouTubeEmulator) -> list[Channel]:
    """`ward` (the `local` target) and `ward-yt` (the YouTube emulator), each posting the YouTube cut."""
    return [
        Channel(name="ward", platform="local", profiles=("youtube",)),
        Channel(
            name="ward-yt",
            platform="youtube",
            profiles=("youtube",),
            options={"base_url": youtube.base_url, "token_url": f"{youtube.base_url}/token"},
        ),
    ]


def youtube_secrets(youtube: YouTubeEmulator) -> dict[str, str]:
    """The publisher's environment for `ward-yt`'s credentials on the emulator."""
    return {
        "LOA_SECRET_WARD_YT_CLIENT_ID": youtube.client_id,
        "LOA_SECRET_WARD_YT_CLIENT_SECRET": youtube.client_secret,
        "LOA_SECRET_WARD_YT_REFRESH_TOKEN": youtube.refresh_token,
    }


def encodes(logs: list[Path], footage_ids: list[str]) -> Counter[str]:
    """How many times each footage was encoded, from transcode workers' logs of the ffmpeg runs they started."""
    return Counter(
        footage_id
        for log in logs
        if log.exists()
        for line in log.read_text(errors="replace").splitlines()
        if "libx264" in line and "running" in line
        for footage_id in footage_ids
        if footage_id in line
    )


def partition_of(footage_id: str, partitions: int = 6) -> int:
    """The partition a footage's records go to (the producers' default partitioner, keyed by footage id)."""
    return int(DefaultPartitioner()(footage_id.encode(), list(range(partitions)), list(range(partitions))))


@dataclass
class BatchOutcome:
    """What a batch left behind."""

    footage_ids: list[str]
    ready: list[Event]  # renditions.ready, every record
    published: list[Event]  # posts.published, every record
    failed: list[Event]
    dead_letters: list[Event]
    youtube_videos: int  # videos on the YouTube emulator: a post made twice is a second video
    local_posts: list[str]  # footage folders in the `local` target's publish folder
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def wanted(self) -> set[tuple[str, str]]:
        return {(f, c) for f in self.footage_ids for c in CHANNELS}

    def posts(self) -> Counter[tuple[str, str]]:
        """Distinct posts (by the platform's post id) per (footage, channel)."""
        distinct = {(e.footage_id, e.channel, e.post_id) for e in self.published}  # type: ignore[attr-defined]
        return Counter((f, c) for f, c, _ in distinct)

    def post_announcements(self) -> dict[tuple[str, str], set[str]]:
        """The distinct posts.published event ids per (footage, channel) (announcing a post again repeats its id)."""
        found: dict[tuple[str, str], set[str]] = {}
        for e in self.published:
            found.setdefault((e.footage_id, e.channel), set()).add(e.event_id)  # type: ignore[attr-defined]
        return found

    def announced(self) -> dict[str, set[str]]:
        """The distinct renditions.ready event ids per footage (a redone job announces the same id again)."""
        found: dict[str, set[str]] = {f: set() for f in self.footage_ids}
        for e in self.ready:
            found.setdefault(e.footage_id, set()).add(e.event_id)  # type: ignore[attr-defined]
        return found

    def summary(self) -> str:
        posts = self.posts()
        return (
            f"footage {len(self.footage_ids)}, posts wanted {len(self.wanted)}; lost: "
            f"{len(self.wanted - set(posts))} posts, {sum(not ids for ids in self.announced().values())} transcodes;"
            f" posted twice: {sum(n > 1 for n in posts.values())} (YouTube videos: {self.youtube_videos});"
            f" announcements repeated: renditions.ready {len(self.ready) - len(self.footage_ids)}, posts.published"
            f" {len(self.published) - sum(posts.values())}; dead letters {len(self.dead_letters)}, posts.failed"
            f" {len(self.failed)}; " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
        )


def assert_each_transcoded_and_posted_once(outcome: BatchOutcome) -> None:
    """One announced set of cuts per footage, one post per (footage, channel), one video per footage on the
    platform and one folder in the `local` target, each announced as one event (maybe repeated), nothing failed or
    dead-lettered."""
    announced = outcome.announced()
    assert all(len(ids) == 1 for ids in announced.values()), announced
    posts = outcome.posts()
    assert duplicates(list(posts.elements())) == {}
    assert set(posts) == outcome.wanted, outcome.summary()
    post_announcements = outcome.post_announcements()
    assert all(len(ids) == 1 for ids in post_announcements.values()), post_announcements
    assert outcome.youtube_videos == len(outcome.footage_ids), outcome.summary()
    assert outcome.local_posts == outcome.footage_ids
    assert outcome.dead_letters == [] and outcome.failed == [], outcome.summary()


def spread_ids(count: int, partitions: int = 6) -> list[str]:
    """`count` new footage ids, as evenly spread over the partitions as `count` allows."""
    per_partition = -(-count // partitions)
    ids: list[str] = []
    while len(ids) < count:
        candidate = new_id()
        if sum(partition_of(i, partitions) == partition_of(candidate, partitions) for i in ids) < per_partition:
            ids.append(candidate)
    return ids


class Pipeline:
    """The shared parts (storage, publish folder, channels, the YouTube emulator) and the workers started on them."""

    def __init__(
        self, root: Path, bootstrap: str, prefix: str, youtube: YouTubeEmulator, minio: MinioServer | None = None
    ) -> None:
        """Storage is a local folder, or a bucket on `minio` when given."""
        self.root = root
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.youtube = youtube
        self.storage: Storage
        # The workers' storage settings (as LOA_* without the prefix, lower case).
        self.storage_settings: dict[str, str]
        if minio is None:
            self.storage = LocalStorage(root / "storage")
            self.storage_settings = {"storage_root": str(root / "storage")}
        else:
            self.storage = make_storage(minio.storage_settings("loa-pipe"))
            env = minio.service_env("loa-pipe")
            self.storage_settings = {k.removeprefix("LOA_").lower(): v for k, v in env.items()}
        self.publish_dir = root / "published"
        self.channels = two_channels(youtube)
        self.channels_file = root / "channels.json"
        root.mkdir(parents=True, exist_ok=True)
        self.channels_file.write_text(dump_channels(self.channels), "utf-8")
        self.transcoders: list[TranscodeWorker] = []
        self.publishers: list[PublisherProcess] = []

    def uploads(self, count: int) -> list[FootageUploaded]:
        """`count` footage in storage, each a tiny generated clip (160x90, 1 s), as ingest would announce them,
        spread evenly over the partitions (so every worker of a group gets some)."""
        clip = make_clip(self.root / "clip.mp4", width=160, height=90, duration_s=1.0)
        return [upload(self.storage, clip, footage_id, channels=CHANNELS) for footage_id in spread_ids(count)]

    def transcoder(self, name: str, **settings: str) -> TranscodeWorker:
        worker = TranscodeWorker(
            self.root / name,
            self.bootstrap,
            self.prefix,
            name,
            profiles="youtube",
            **self.storage_settings,
            data_dir=str(self.root / name / "data"),
            channels_file=str(self.channels_file),
            # A SIGKILLed worker's partitions move after this long without its heartbeat.
            broker_session_timeout_s="6",
            broker_heartbeat_interval_s="1",
            **settings,
        )
        self.transcoders.append(worker)
        return worker

    def publisher(self, name: str, **env: str) -> PublisherProcess:
        process = PublisherProcess(
            self.root / name,
            bootstrap=self.bootstrap,
            prefix=self.prefix,
            channels=self.channels,
            token="test-token-" + new_id(),
            env={
                **{f"LOA_{k.upper()}": v for k, v in self.storage_settings.items()},
                "LOA_PUBLISH_DIR": str(self.publish_dir),
                **youtube_secrets(self.youtube),
                # A SIGKILLed worker's partitions move after 6 s without its heartbeat (as the transcode workers'), and
                # a post it left in flight is resumed by another after 3 s without a heartbeat in the ledger.
                "LOA_BROKER_SESSION_TIMEOUT_S": "6",
                "LOA_HEARTBEAT_S": "0.5",
                "LOA_ABANDONED_AFTER_S": "3",
                **env,
            },
        )
        self.publishers.append(process)
        return process

    def outcome(self, uploads: list[FootageUploaded], timings: dict[str, float] | None = None) -> BatchOutcome:
        """What the batch left on the topics, the platform and the publish folder; read after every worker stopped
        (a graceful stop commits), so nothing more can be added."""

        def every(spec: TopicSpec) -> list[Event]:
            records = read_topic(self.bootstrap, spec.full_name(self.prefix), timeout_s=3)
            return [spec.event.from_bytes(r.value or b"") for r in records]

        return BatchOutcome(
            footage_ids=sorted(u.footage_id for u in uploads),
            ready=every(RENDITIONS_READY),
            published=every(POSTS_PUBLISHED),
            failed=every(POSTS_FAILED),
            dead_letters=every(DEAD_LETTER),
            youtube_videos=len(self.youtube.videos),
            local_posts=sorted(p.name for p in self.publish_dir.iterdir() if p.is_dir()),
            timings=timings or {},
        )

    def stop(self) -> None:
        """SIGTERM to every worker at once (each commits what it finished), SIGKILL to any still running later."""
        stop_processes([w.process for w in self.transcoders] + [p.process for p in self.publishers])

    def logs(self) -> str:
        parts = [f"--- {w.name}\n{w.log_tail(30)}" for w in self.transcoders]
        parts += [f"--- {p.root.name}\n{p.log_tail(30)}" for p in self.publishers]
        return "\n".join(parts)


def send_all(bootstrap: str, prefix: str, events: list[FootageUploaded]) -> None:
    async def send() -> None:
        producer = EventProducer(bootstrap, prefix)
        try:
            for event in events:
                await producer.send(FOOTAGE_UPLOADED, event)
        finally:
            await producer.stop()

    asyncio.run(send())


def group_assignment(bootstrap: str, group: str) -> tuple[str, dict[str, set[tuple[str, int]]]]:
    """The consumer group's state and, per member id, the (topic, partition)s the broker has it own."""

    async def describe() -> tuple[str, dict[str, set[tuple[str, int]]]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            try:
                response = (await admin.describe_consumer_groups([group]))[0]
            except GroupCoordinatorNotAvailableError:  # a new broker still creating its offsets topic
                return "Unknown", {}
            _error, _group, state, _ptype, _protocol, members, *_ = response.groups[0]
            owned: dict[str, set[tuple[str, int]]] = {}
            for member_id, _client, _host, _metadata, assignment, *_ in members:
                decoded = ConsumerProtocolMemberAssignment.decode(assignment) if assignment else None
                owned[member_id] = {(tp.topic, tp.partition) for tp in decoded.partitions()} if decoded else set()
            return state, owned
        finally:
            await admin.close()

    return asyncio.run(describe())


def duplicates(pairs: list[Any]) -> dict[Any, int]:
    """What occurs more than once, with its count."""
    return {key: n for key, n in Counter(pairs).items() if n > 1}
