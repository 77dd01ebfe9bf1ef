"""One `make run` per checkout: an exclusive lock on `.cache/run/lock`, held for the stack's whole life.

The lock is an `flock` on an open file; every process of the stack inherits that open file (`Stack.inherit_fds`),
so the lock is held until the last of them has exited: a second `make run`, or one started while the previous
broker is still shutting down, is refused instead of racing it for the data directory and the ports. The kernel
drops the lock when the last holder dies, however it dies, so a lock is never stale.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StackAlreadyRunning(RuntimeError):
    """Another run of the stack (or what is left of it) holds the lock: stop it first."""


def _holders(lock: Path) -> list[tuple[int, str]]:
    """(pid, command line) of the processes that have the lock file open (Linux's /proc; empty elsewhere)."""
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if not any(os.path.realpath(fd) == str(lock) for fd in fd_dir.iterdir()):
                continue
            cmdline = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found.append((int(fd_dir.parent.name), cmdline.strip()))
    return sorted(found)


def _describe(holders: list[tuple[int, str]]) -> list[str]:
    """`make run` itself when it is alive (stopping it stops the rest), else what is left of the stack."""
    runs = [f"pid {pid} (make run)" for pid, cmdline in holders if "loa_dev.run" in cmdline]
    if runs:
        return runs
    described = []
    for pid, cmdline in holders:
        if "kafka.Kafka" in cmdline:
            what = "the Kafka broker / Kafka broker"
        elif "-m loa_" in cmdline:
            what = cmdline.split("-m ", 1)[1].split()[0]
        else:
            what = cmdline[:60]
        described.append(f"pid {pid} ({what})")
    return described


def take_run_lock(run_dir: Path) -> int:
    """Lock `run_dir` for this process; return the open descriptor to pass to every child process (and to keep
    open until the stack has stopped). Raises `StackAlreadyRunning`, naming the holders, when it is taken."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = (run_dir / "lock").resolve()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        written = os.read(fd, 64).decode(errors="replace").strip()
        os.close(fd)
        holders = _describe([(pid, cmd) for pid, cmd in _holders(path) if pid != os.getpid()])
        if not holders:  # no /proc here: the pid of the `make run` that took it
            holders = [f"pid {written} (make run)"] if written else ["another process / một tiến trình khác"]
        who = ", ".join(holders)
        raise StackAlreadyRunning(
            f"Loa is already running with {run_dir}, or its previous run is still stopping "
            f"(held by {who}). Stop it (Ctrl-C in its terminal, or kill the pids above), wait until it has exited, "
            f"then run again.\n"
            f"Loa đang chạy với {run_dir}, hoặc lần chạy trước vẫn đang dừng (do {who} giữ). Hãy dừng "
            f"nó (Ctrl-C trong cửa sổ của nó, hoặc kill các pid trên), đợi đến khi nó thoát hẳn rồi chạy lại."
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
