"""Ingest killed (SIGKILL) after announcing a footage on Kafka and before recording that it did, then restarted:
the person runs `loa upload` again and the pipeline still sees one footage for the file, with one id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from loa_core.contracts import layout
from loa_core.hashing import sha256_file
from loa_dev.kafka import KafkaBroker
from tests.support.ingest import IngestProcess, run_ingest

TITLE = "Đại hội chi bộ khu phố 2"
# The step right after the send: the catalog records that the footage was announced.
AFTER_THE_SEND = "loa_ingest.catalog:Catalog.mark_announced"


def _loa_upload(ingest: IngestProcess, state: Path, clip: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "LOA_INGEST_URL": ingest.url,
        "LOA_TOKEN": ingest.token,
        "LOA_CLI_CONFIG": "/nonexistent",
        "LOA_CLI_STATE": str(state),
    }
    command = [sys.executable, "-c", "from loa_cli.main import app; app(prog_name='loa')"]
    return subprocess.Popen(
        [*command, "upload", str(clip), "--title", TITLE, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_crash_between_the_announcement_and_its_record_keeps_one_footage(
    kafka_broker: KafkaBroker, tmp_path: Path, clip: Path
) -> None:
    root = tmp_path / "ingest"
    state = tmp_path / "loa-uploads.json"
    with run_ingest(root, kafka_broker.bootstrap, pause_at=AFTER_THE_SEND) as first:
        upload = _loa_upload(first, state, clip, "--retries", "0")
        deadline = time.monotonic() + 120
        while not (root / "paused").exists():
            assert upload.poll() is None, upload.communicate()
            assert time.monotonic() < deadline, f"ingest never reached {AFTER_THE_SEND}:\n{first.log()}"
            time.sleep(0.1)
        (announced,) = first.uploaded_events()  # sent, and not yet recorded as sent
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        _, err = upload.communicate(timeout=120)
        assert upload.returncode == 1 and "run the same command again" in err.lower(), err

    with run_ingest(root, kafka_broker.bootstrap, again=first) as second:
        again = _loa_upload(second, state, clip)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
        assert out.strip() == announced.footage_id
        for_this_file = [e for e in second.uploaded_events() if e.media.sha256 == sha256_file(clip)]
    # The event may be on the topic twice (sent again at the restart), but it is one footage: one id, one event.
    assert {e.footage_id for e in for_this_file} == {announced.footage_id}
    assert {e.event_id for e in for_this_file} == {announced.event_id}
    # One source, and its signed C2PA manifest beside it (made once, before the crash).
    stored = [p.relative_to(second.storage_root).as_posix() for p in second.stored_objects()]
    assert stored == [announced.media.key, layout.source_manifest_key(announced.footage_id)]
