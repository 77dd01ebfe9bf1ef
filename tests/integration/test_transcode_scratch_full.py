"""The transcode scratch disk full: a clear failure on the footage, no crash loop, the next job done once space
returns.

The disk is real: the worker runs in a mount namespace of its own (private, so the machine's mounts are untouched)
where its scratch folder (<data dir>/transcode-work) is a 16 MB tmpfs. The test fills that filesystem through
/proc/<pid>/root, leaving too little for ffmpeg's output, so the encode fails with ENOSPC as on a full disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from loa_core.contracts import DEAD_LETTER, FOOTAGE_UPLOADED, RENDITIONS_READY, TRANSCODE_PROGRESS
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from tests.support.media import make_clip
from tests.support.polling import wait_until
from tests.support.transcode import EventCollector, TranscodeWorker, send_event, upload

SCRATCH_SIZE = "16m"
LEAVE_FREE = 64 * 1024  # room for the small files a job writes first, not for the cut ffmpeg writes


def _with_scratch_tmpfs(scratch: Path) -> tuple[str, ...]:
    """Start the worker in its own mount namespace with `scratch` a size-limited tmpfs."""
    unshare = ("unshare", "--mount") if os.geteuid() == 0 else ("unshare", "--map-root-user", "--mount")
    script = 'mkdir -p "$1" && mount -t tmpfs -o "size=$2" loa-scratch "$1" && shift 2 && exec "$@"'
    return (*unshare, "sh", "-c", script, "sh", str(scratch), SCRATCH_SIZE)


def _fill(path: Path, leave_free: int) -> None:
    stats = os.statvfs(path.parent)
    with path.open("wb") as filler:
        filler.truncate(0)
        remaining = stats.f_bavail * stats.f_frsize - leave_free
        block = b"\0" * (1024 * 1024)
        while remaining > 0:
            remaining -= filler.write(block[: min(len(block), remaining)])


def test_a_full_scratch_disk_fails_the_footage_clearly_and_the_worker_goes_on(
    kafka_broker: KafkaBroker, topic_prefix: str, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    root = tmp_path / "w"
    storage = LocalStorage(root / "storage")
    clip = make_clip(tmp_path / "clip.mp4", width=160, height=90, duration_s=1.0)
    first, second = upload(storage, clip), upload(storage, clip)
    scratch = root / "data" / "transcode-work"
    worker = TranscodeWorker(root, bootstrap, topic_prefix, "scratch", launcher=_with_scratch_tmpfs(scratch))

    with EventCollector(bootstrap, topic_prefix, RENDITIONS_READY, TRANSCODE_PROGRESS, DEAD_LETTER) as events:
        worker.start()
        try:
            worker.wait_assigned()
            assert worker.process is not None
            pid = worker.process.pid
            seen = Path(f"/proc/{pid}/root") / scratch.relative_to("/")  # the worker's view of its scratch
            assert os.statvfs(seen).f_blocks * os.statvfs(seen).f_frsize <= 16 * 1024 * 1024, "no tmpfs scratch"
            filler = seen / "filler"
            _fill(filler, LEAVE_FREE)

            send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, first)
            failed = wait_until(
                lambda: [p for p in events.of(TRANSCODE_PROGRESS, first.footage_id) if p.state == "failed"],
                120,
                "the footage's failure",
                diagnose=worker.log_tail,
            )
            [letter] = events.wait_for(DEAD_LETTER, first.footage_id, timeout_s=30)
            for reason in (failed[0].reason, letter.reason):
                assert "transcode scratch disk is full" in reason and "Đĩa tạm của transcode đã đầy" in reason, reason
            assert [p.name for p in seen.iterdir()] == ["filler"], "the failed job's work folder was left behind"
            assert worker.process.poll() is None, worker.log_tail()

            filler.unlink()  # space returns
            send_event(bootstrap, topic_prefix, FOOTAGE_UPLOADED, second)
            [ready] = events.wait_for(RENDITIONS_READY, second.footage_id, timeout_s=120)
            assert {r.profile for r in ready.renditions} == {"youtube"}
            # The same process all along (no crash, no restart), and the failed footage was not retried in a loop.
            assert worker.process.poll() is None and worker.process.pid == pid
            assert len(events.of(DEAD_LETTER, first.footage_id)) == 1
            assert events.of(RENDITIONS_READY, first.footage_id) == []
        finally:
            worker.stop()
