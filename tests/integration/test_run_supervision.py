"""`make run` supervises and is alone: real processes (the `make run` entry point, a broker of its own, ingest).

A dead service or broker is started again by the supervisor; a second `make run` on the same run folder is refused
with the pids holding it, also while what is left of a previous run (its broker, a service) is still alive; a second
broker on a live broker's data directory is refused before it touches it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from loa_dev.kafka import KafkaBroker, KafkaStartError
from loa_dev.runlock import StackAlreadyRunning, take_run_lock
from loa_dev.stack import KAFKA, Stack
from loa_dev.supervise import RestartPolicy, Supervisor


def _make_run(cache_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOA_CACHE_DIR": str(cache_dir), "LOA_CLI_CONFIG": str(cache_dir / "cli.json")}
    return subprocess.run(
        [sys.executable, "-m", "loa_dev.run"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_second_make_run_on_the_same_checkout_is_refused_with_the_pid_holding_it(tmp_path: Path) -> None:
    lock = take_run_lock(tmp_path / "run")  # this test process plays the first `make run`
    try:
        second = _make_run(tmp_path)
    finally:
        os.close(lock)
    assert second.returncode == 1
    assert "Loa is already running" in second.stderr
    assert "Loa đang chạy" in second.stderr
    assert f"pid {os.getpid()}" in second.stderr
    assert "Starting Kafka" not in second.stdout  # refused before it touched anything
    assert not (tmp_path / "run" / "kafka").exists()


def test_make_run_whose_broker_cannot_start_says_why_without_a_traceback(tmp_path: Path) -> None:
    # A broker left running on the run folder's Kafka data (played by this test process holding its lock).
    kafka_dir = tmp_path / "run" / "kafka"
    kafka_dir.mkdir(parents=True)
    held = os.open(kafka_dir / "broker.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    os.write(held, f"{os.getpid()}\n".encode())
    try:
        refused = _make_run(tmp_path)
    finally:
        os.close(held)
    assert refused.returncode == 1
    assert "Loa could not start. / Loa không khởi động được." in refused.stderr
    assert f"Another Kafka broker (pid {os.getpid()}) is still running" in refused.stderr
    assert "Traceback" not in refused.stderr


def _until(condition: str, check: object, supervisor: Supervisor, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        supervisor.poll()
        if callable(check) and check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not {condition} within {timeout_s:.0f} s")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_dead_processes_are_restarted_and_the_lock_outlives_make_run_until_the_last_process_exits(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    lock = take_run_lock(run_dir)
    stack = Stack(root=run_dir, token=f"t-{uuid.uuid4().hex}", services=("ingest",), inherit_fds=(lock,))
    lines: list[str] = []
    try:
        stack.start()
        supervisor = Supervisor(
            stack, units=(KAFKA, "ingest"), policy=RestartPolicy(first_delay_s=0.2), log=lines.append
        )
        first_ingest = stack.processes["ingest"]
        first_ingest.kill()
        _until("ingest restarted", lambda: stack.processes["ingest"] is not first_ingest, supervisor)
        assert any("ingest stopped (killed by SIGKILL" in line for line in lines), lines
        _until("ingest healthy again", lambda: _healthy(f"{stack.url('ingest')}/healthz"), supervisor)

        assert stack.broker is not None and stack.broker.process is not None
        first_broker = stack.broker.process
        first_broker.kill()
        _until("the broker restarted", lambda: stack.broker.process is not first_broker, supervisor)  # type: ignore[union-attr]
        assert any("kafka stopped (killed by SIGKILL" in line for line in lines), lines
        assert any("kafka restarted" in line for line in lines), lines
        _until("ingest ready on the new broker", lambda: _healthy(f"{stack.url('ingest')}/readyz"), supervisor)

        # A second broker on the live one's data directory is refused before it reads or writes anything there
        # (Kafka's own lock comes too late: its raft layer writes the metadata log first, and the first broker then
        # dies on CorruptRecordException).
        metadata_log = stack.root / "kafka" / "data" / "__cluster_metadata-0"
        before = {path.name: path.read_bytes() for path in metadata_log.iterdir() if path.suffix == ".log"}
        second = KafkaBroker(stack.root / "kafka")
        with pytest.raises(KafkaStartError) as racing:
            second.start()
        assert f"Another Kafka broker (pid {stack.broker.process.pid}) is still running" in str(racing.value)
        assert "Một Kafka broker khác" in str(racing.value)
        assert second.process is None
        assert {path.name: path.read_bytes() for path in metadata_log.iterdir() if path.suffix == ".log"} == before
        assert stack.broker.process.poll() is None

        # `make run` dies; its broker and ingest live on and keep the lock: a new run is refused, naming them.
        os.close(lock)
        lock = -1
        with pytest.raises(StackAlreadyRunning) as refused:
            take_run_lock(run_dir)
        message = str(refused.value)
        assert f"pid {stack.broker.process.pid} (the Kafka broker" in message
        assert f"pid {stack.processes['ingest'].pid} (loa_ingest)" in message
        assert "đang dừng" in message
    finally:
        stack.stop()
        if lock >= 0:
            os.close(lock)
    # Once the last of them has exited, the kernel has dropped the lock: the next run takes it.
    os.close(take_run_lock(run_dir))


def _make_clean(run_dir: Path) -> subprocess.CompletedProcess[str]:
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run(
        ["make", "-s", "-C", str(repo), "clean", f"RUN_DIR={run_dir}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_make_clean_leaves_a_running_stack_alone(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    lock = take_run_lock(run_dir)
    try:
        refused = _make_clean(run_dir)
    finally:
        os.close(lock)
    assert refused.returncode != 0
    assert "Loa is running" in refused.stderr and "Loa đang chạy" in refused.stderr
    assert (run_dir / "lock").exists()
    cleaned = _make_clean(run_dir)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not run_dir.exists()
