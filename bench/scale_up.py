"""A scale-up mid-batch, as KEDA does on consumer lag: a second transcode worker and publisher join a busy first.

Run: .cache/venv/bin/python bench/scale_up.py [--batch 12] [--ledger postgres|sqlite]

One broker of its own; tiny footage (160x90, 1 s) to a `local` channel and the YouTube emulator. With
`--ledger postgres` (a throwaway server, LOA_DATABASE_URL shared by both publishers) every footage must be posted
once. With `--ledger sqlite` (a ledger each, the embedded default) the publishers now refuse to consume beside each
other, so the batch cannot finish: the run ends at the timeout with their refusal in the log (before that refusal, a
run posted one footage twice). Prints losses, double posts, repeated announcements and footage encoded twice (must be
none: a job in flight on a partition that moved is finished by its old owner, while the new one waits on the job's
lease and announces the same event again; before the lease, the new owner encoded it again).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.faults import scale_up_batch  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--ledger", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--timeout-s", type=float, default=600.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loa-bench-scale-up-"))
    server = PostgresServer() if args.ledger == "postgres" else None
    try:
        env = {}
        if server is not None:
            server.start()
            env["LOA_DATABASE_URL"] = server.new_database()
        outcome, encoded_again = scale_up_batch(work, args.batch, env, timeout_s=args.timeout_s)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(outcome.summary().replace("; ", "\n"))
    print(f"footage encoded more than once: {len(encoded_again)} {sorted(encoded_again.values())}")


if __name__ == "__main__":
    main()
