"""`loa upload` over tus against the running ingest: prints the id, resumes when run again after a drop."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loa_cli.main import app as cli
from loa_core.hashing import sha256_file
from loa_dev.kafka import KafkaBroker
from tests.support.ingest import CuttingProxy, IngestProcess, run_ingest
from tests.support.media import make_clip


@pytest.fixture(scope="module")
def ingest(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    with run_ingest(tmp_path_factory.mktemp("ingest-cli"), kafka_broker.bootstrap) as process:
        yield process


def _loa(ingest: IngestProcess, state: Path, *args: str, url: str | None = None) -> tuple[int, str, str]:
    env = {
        "LOA_INGEST_URL": url or ingest.url,
        "LOA_TOKEN": ingest.token,
        "LOA_CLI_CONFIG": "/nonexistent",
        "LOA_CLI_STATE": str(state),
    }
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_upload_prints_the_footage_id_and_carries_the_metadata(ingest: IngestProcess, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "hop-dan.mp4", width=320, height=180, duration_s=2.0)
    code, out, err = _loa(
        ingest,
        tmp_path / "state.json",
        *("upload", str(clip), "--title", "Họp dân khu phố 3", "--tag", "họp dân", "--tag", "khu phố"),
        *("--event-date", "2026-11-20", "--trim-start", "0.5", "--trim-end", "1.5", "--series", "Họp dân"),
    )
    assert code == 0, err
    footage_id = out.strip()
    assert len(footage_id) == 32 and "\n" not in footage_id, "stdout is the id alone"
    (event,) = [e for e in ingest.uploaded_events() if e.footage_id == footage_id]
    assert event.metadata.title == "Họp dân khu phố 3"
    assert event.metadata.tags == ("họp dân", "khu phố")
    assert str(event.metadata.event_date) == "2026-11-20"
    assert (event.metadata.trim_start_s, event.metadata.trim_end_s) == (0.5, 1.5)
    assert json.loads((tmp_path / "state.json").read_text()) == {}, "finished uploads are forgotten"

    # The same file again with the same details is the same footage.
    same = ("--tag", "họp dân", "--tag", "khu phố", "--event-date", "2026-11-20", "--series", "Họp dân")
    code, again, err = _loa(
        ingest, tmp_path / "state.json", "upload", str(clip), "--title", "Họp dân khu phố 3", *same,
        "--trim-start", "0.5", "--trim-end", "1.5",
    )  # fmt: skip
    assert code == 0 and again.strip() == footage_id
    assert "uploaded before" in err

    # With a new title and trims it is refused, saying which footage it is and that nothing changed.
    code, again, err = _loa(ingest, tmp_path / "state.json", "upload", str(clip), "--title", "Lần hai", *same)
    assert code == 1 and again == ""
    assert f"already uploaded: it is footage {footage_id}" in err
    assert "not applied: title, trim start, trim end" in err and "không được áp dụng" in err
    assert [e.metadata.title for e in ingest.uploaded_events() if e.footage_id == footage_id] == ["Họp dân khu phố 3"]


def test_upload_with_subtitles_framing_and_a_channels_own_time(ingest: IngestProcess, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "phu-de.mp4", width=320, height=180, duration_s=1.5)
    srt = tmp_path / "phu-de.srt"
    srt.write_text("1\n00:00:00,100 --> 00:00:01,000\nKính thưa quý vị\n", "utf-8")
    when = (datetime.now(UTC) + timedelta(days=1, hours=7)).strftime("%Y-%m-%dT%H:%M:00")  # tomorrow, Vietnam time
    code, out, err = _loa(
        ingest, tmp_path / "state.json", "upload", str(clip), "--title", "Có phụ đề",
        "--framing", "subject", "--subtitles", str(srt), "--channel-publish-at", f"local={when}",
    )  # fmt: skip
    assert code == 0, err
    (event,) = [e for e in ingest.uploaded_events() if e.footage_id == out.strip()]
    assert event.metadata.vertical_framing == "subject"
    assert event.metadata.subtitles_key is not None and event.metadata.subtitles_key.startswith("subtitles/default/")
    assert event.metadata.publish_at["local"] == datetime.fromisoformat(f"{when}+07:00")
    bad = tmp_path / "hong.srt"
    bad.write_bytes("1\n00:00:01,000 --> 00:00:02,000\nchào\n".encode("cp1258"))
    code, out, err = _loa(ingest, tmp_path / "state.json", "upload", str(clip), "--title", "t", "--subtitles", str(bad))
    assert code == 1 and out == "" and "not UTF-8" in err and "không phải UTF-8" in err


def test_interrupted_upload_resumes_when_run_again(ingest: IngestProcess, tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "nullsrc=s=320x240:r=25,geq=random(1)*255:128:128",
         "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", str(big)],
        check=True,
    )  # fmt: skip
    size = big.stat().st_size
    state = tmp_path / "state.json"
    port = int(ingest.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, cut_after=size // 2)
    try:
        via = f"http://127.0.0.1:{proxy.port}"
        args = ("upload", str(big), "--title", "Gián đoạn", "--chunk-mib", "1", "--retries", "0")
        code, out, err = _loa(ingest, state, *args, url=via)
        assert code == 1 and proxy.cut_done.is_set()
        assert "run the same command again" in err.lower()
        assert len(json.loads(state.read_text())) == 1, "the upload URL is remembered"

        code, out, err = _loa(ingest, state, *args, url=via)
    finally:
        proxy.close()
    assert code == 0, err
    resumed = [line for line in err.splitlines() if line.startswith("Resuming from")]
    assert resumed, err
    offset = int(resumed[0].split()[2])
    assert 0 < offset < size
    (event,) = [e for e in ingest.uploaded_events() if e.footage_id == out.strip()]
    assert event.media.sha256 == sha256_file(big)


def test_refused_file_reports_the_reason(ingest: IngestProcess, tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_bytes(b"these are meeting notes, not a video\n" * 500)
    state = tmp_path / "state.json"
    code, out, err = _loa(ingest, state, "upload", str(fake), "--title", "Không phải video")
    assert code == 1 and out == ""
    assert "Error 422" in err and "not a video" in err
    assert json.loads(state.read_text()) == {}
    code, _, err = _loa(ingest, state, "upload", str(fake), "--title", "x", "--channel", "nowhere")
    assert code == 1 and "Unknown channel" in err
