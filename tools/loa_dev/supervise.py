"""`make run` keeps its processes up, as systemd (`Restart=on-failure`) or Kubernetes (CrashLoopBackOff) would.

A process that exits is started again after a delay that doubles with each crash in a row, up to a cap; a process
that stayed up long enough counts as healthy again, so its next crash waits the first delay only. `plan_restart` is
that decision, a pure function; `Supervisor` is the thin loop that applies it to a `Stack`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from loa_dev.kafka import KafkaStartError
from loa_dev.processes import ProcessStartError


@dataclass(frozen=True)
class RestartPolicy:
    # Kubernetes waits 10 s doubling to 5 min and forgets after 10 min up; on one desk a service is back sooner.
    first_delay_s: float = 1.0
    max_delay_s: float = 60.0
    # A process up this long is healthy again: its next crash is crash 1, not crash n + 1.
    healthy_after_s: float = 120.0


@dataclass(frozen=True)
class Restart:
    delay_s: float
    crashes: int  # crashes in a row, this one included


def plan_restart(policy: RestartPolicy, *, previous_crashes: int, uptime_s: float) -> Restart:
    """When to start again a process that exited after `uptime_s` seconds, having crashed `previous_crashes` times in
    a row before that run."""
    crashes = 1 if uptime_s >= policy.healthy_after_s else previous_crashes + 1
    # The exponent is bounded so a long crash loop never overflows a float; the cap is reached long before.
    delay = policy.first_delay_s * 2 ** min(crashes - 1, 32)
    return Restart(delay_s=min(policy.max_delay_s, delay), crashes=crashes)


def describe_exit(returncode: int) -> str:
    """`exit code 1` / `killed by SIGKILL`, in English and Vietnamese."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name} / bị {name} giết"
    return f"exit code {returncode} / mã thoát {returncode}"


class Supervised(Protocol):
    """What the supervisor needs of a stack: each unit's current process, a way to start it again, its log."""

    def process(self, unit: str) -> subprocess.Popen[bytes] | None: ...

    def restart(self, unit: str) -> None: ...

    def log_tail(self, unit: str, lines: int = 40) -> str: ...


@dataclass
class _Unit:
    started_at: float
    crashes: int = 0
    restart_at: float | None = None


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Supervisor:
    stack: Supervised
    units: tuple[str, ...]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] = _stderr
    _state: dict[str, _Unit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = self.clock()
        self._state = {unit: _Unit(started_at=now) for unit in self.units}

    def poll(self) -> None:
        """Notice the units that exited and start those whose delay has passed. Call it every second or so."""
        for unit, state in self._state.items():
            now = self.clock()
            if state.restart_at is not None:
                if now >= state.restart_at:
                    self._start(unit, state)
                continue
            process = self.stack.process(unit)
            if process is None or process.poll() is None:
                continue
            self._crashed(unit, state, describe_exit(process.returncode), now)

    def _crashed(self, unit: str, state: _Unit, why: str, now: float) -> None:
        uptime = now - state.started_at
        restart = plan_restart(self.policy, previous_crashes=state.crashes, uptime_s=uptime)
        state.crashes, state.restart_at = restart.crashes, now + restart.delay_s
        tail = "\n".join(f"    {line}" for line in self.stack.log_tail(unit, lines=10).splitlines())
        self.log(
            f"{time.strftime('%H:%M:%S')} {unit} stopped ({why}) after {uptime:.0f} s; restarting in "
            f"{restart.delay_s:.0f} s (crash {restart.crashes} in a row). / {unit} đã dừng sau {uptime:.0f} giây; "
            f"khởi động lại sau {restart.delay_s:.0f} giây (lỗi lần {restart.crashes} liên tiếp). "
            f"Last log lines / Dòng log cuối:\n{tail}"
        )

    def _start(self, unit: str, state: _Unit) -> None:
        state.restart_at = None
        state.started_at = self.clock()
        try:
            self.stack.restart(unit)
        except (KafkaStartError, ProcessStartError, OSError) as error:
            self._crashed(unit, state, f"did not start / không khởi động được: {error}", self.clock())
            return
        self.log(f"{time.strftime('%H:%M:%S')} {unit} restarted. / {unit} đã khởi động lại.")
