"""The Kafka broker SIGKILLed and restarted in the middle of a batch of uploads (issue 13: 50 of them).

Run: .cache/venv/bin/python bench/broker_restart.py [--batch 50]

The scenario of tests/integration/test_broker_restart.py (which runs 8), at the issue's size: a broker of its own,
one transcode worker and one publisher as processes, tiny generated footage (160x90, 1 s) to a `local` channel and
the YouTube emulator; the broker is SIGKILLed after the first post and restarted. Prints what was lost or posted
twice (both must be 0), how many announcements were repeated (allowed: same cuts, same post), and the timings.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.faults import broker_restart_batch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loa-bench-restart-"))
    try:
        outcome = broker_restart_batch(work, args.batch, timeout_s=900)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(outcome.summary().replace("; ", "\n"))


if __name__ == "__main__":
    main()
