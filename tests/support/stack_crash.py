"""The whole stack SIGKILLed at a random moment of an upload batch, again and again, with a torn append left at the
end of the broker's logs; each restart must come up and keep every footage announced before each kill (on Kafka, in
ingest's catalog and in metrics' projection).

Used by tests/e2e/test_stack_crash.py (a few trials) and bench/stack_crash.py (as many as asked, with timings).
The stack is the embedded broker plus the services that hold footage: ingest (announces it, keeps the catalog) and,
when asked, metrics (projects it into the status every page and `loa status` read). Metrics is left out of the
suite's trials: a Faust worker restarted after a SIGKILL waits for its dead predecessor's group session to expire
(Faust's default broker_session_timeout, 60 s) before it consumes, so each of its restarts costs a minute.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from loa_core.contracts import FOOTAGE_UPLOADED, FootageUploaded
from loa_dev.kafka import free_port
from loa_dev.stack import Stack
from tests.support.kafka import read_topic
from tests.support.media import make_clip, tagged_copy

WITH_METRICS = ("ingest", "metrics")
TITLE = "Hội nghị tiếp xúc cử tri phường"


@dataclass
class Trial:
    kill_after_s: float  # from the first footage of the batch announced
    announced: int  # footage answered 201 before the kill
    restart_s: float = 0.0  # from the restart to every service healthy
    truncations: int = 0  # torn tails the broker's recovery cut off at that restart (from its log)


@dataclass
class CrashRun:
    root: Path
    rng: random.Random
    services: tuple[str, ...] = ("ingest",)  # or WITH_METRICS
    token: str = field(default_factory=lambda: f"crash-{uuid.uuid4().hex}")
    ports: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in WITH_METRICS})
    kafka_port: int = field(default_factory=free_port)
    announced: dict[str, Path] = field(default_factory=dict)  # footage id -> the clip it was uploaded from
    trials: list[Trial] = field(default_factory=list)
    _clips: int = 0

    def start(self) -> tuple[Stack, float]:
        """The stack on the same folder and ports as every run before it (as `make run` restarts)."""
        stack = Stack(
            root=self.root, token=self.token, ports=self.ports, kafka_port=self.kafka_port, services=self.services
        )
        began = time.monotonic()
        try:
            stack.start()
        except BaseException:
            stack.stop()
            raise
        return stack, time.monotonic() - began

    def _clip(self) -> Path:
        """A distinct small clip (its own content hash, so ingest sees new footage): a remux with its own tag."""
        clips = self.root.parent / "clips"
        base = clips / "base.mp4"
        if not base.exists():
            clips.mkdir(parents=True, exist_ok=True)
            make_clip(base, width=160, height=90, duration_s=1.0)
        self._clips += 1
        return tagged_copy(base, clips / f"clip-{self._clips}.mp4", str(self._clips))

    def _upload(self, stack: Stack, clip: Path, timeout_s: float = 30.0) -> httpx.Response:
        with clip.open("rb") as body:
            return httpx.post(
                f"{stack.url('ingest')}/footage",
                headers={"Authorization": f"Bearer {self.token}"},
                files={"file": (clip.name, body, "video/mp4")},
                data={"title": TITLE},
                timeout=timeout_s,
            )

    def upload_and_kill(self, stack: Stack, kill_after_s: float) -> Trial:
        """Upload clips one after another and SIGKILL every process of the stack `kill_after_s` after the first
        footage of the batch was announced (so every trial has something to lose)."""
        before = len(self.announced)
        first = threading.Event()
        stop = threading.Event()

        def uploads() -> None:
            while not stop.is_set():
                clip = self._clip()
                try:
                    response = self._upload(stack, clip)
                except httpx.HTTPError:
                    return  # the stack was killed under it: not announced as far as the sender knows
                if response.status_code == 201:
                    self.announced[response.json()["footage_id"]] = clip
                    first.set()

        sender = threading.Thread(target=uploads)
        sender.start()
        try:
            assert first.wait(timeout=120), f"no footage announced in 120 s:\n{stack.log_tail('ingest')}"
            time.sleep(kill_after_s)
        finally:
            kill(stack)
            stop.set()
            sender.join()
        tear_tails(stack, self.rng)
        return Trial(kill_after_s=kill_after_s, announced=len(self.announced) - before)

    def check(self, stack: Stack, timeout_s: float = 90.0) -> None:
        """Every footage announced so far is on footage.uploaded, in ingest's catalog and in metrics' status (when it
        runs)."""
        wanted = set(self.announced)
        topic = FOOTAGE_UPLOADED.full_name(stack.topic_prefix)
        assert stack.kafka_bootstrap is not None
        records = read_topic(
            stack.kafka_bootstrap,
            topic,
            until=lambda rs: wanted <= {FootageUploaded.from_bytes(r.value).footage_id for r in rs},
            timeout_s=timeout_s,
        )
        on_kafka = {FootageUploaded.from_bytes(r.value).footage_id for r in records}
        assert wanted <= on_kafka, f"lost from {topic}: {sorted(wanted - on_kafka)}"
        for footage_id, clip in self.announced.items():
            again = self._upload(stack, clip)  # ingest knows the file: the same footage, not a new one
            assert again.status_code == 200, again.text
            assert again.json() == {"footage_id": footage_id, "duplicate": True}
        if "metrics" in self.services:
            _until(lambda: not self._missing_in_metrics(stack), timeout_s, lambda: self._missing_in_metrics(stack))

    def _missing_in_metrics(self, stack: Stack) -> list[str]:
        missing = []
        with httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=10) as client:
            for footage_id in self.announced:
                if client.get(f"{stack.url('metrics')}/footage/{footage_id}").status_code != 200:
                    missing.append(footage_id)
        return missing

    def run(self, trials: int, log: Callable[[str], None] = lambda _: None) -> list[Trial]:
        """`trials` kills, each followed by a restart that must come up and keep everything announced so far."""
        stack, _ = self.start()
        try:
            for number in range(1, trials + 1):
                trial = self.upload_and_kill(stack, kill_after_s=self.rng.uniform(0.0, 3.0))
                truncated_before = _truncations(stack)
                stack, trial.restart_s = self.start()
                trial.truncations = _truncations(stack) - truncated_before
                # At least the metadata log's torn tail was found and cut off (so the recovery was exercised).
                assert trial.truncations >= 1, stack.log_tail("kafka")
                self.check(stack)
                self.trials.append(trial)
                log(
                    f"trial {number}: killed {trial.kill_after_s:.1f} s into the batch after {trial.announced} "
                    f"footage announced; {trial.truncations} torn tails cut off; back up in {trial.restart_s:.1f} s "
                    f"with all {len(self.announced)} there"
                )
        finally:
            stack.stop()
        return self.trials


def kill(stack: Stack) -> None:
    """SIGKILL the broker and every service at once, as a power cut stops them (the page cache survives it)."""
    processes = [*stack.processes.values()]
    if stack.broker is not None and stack.broker.process is not None:
        processes.append(stack.broker.process)
    for process in processes:
        if process.poll() is None:
            process.kill()
    for process in processes:
        process.wait()


def tear_tails(stack: Stack, rng: random.Random) -> None:
    """Leave what a power cut leaves of the appends in flight: a torn batch (random bytes or zeros, up to 4 KiB)
    after the last one of the metadata log and of every footage.uploaded partition. Nothing acknowledged is touched;
    the broker's recovery must cut the torn bytes off at its start."""
    assert stack.broker is not None
    data = stack.broker.workdir / "data"
    topic = FOOTAGE_UPLOADED.full_name(stack.topic_prefix)
    for partition in [data / "__cluster_metadata-0", *data.glob(f"{topic}-*")]:
        segment = max(partition.glob("*.log"))
        size = rng.randint(1, 4096)
        with segment.open("ab") as log:
            log.write(rng.randbytes(size) if rng.random() < 0.5 else bytes(size))


def _truncations(stack: Stack) -> int:
    """How many times the broker's log recovery has cut a torn tail off a segment, from its log (kafka.log)."""
    assert stack.broker is not None
    log = stack.broker.log_file
    return log.read_text(errors="replace").count("Corruption found in segment") if log.exists() else 0


def _until(done: Callable[[], bool], timeout_s: float, why: Callable[[], object]) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"still missing after {timeout_s:.0f} s: {why()}"
        time.sleep(0.5)
