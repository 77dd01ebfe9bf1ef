"""Run one emulator as its own process (benchmarks: the server must not share the measured process's GIL; a stack
under Playwright: the platforms' consent pages in a browser).

`python -m tests.support.emulators.serve KIND ROOT [REDIRECT_URI …]` (KIND: youtube, tiktok, facebook, zalo) prints
the base URL on one line and serves until stdin closes; each REDIRECT_URI is registered as the app's OAuth redirect.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.emulators.facebook import FacebookEmulator
from tests.support.emulators.tiktok import TikTokEmulator
from tests.support.emulators.youtube import YouTubeEmulator
from tests.support.emulators.zalo import ZaloEmulator

KINDS = {"youtube": YouTubeEmulator, "tiktok": TikTokEmulator, "facebook": FacebookEmulator, "zalo": ZaloEmulator}


def main() -> None:
    kind, root, redirects = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    if kind not in KINDS:
        raise SystemExit(f"unknown emulator {kind!r}: one of {', '.join(KINDS)}")
    emulator = KINDS[kind](root)
    for uri in redirects:
        emulator.consent.register_redirect(uri)
    emulator.start()
    print(emulator.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    emulator.stop()


if __name__ == "__main__":
    main()
