"""Any unit of the embedded stack (the broker or one of the four services) SIGKILLed at a random moment of an upload
batch, trial after trial (issue 13): every footage published once on every channel, none lost, none duplicated.

Used by tests/e2e/test_service_kills.py (a few trials) and bench/service_kills.py (the issue's 20). The stack is
`make run`'s: the embedded broker and ingest, transcode, publisher and metrics as processes (loa_dev.stack.Stack:
SQLite state, local storage, static group membership), kept up by `make run`'s own supervisor (loa_dev.supervise:
a unit that exits is started again after its backoff), polled from a thread. Footage goes to the two channels of
tests/support/pipeline.py: `ward` (the `local` target) and `ward-yt` (the YouTube emulator, where a post made twice is
a second video). Each trial uploads a batch of distinct tiny clips at once with `loa upload` (tus, resumable; run
again when it fails, as its message asks), SIGKILLs one unit chosen at random at a random point of the batch's
progress, waits for every post and for the killed unit to be back, and counts, for the batch's footage, what the
topics, the platform, the publish folder, the publisher's ledger and metrics' status say.

The kill point is drawn over the batch's progress, not over a clock, so that it falls inside the batch (at every
stage alike) however fast the machine is: a batch of N clips makes 4N announcements (N footage.uploaded, N
renditions.ready, 2N posts.published); the kill comes after a random number k of them (0 <= k < 4N), plus a random
0 to `JITTER_S` seconds (so it hits the work in flight, not only the moment an announcement was read).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from loa_core.channels import dump_channels
from loa_core.contracts import (
    DEAD_LETTER,
    FOOTAGE_UPLOADED,
    POSTS_FAILED,
    POSTS_PUBLISHED,
    RENDITIONS_READY,
)
from loa_dev.kafka import free_port
from loa_dev.stack import KAFKA, SERVICES, Stack
from loa_dev.supervise import Supervisor
from loa_publisher.ledger import Ledger, PostState
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.media import make_clip, tagged_copy
from tests.support.pipeline import CHANNELS, encodes, two_channels, youtube_secrets
from tests.support.transcode import EventCollector

UNITS = (KAFKA, *SERVICES)
LOA = Path(sys.executable).with_name("loa")  # the venv's console script
UPLOAD_RUNS = 4  # `loa upload` runs per clip at most (the first and what a person would run again)
JITTER_S = 2.0


@dataclass
class KillTrial:
    number: int
    unit: str  # the one SIGKILLed
    moment_s: float  # after the batch's uploads began
    at_kill: str  # how far the batch was then (the announcements k it waited for, and what was done)
    footage: int = 0
    lost: int = 0  # (footage, channel) posts not made, and clips never announced as footage
    duplicated: int = 0  # posts made more than once (by any count), and clips announced as two footage
    repeated: int = 0  # announcements repeated with their event id (allowed: the same cuts, the same post)
    encoded_again: int = 0  # footage encoded more than once (allowed: its offset was not committed)
    upload_reruns: int = 0  # `loa upload` runs that failed and were run again
    took_s: float = 0.0  # from the first upload to every post made and the killed unit back
    problems: list[str] = field(default_factory=list)  # each loss, duplicate or inconsistency, said

    def line(self) -> str:
        return (
            f"trial {self.number}: killed {self.unit} {self.moment_s:.1f} s into the batch ({self.at_kill}); "
            f"{self.footage} footage: lost {self.lost}, duplicated {self.duplicated}, announcements repeated "
            f"{self.repeated}, encoded again {self.encoded_again}, upload reruns {self.upload_reruns}; "
            f"{self.took_s:.1f} s" + "".join(f"\n  PROBLEM {p}" for p in self.problems)
        )


class ServiceKills:
    """The stack, the emulator and the supervisor, and the trials run on them (`with ServiceKills(...) as run`)."""

    def __init__(self, root: Path, rng: random.Random, batch: int = 3) -> None:
        """`batch` clips a trial."""
        self.root = root
        self.rng = rng
        self.batch = batch
        self.youtube = YouTubeEmulator(root / "youtube")
        self.stack = Stack(root=root / "stack", token=f"kills-{uuid.uuid4().hex}", kafka_port=free_port())
        self.supervisor_log: list[str] = []
        self.trials: list[KillTrial] = []
        self._stop = threading.Event()
        self._supervising = threading.Thread(target=self._supervise, daemon=True)
        self._events: EventCollector | None = None
        self._clips = 0

    # --- the stack

    def __enter__(self) -> ServiceKills:
        self.youtube.start()
        try:
            channels_file = self.root / "channels.json"
            channels_file.write_text(dump_channels(two_channels(self.youtube)), "utf-8")
            # Every service reads the channels; only the publisher uses the credentials.
            self.stack.extra_env = {"LOA_CHANNELS_FILE": str(channels_file), **youtube_secrets(self.youtube)}
            self.stack.start()
            self._supervising.start()
            assert self.stack.kafka_bootstrap is not None
            self._events = EventCollector(
                self.stack.kafka_bootstrap,
                self.stack.topic_prefix,
                FOOTAGE_UPLOADED,
                RENDITIONS_READY,
                POSTS_PUBLISHED,
                POSTS_FAILED,
                DEAD_LETTER,
            ).__enter__()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        if self._supervising.is_alive():
            self._supervising.join(60)
        if self._events is not None:
            self._events.__exit__()
        self.stack.stop()
        self.youtube.stop()

    def _supervise(self) -> None:
        """`make run`'s loop: the supervisor notices a unit that exited and starts it again after its backoff."""
        supervisor = Supervisor(self.stack, units=UNITS, log=self.supervisor_log.append)
        while not self._stop.is_set():
            supervisor.poll()
            time.sleep(0.2)

    def _back(self, unit: str, killed: subprocess.Popen[bytes]) -> bool:
        """The unit runs again in a new process that answers (the broker on its port, a service on /healthz)."""
        process = self.stack.process(unit)
        if process is None or process is killed or process.poll() is not None:
            return False
        if unit == KAFKA:
            assert self.stack.broker is not None
            try:
                socket.create_connection(("127.0.0.1", self.stack.broker.port), timeout=1).close()
            except OSError:
                return False
            return True
        try:
            return httpx.get(f"{self.stack.url(unit)}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def logs(self) -> str:
        parts = [f"--- {unit}\n{self.stack.log_tail(unit, 15)}" for unit in UNITS]
        return "\n".join([*parts, "--- supervisor", *self.supervisor_log[-10:]])

    # --- a batch

    def _clip(self) -> Path:
        clips = self.root / "clips"
        base = clips / "base.mp4"
        if not base.exists():
            clips.mkdir(parents=True, exist_ok=True)
            make_clip(base, width=160, height=90, duration_s=1.0)
        self._clips += 1
        return tagged_copy(base, clips / f"clip-{self._clips}.mp4", str(self._clips))

    def _upload(self, clip: Path, title: str) -> tuple[str | None, int, str]:
        """`loa upload` as the media team runs it, run again while it fails. The footage id (None if every run
        failed), the failed runs, and the last failure's message."""
        env = {
            **os.environ,
            "LOA_INGEST_URL": self.stack.url("ingest"),
            "LOA_TOKEN": self.stack.token,
            "LOA_CLI_CONFIG": str(self.root / "no-cli-config.json"),
            "LOA_CLI_STATE": str(self.root / "cli-uploads.json"),  # where a failed run's upload is resumed from
        }
        argv = [str(LOA), "upload", str(clip), "--title", title, *(a for c in CHANNELS for a in ("--channel", c))]
        failure = ""
        for run in range(UPLOAD_RUNS):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
            if done.returncode == 0:
                return done.stdout.strip(), run, failure
            failure = done.stderr.strip()[-500:]
            time.sleep(2)
        return None, UPLOAD_RUNS, failure

    def _events_of(self) -> EventCollector:
        assert self._events is not None
        return self._events

    def _progress(self, titles: set[str]) -> tuple[int, int, int]:
        """The batch's footage announced, cut and posted (footage x channel) so far."""
        events = self._events_of()
        ids = self._announced(titles)
        cut = {e.footage_id for e in events.of(RENDITIONS_READY) if e.footage_id in ids}
        posted = {(e.footage_id, e.channel) for e in events.of(POSTS_PUBLISHED) if e.footage_id in ids}
        return len(ids), len(cut), len(posted)

    def trial(self, number: int, timeout_s: float = 480.0) -> KillTrial:
        """One batch with one kill; every post and the killed unit waited for (up to `timeout_s`), then counted.

        The default outlasts the publisher's hold after a transient failure (hold_after_transient_s, 5 minutes): a
        post being signed while ingest restarts cannot get the ward's signing key from it, and once the backoff is
        spent it is held, then posted (seen in a bench trial: posted once, 5.5 minutes after the kill)."""
        titles = {f"Trial {number} clip {n} / Lần {number} đoạn {n}": self._clip() for n in range(1, self.batch + 1)}
        uploaded: dict[str, str | None] = {}
        reruns: list[int] = []
        failures: list[str] = []

        def upload(title: str, clip: Path) -> None:
            footage_id, failed, failure = self._upload(clip, title)
            uploaded[title] = footage_id
            reruns.append(failed)
            if footage_id is None:
                failures.append(f"{title!r} not uploaded after {UPLOAD_RUNS} runs of `loa upload`: {failure}")

        senders = [threading.Thread(target=upload, args=item) for item in titles.items()]
        unit = self.rng.choice(UNITS)
        after = self.rng.randrange(4 * len(titles))  # announcements to wait for before the kill
        jitter = self.rng.uniform(0.0, JITTER_S)
        began = time.monotonic()
        deadline = began + timeout_s
        for sender in senders:
            sender.start()
        while sum(self._progress(set(titles))) < after and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(jitter)
        killed = self.stack.process(unit)
        assert killed is not None
        killed.kill()  # SIGKILL; the supervisor reaps it and starts the unit again
        moment = time.monotonic() - began
        announced, cut, posted = self._progress(set(titles))
        at_kill = (
            f"{after} announcements + {jitter:.1f} s: uploads answered {len(uploaded)}/{len(titles)}, announced "
            f"{announced}, cut {cut}, posted {posted}/{len(titles) * len(CHANNELS)}"
        )
        trial = KillTrial(number=number, unit=unit, moment_s=moment, at_kill=at_kill)

        for sender in senders:
            sender.join(max(0.0, deadline - time.monotonic()))
        while time.monotonic() < deadline:
            if self._back(unit, killed) and self._done(self._announced(set(titles)), len(titles)):
                break
            time.sleep(0.5)
        trial.took_s = time.monotonic() - began
        trial.upload_reruns = sum(reruns)
        trial.problems.extend(failures)
        if not self._back(unit, killed):
            trial.problems.append(f"{unit} not back after {timeout_s:.0f} s:\n{self.logs()}")
        self.count(trial, titles, uploaded)
        self.trials.append(trial)
        return trial

    def _announced(self, titles: set[str]) -> set[str]:
        return {e.footage_id for e in self._events_of().of(FOOTAGE_UPLOADED) if e.metadata.title in titles}

    def _done(self, ids: set[str], clips: int) -> bool:
        """Every clip announced, posted on every channel, and shown published by metrics."""
        if len(ids) < clips:
            return False
        posted = {(e.footage_id, e.channel) for e in self._events_of().of(POSTS_PUBLISHED)}
        if not {(f, c) for f in ids for c in CHANNELS} <= posted:
            return False
        return not self._metrics_behind(ids)

    def _metrics_behind(self, ids: set[str]) -> list[str]:
        """The footage metrics' status does not show published (or cannot say: metrics down)."""
        behind = []
        with httpx.Client(headers={"Authorization": f"Bearer {self.stack.token}"}, timeout=5) as client:
            for footage_id in sorted(ids):
                try:
                    answer = client.get(f"{self.stack.url('metrics')}/footage/{footage_id}")
                except httpx.HTTPError:
                    return sorted(ids)
                if answer.status_code != 200 or answer.json().get("status") != "published":
                    behind.append(footage_id)
        return behind

    # --- counting

    def count(self, trial: KillTrial, titles: dict[str, Path], uploaded: dict[str, str | None]) -> None:
        """Fill in the trial's figures for the footage of its titles, from every place a post leaves a trace."""
        events = self._events_of()
        problems = trial.problems
        by_title: dict[str, set[str]] = {title: set() for title in titles}
        announcements: Counter[str] = Counter()
        for e in events.of(FOOTAGE_UPLOADED):
            if e.metadata.title in by_title:
                by_title[e.metadata.title].add(e.footage_id)
                announcements[e.event_id] += 1
        ids = {f for found in by_title.values() for f in found}
        trial.footage = len(ids)
        for title, found in by_title.items():
            if not found:
                trial.lost += 1
                problems.append(f"{title!r} never announced as footage")
            elif len(found) > 1:
                trial.duplicated += len(found) - 1
                problems.append(f"{title!r} announced as {len(found)} footage: {sorted(found)}")
            if uploaded.get(title) is not None and uploaded[title] not in found:
                problems.append(f"`loa upload` said {title!r} is {uploaded[title]}, announced as {sorted(found)}")

        ready: dict[str, set[str]] = {f: set() for f in ids}
        for e in events.of(RENDITIONS_READY):
            if e.footage_id in ids:
                ready[e.footage_id].add(e.event_id)
                announcements[e.event_id] += 1
        for footage_id, event_ids in ready.items():
            if len(event_ids) > 1:
                problems.append(f"{footage_id}: cuts announced as {len(event_ids)} different events")

        post_ids: dict[tuple[str, str], set[str]] = {(f, c): set() for f in ids for c in CHANNELS}
        post_events: dict[tuple[str, str], set[str]] = {(f, c): set() for f in ids for c in CHANNELS}
        for e in events.of(POSTS_PUBLISHED):
            if e.footage_id in ids:
                post_ids[(e.footage_id, e.channel)].add(e.post_id)
                post_events[(e.footage_id, e.channel)].add(e.event_id)
                announcements[e.event_id] += 1
        trial.repeated = sum(n - 1 for n in announcements.values())

        videos = Counter(str(v.meta.get("snippet", {}).get("title")) for v in list(self.youtube.videos.values()))
        ledger = Ledger.open(self.stack.root / "data" / "publisher-ledger.sqlite3")
        try:
            entries = {(e.footage_id, e.channel): e for f in ids for e in ledger.entries(f)}
        finally:
            ledger.close()
        title_of = {f: title for title, found in by_title.items() for f in found}
        for (footage_id, channel), posts in sorted(post_ids.items()):
            on_platform = (
                videos[title_of[footage_id]]
                if channel == "ward-yt"
                else int((self.stack.publish_dir / footage_id / "youtube.mp4").is_file())
            )
            entry = entries.get((footage_id, channel))
            made = max(len(posts), on_platform)
            where = f"{footage_id} on {channel}"
            if not posts or not on_platform or entry is None or entry.state is not PostState.POSTED:
                trial.lost += 1
                state = entry.state if entry else "no row"
                problems.append(f"{where} lost: announced {len(posts)}, on the platform {on_platform}, ledger {state}")
            elif made > 1:
                trial.duplicated += made - 1
                problems.append(f"{where} posted {made} times: post ids {sorted(posts)}, on the platform {on_platform}")
            elif entry.post_id not in posts:
                problems.append(f"{where}: the ledger's post {entry.post_id} is not the one announced {sorted(posts)}")
            if len(post_events[(footage_id, channel)]) > 1:
                problems.append(f"{where}: one post announced as {len(post_events[(footage_id, channel)])} events")

        encoded = encodes([self.stack.logs_dir / "transcode.log"], sorted(ids))
        trial.encoded_again = sum(n > 1 for n in encoded.values())
        failed = [e for e in events.of(POSTS_FAILED) if e.footage_id in ids]
        dead = [e for e in events.of(DEAD_LETTER) if e.footage_id in ids]
        problems.extend(f"posts.failed: {e.footage_id} on {e.channel}: {e.reason}" for e in failed)
        problems.extend(f"dead letter from {e.origin_service}: {e.footage_id}: {e.reason}" for e in dead)
        if behind := self._metrics_behind(ids):
            problems.append(f"metrics does not show published: {behind}")

    def run(self, trials: int, log: Callable[[str], None] = lambda _: None) -> list[KillTrial]:
        for number in range(1, trials + 1):
            log(self.trial(number).line())
        return self.trials
