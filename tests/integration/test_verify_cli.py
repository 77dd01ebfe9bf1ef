"""`loa verify` against metrics' API over HTTP (a projection holding one published cut, its fingerprint computed from a
real generated clip): a signed copy is "signed, unchanged", a re-encoded excerpt and the exact hash "match the post"
(with the span), an unrelated clip is "no match", and a signed copy with one byte changed is reported invalid, with
the resemblance, never as authentic. Exit 0 only for the first two answers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loa_cli.main import app as cli
from loa_core import provenance
from loa_core.auth import hash_token
from loa_core.contracts import Channel, Rendition, RenditionsReady, layout, new_id
from loa_core.fingerprint import fingerprint_file
from loa_core.hashing import sha256_file
from loa_metrics.api import create_api
from loa_metrics.projection import open_projection
from loa_metrics.settings import MetricsSettings
from tests.support.asgi_server import serve_in_thread
from tests.support.metrics_events import metadata, published, uploaded
from tests.support.scenes import derive, make_scene_clip

YT = Channel(name="yt", platform="youtube", profiles=("youtube",))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("verify-cli")
    cut = make_scene_clip(folder / "cut.mp4", seed=21, duration_s=30, width=320, height=180, fps=12)
    root = provenance.new_root("Loa test root")
    key = provenance.issue_ward(root, "phuong-1", "Phường 1")
    trust = provenance.Trust(provenance.roots_of([root.chain_pem]))
    signed = folder / "signed.mp4"
    provenance.sign(
        cut,
        signed,
        key=key,
        trust=trust,
        ward="phuong-1",
        ward_name="Phường 1",
        channel="yt",
        title="Lễ kỷ niệm",
        event_date=dt.date(2026, 9, 2),
        published_at=dt.datetime(2026, 9, 3, 8, 0, tzinfo=dt.UTC),
        source_sha256="5" * 64,
        actions=[provenance.created("cut from the ward's footage"), provenance.Action(provenance.PUBLISHED)],
    )
    tampered = folder / "tampered.mp4"
    data = bytearray(signed.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte in the middle of the picture's data
    tampered.write_bytes(bytes(data))
    roots = folder / "roots.pem"
    roots.write_text(root.chain_pem, "ascii")
    return {
        "cut": cut,
        "signed": signed,
        "tampered": tampered,
        "roots": roots,
        "excerpt": derive(cut, folder / "excerpt.mp4", start_s=8.0, duration_s=15.0, video_kbps=80),
        "other": make_scene_clip(folder / "other.mp4", seed=22, duration_s=10, width=160, height=90),
    }


@pytest.fixture(scope="module")
def metrics_url(clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    projection = open_projection(tmp_path_factory.mktemp("projection") / "p.sqlite3", {"yt": YT})
    fid = new_id()
    cut = clips["cut"]
    projection.events.footage_uploaded(uploaded(fid, channels=("yt",)))
    projection.events.renditions_ready(
        RenditionsReady(
            footage_id=fid,
            metadata=metadata(title="Lễ kỷ niệm", channels=("yt",)),
            renditions=(
                Rendition(
                    profile="youtube",
                    key=layout.rendition_key(fid, "youtube"),
                    width=320,
                    height=180,
                    duration_s=30.0,
                    size_bytes=cut.stat().st_size,
                    video_codec="h264",
                    audio_codec=None,
                    sha256=sha256_file(cut),
                    fingerprint=asyncio.run(fingerprint_file(cut)).to_text(),
                ),
            ),
        )
    )
    projection.events.post_published(published(fid, "youtube", channel="yt", platform="youtube", post_id="v1"))
    api = create_api(
        MetricsSettings(api_token_hashes=hash_token("t")),
        projection.views,
        projection.engagement,
        verifications=projection.verifications,
    )
    with serve_in_thread(api) as url:
        yield url


def verify(metrics_url: str, tmp_path: Path, target: str, *options: str) -> tuple[int, str]:
    env = {"LOA_METRICS_URL": metrics_url, "LOA_INGEST_URL": "http://127.0.0.1:9", "LOA_TOKEN": ""}
    env["LOA_CLI_CONFIG"] = str(tmp_path / "none.json")
    result = CliRunner().invoke(cli, ["verify", target, *options], env=env)
    return result.exit_code, result.output


def test_loa_verify_gives_the_three_answers_and_refuses_a_tampered_copy(
    clips: dict[str, Path], metrics_url: str, tmp_path: Path
) -> None:
    roots = ("--roots", str(clips["roots"]))
    code, out = verify(metrics_url, tmp_path, str(clips["signed"]), *roots)
    assert code == 0, out
    assert "Đã được Phường 1 ký ngày 03/09/2026, chưa bị sửa đổi." in out
    assert "Signed by Phường 1 on 2026-09-03, unchanged." in out

    code, out = verify(metrics_url, tmp_path, str(clips["excerpt"]), *roots)
    assert code == 0, out
    assert "Matches the ward's post of 2026-11-20 at 00:08–00:23." in out
    assert "youtube yt: https://example.invalid/" in out

    code, out = verify(metrics_url, tmp_path, sha256_file(clips["cut"]))
    assert code == 0, out
    assert "byte for byte the published file" in out

    code, out = verify(metrics_url, tmp_path, str(clips["other"]), *roots)
    assert code == 1, out
    assert "No match: this is not a video published by the ward." in out
    assert "Không khớp" in out

    code, out = verify(metrics_url, tmp_path, str(clips["tampered"]), *roots)
    assert code == 2, out
    assert "Not authentic: the C2PA manifest is altered after signing." in out
    assert "resembles the post of 2026-11-20" in out
    assert "Signed by" not in out and "unchanged" not in out

    # Without the roots it was signed under, a signed file is not authentic either.
    stranger = tmp_path / "stranger.pem"
    stranger.write_text(provenance.new_root("another root").chain_pem, "ascii")
    code, out = verify(metrics_url, tmp_path, str(clips["signed"]), "--roots", str(stranger))
    assert code == 2, out
    assert "signed by a key this installation does not trust" in out
