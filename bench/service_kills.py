"""Any unit of the embedded stack SIGKILLed at a random moment of an upload batch, N times (issue 13: 20 trials).

Run: .cache/venv/bin/python bench/service_kills.py [--trials 20] [--batch 3] [--seed N]

Starts `make run`'s stack (the embedded broker, ingest, transcode, publisher and metrics as processes, kept up by
`make run`'s supervisor) on a temporary folder, with two channels: `ward` (the `local` target) and `ward-yt` (the
YouTube emulator). Each trial uploads a batch of distinct tiny clips (160x90, 1 s) at once with `loa upload` (tus),
SIGKILLs one unit chosen at random at a random point of the batch's progress (after k of its announcements, k drawn
from 0 to 4 x batch - 1, plus 0-2 s; tests/support/service_kills.py), waits for every post and for the unit to be
back, and counts, for the batch's footage, from posts.published, the emulator's videos, the publish
folder, the publisher's ledger and metrics' status: posts lost and duplicated (both must be 0), announcements
repeated with their own event id (allowed), footage encoded twice (allowed: its offset was not committed), and the
`loa upload` runs that failed and were run again. Prints each trial and a summary per unit killed.
The suite runs one trial (tests/e2e/test_service_kills.py).
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.service_kills import UNITS, ServiceKills  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--batch", type=int, default=3, help="clips uploaded per trial")
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    args = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the checker's consumer while the broker is down
    # Started in the background by a shell, we inherit SIGINT ignored; Ctrl-C (or kill -INT) must stop the stack.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(f"seed {args.seed}", flush=True)
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="loa-service-kills-") as tmp,
        ServiceKills(Path(tmp), random.Random(args.seed), batch=args.batch) as run,
    ):
        trials = run.run(args.trials, log=lambda line: print(line, flush=True))
        restarts = list(run.supervisor_log)
    print("\nunit       kills  lost  duplicated  repeated  encoded again  upload reruns  trial p50")
    for unit in UNITS:
        mine = [t for t in trials if t.unit == unit]
        if mine:
            print(
                f"{unit:<10} {len(mine):>5} {sum(t.lost for t in mine):>5} {sum(t.duplicated for t in mine):>11} "
                f"{sum(t.repeated for t in mine):>9} {sum(t.encoded_again for t in mine):>14} "
                f"{sum(t.upload_reruns for t in mine):>14} {statistics.median(t.took_s for t in mine):>8.1f} s"
            )
    clean = sum(not t.problems for t in trials)
    print(
        f"{clean}/{len(trials)} trials clean; {sum(t.footage for t in trials)} footage, lost "
        f"{sum(t.lost for t in trials)}, duplicated {sum(t.duplicated for t in trials)}; "
        f"{sum('restarted' in line for line in restarts)} restarts by the supervisor; "
        f"total {time.monotonic() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
