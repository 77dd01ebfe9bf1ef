"""Run the real ingest, stopping it dead at a named point: how a test kills it exactly there.

    python tests/support/paused_ingest.py loa_ingest.catalog:Catalog.mark_announced /tmp/paused

Everything runs as in `python -m loa_ingest` until the named function is called; then the marker file is written
and the calling thread (the event loop, for ingest's steps) blocks, so the process does nothing more until the test
SIGKILLs it, or creates the file `<marker>.resume`: then the marker is removed and the call goes on (and the next
call stops again once the test removed `<marker>.resume`). Ingest itself has no hook for this: the point is patched
here, in the test's own launcher.
"""

from __future__ import annotations

import functools
import importlib
import sys
import time
from pathlib import Path
from typing import Any


def pause_at(point: str, marker: Path) -> None:
    module_name, _, qualified = point.partition(":")
    owner_name, _, function_name = qualified.rpartition(".")
    owner: Any = importlib.import_module(module_name)
    for name in filter(None, owner_name.split(".")):
        owner = getattr(owner, name)
    original = getattr(owner, function_name)

    resume = marker.with_name(f"{marker.name}.resume")

    @functools.wraps(original)
    def paused(*args: object, **kwargs: object) -> object:
        marker.write_text(point)
        while not resume.exists():
            time.sleep(0.05)
        marker.unlink()
        return original(*args, **kwargs)

    setattr(owner, function_name, paused)


if __name__ == "__main__":
    pause_at(sys.argv[1], Path(sys.argv[2]))
    from loa_ingest.__main__ import main

    main()
