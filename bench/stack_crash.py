"""The embedded stack SIGKILLed at random points of an upload batch, N times (the issue's 20 trials).

Run: .cache/venv/bin/python bench/stack_crash.py [--trials 20] [--metrics] [--seed N]

Starts the embedded broker and ingest (with --metrics, metrics too) on a temporary folder, uploads small distinct
clips one after another, SIGKILLs every process of the stack at a random moment 0-3 s after the first footage of
the batch was announced, appends a torn batch (random bytes or zeros) to the end of the metadata log and of every
footage.uploaded partition as a power cut leaves the appends in flight, starts the stack again on the same folder
and ports, and checks that the broker's recovery cut the torn tails off and that every footage answered 201 before
the kill is on footage.uploaded, still known to ingest's catalog (the same file uploaded again is the same footage)
and, with --metrics, in metrics' status. Prints each trial and, at the end, how many trials passed, footage announced
and checked, torn tails cut off, and the restart time (from the restart to every service healthy) at p50 and max.
The suite runs the same trials three times (tests/e2e/test_stack_crash.py).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.stack_crash import WITH_METRICS, CrashRun  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--metrics", action="store_true", help="run metrics in the stack and check its status too")
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    args = parser.parse_args()
    print(f"seed {args.seed}", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="loa-stack-crash-") as tmp:
        run = CrashRun(
            root=Path(tmp) / "stack",
            rng=random.Random(args.seed),
            services=WITH_METRICS if args.metrics else ("ingest",),
        )
        trials = run.run(args.trials, log=lambda line: print(line, flush=True))
    restarts = [t.restart_s for t in trials]
    print(
        f"{len(trials)}/{args.trials} trials passed ({', '.join(run.services)} + broker): "
        f"{len(run.announced)} footage announced before a kill, all still there after every restart; "
        f"{sum(t.truncations for t in trials)} torn tails cut off by the broker's recovery; "
        f"restart p50 {statistics.median(restarts):.1f} s, max {max(restarts):.1f} s; "
        f"total {time.monotonic() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
