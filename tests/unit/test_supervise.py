"""`make run`'s restart policy (a pure function) and the supervisor loop that applies it, with a fake stack."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from loa_dev.processes import ProcessStartError
from loa_dev.supervise import Restart, RestartPolicy, Supervisor, describe_exit, plan_restart

POLICY = RestartPolicy(first_delay_s=1.0, max_delay_s=60.0, healthy_after_s=120.0)


def test_the_delay_doubles_with_each_crash_in_a_row_up_to_the_cap() -> None:
    crashes, delays = 0, []
    for _ in range(9):
        restart = plan_restart(POLICY, previous_crashes=crashes, uptime_s=2.0)
        crashes = restart.crashes
        delays.append(restart.delay_s)
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert crashes == 9


def test_a_process_that_stayed_up_long_enough_starts_over_from_the_first_delay() -> None:
    assert plan_restart(POLICY, previous_crashes=7, uptime_s=120.0) == Restart(delay_s=1.0, crashes=1)
    assert plan_restart(POLICY, previous_crashes=7, uptime_s=119.0) == Restart(delay_s=60.0, crashes=8)


def test_a_crash_loop_that_never_ends_stays_at_the_cap() -> None:
    assert plan_restart(POLICY, previous_crashes=5000, uptime_s=0.0) == Restart(delay_s=60.0, crashes=5001)


def test_exits_are_described_by_code_or_by_signal() -> None:
    assert describe_exit(3) == "exit code 3 / mã thoát 3"
    assert describe_exit(-9) == "killed by SIGKILL / bị SIGKILL giết"


@dataclass
class FakeProcess:
    returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


@dataclass
class FakeStack:
    processes: dict[str, FakeProcess] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    fail_next_start: bool = False

    def process(self, unit: str) -> subprocess.Popen[bytes] | None:
        return self.processes.get(unit)  # type: ignore[return-value]

    def restart(self, unit: str) -> None:
        self.started.append(unit)
        if self.fail_next_start:
            self.fail_next_start = False
            raise ProcessStartError(f"{unit} exited with 1")
        self.processes[unit] = FakeProcess()

    def log_tail(self, unit: str, lines: int = 40) -> str:
        return f"last words of {unit}"


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def _supervisor(stack: FakeStack, clock: Clock, lines: list[str]) -> Supervisor:
    return Supervisor(stack, units=("kafka", "ingest"), policy=POLICY, clock=clock, log=lines.append)


def test_a_dead_service_is_restarted_after_its_delay_with_a_log_line_and_the_others_are_left_alone() -> None:
    stack = FakeStack({"kafka": FakeProcess(), "ingest": FakeProcess()})
    clock, lines = Clock(), []
    supervisor = _supervisor(stack, clock, lines)
    clock.now = 5.0
    stack.processes["ingest"].returncode = -9
    supervisor.poll()
    assert stack.started == []
    assert "ingest stopped (killed by SIGKILL / bị SIGKILL giết) after 5 s; restarting in 1 s" in lines[0]
    assert "last words of ingest" in lines[0]
    clock.now = 5.5
    supervisor.poll()
    assert stack.started == []
    clock.now = 6.0
    supervisor.poll()
    assert stack.started == ["ingest"]
    assert "ingest restarted" in lines[1]
    supervisor.poll()
    assert stack.started == ["ingest"]


def test_crashing_again_soon_waits_longer_and_a_long_run_resets_the_delay() -> None:
    stack = FakeStack({"kafka": FakeProcess(), "ingest": FakeProcess(returncode=1)})
    clock, lines = Clock(), []
    supervisor = _supervisor(stack, clock, lines)
    supervisor.poll()  # crash 1: 1 s
    clock.now = 1.0
    supervisor.poll()  # restarted at 1
    stack.processes["ingest"].returncode = 1
    clock.now = 2.0
    supervisor.poll()  # crash 2 after 1 s up: 2 s
    assert "restarting in 2 s (crash 2 in a row)" in lines[-1]
    clock.now = 4.0
    supervisor.poll()  # restarted at 4
    assert stack.started == ["ingest", "ingest"]
    clock.now = 4.0 + 120.0
    stack.processes["ingest"].returncode = 1
    supervisor.poll()
    assert "restarting in 1 s (crash 1 in a row)" in lines[-1]


def test_a_start_that_fails_counts_as_a_crash_and_is_retried_later() -> None:
    stack = FakeStack({"kafka": FakeProcess(returncode=1), "ingest": FakeProcess()}, fail_next_start=True)
    clock, lines = Clock(), []
    supervisor = _supervisor(stack, clock, lines)
    supervisor.poll()
    clock.now = 1.0
    supervisor.poll()
    assert stack.started == ["kafka"]
    assert "kafka stopped (did not start / không khởi động được: kafka exited with 1)" in lines[-1]
    assert "restarting in 2 s (crash 2 in a row)" in lines[-1]
    clock.now = 3.0
    supervisor.poll()
    assert stack.started == ["kafka", "kafka"]
    assert stack.processes["kafka"].poll() is None
