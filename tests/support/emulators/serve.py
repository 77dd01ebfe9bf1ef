"""Run one emulator as its own process (benchmarks: the server must not share the measured process's GIL).

`python -m tests.support.emulators.serve youtube ROOT` prints the base URL on one line and serves until stdin closes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.emulators.youtube import YouTubeEmulator


def main() -> None:
    kind, root = sys.argv[1], Path(sys.argv[2])
    if kind != "youtube":
        raise SystemExit(f"unknown emulator {kind!r}")
    emulator = YouTubeEmulator(root)
    emulator.start()
    print(emulator.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    emulator.stop()


if __name__ == "__main__":
    main()
