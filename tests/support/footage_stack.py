"""One footage of ward A, cut and waiting on its channel, for the footage page's tests: ingest as a process on a real
broker with local storage, metrics' API in this process on a real SQLite projection fed with what ingest announced and
a RenditionsReady naming a real vertical clip put in ingest's storage (what transcode would have made)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from loa_core.auth import hash_token, new_token
from loa_core.channels import Channel, dump_channels
from loa_core.contracts import PostFailed, Rendition, RenditionsReady, layout
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker, free_port
from loa_metrics.api import create_api
from loa_metrics.projection import Projection, open_projection
from loa_metrics.settings import MetricsSettings
from tests.support.asgi_server import serve_in_thread
from tests.support.ingest import IngestProcess, run_ingest
from tests.support.media import make_clip

WARD_A, WARD_B = "ward-a", "ward-b"
STATIC = new_token()  # a district admin of this ingest and metrics


@dataclass
class FootageStack:
    ingest: IngestProcess
    projection: Projection
    footage_id: str
    cut: bytes  # the vertical cut's bytes, as stored
    a_viewer: str  # tokens
    b_admin: str

    def cut_url(self, profile: str = "tiktok") -> str:
        return f"{self.ingest.url}/footage/{self.footage_id}/cuts/{profile}"

    def fail(self, channel: str, platform: str, reason: str) -> None:
        """A post of the footage failed on `channel` (as the publisher says on posts.failed)."""
        failed = PostFailed(footage_id=self.footage_id, ward=WARD_A, channel=channel, platform=platform, reason=reason)
        self.projection.events.failure(failed)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_token(ingest: IngestProcess, role: str, ward: str) -> str:
    answer = httpx.post(f"{ingest.url}/tokens", headers=auth(STATIC), json={"role": role, "ward": ward})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


@contextmanager
def footage_stack(
    kafka_broker: KafkaBroker,
    root: Path,
    channels: list[Channel],
    title: str,
    series: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[FootageStack]:
    """Ward A's footage `title` for its first channel (whose cut is `tiktok`), cut and in metrics' view."""
    channels_file = root / "channels.json"
    channels_file.write_text(dump_channels(channels), encoding="utf-8")
    ingest_port = free_port()
    projection = open_projection(root / "projection.sqlite3", {c.name: c for c in channels})
    settings = MetricsSettings(api_token_hashes=hash_token(STATIC), ingest_url=f"http://127.0.0.1:{ingest_port}")
    env = {
        "LOA_CHANNELS_FILE": str(channels_file),
        "LOA_API_TOKEN_HASHES": hash_token(STATIC),
        "LOA_RATE_LIMIT_PER_S": "1000",
        "LOA_RATE_LIMIT_BURST": "1000",
        **(extra_env or {}),
    }
    try:
        api = create_api(settings, projection.views, projection.engagement, verifications=projection.verifications)
        with serve_in_thread(api) as metrics:
            env["LOA_METRICS_URL"] = metrics
            with run_ingest(root / "ingest", kafka_broker.bootstrap, env, port=ingest_port) as ingest:
                for ward in (WARD_A, WARD_B):
                    made = httpx.post(
                        f"{ingest.url}/wards", headers=auth(STATIC), json={"id": ward, "display_name": ward}
                    )
                    assert made.status_code == 201, made.text
                source = make_clip(root / "source.mp4", width=160, height=90, duration_s=1.0)
                uploaded = httpx.post(
                    f"{ingest.url}/footage",
                    headers=auth(make_token(ingest, "editor", WARD_A)),
                    files={"file": ("clip.mp4", source.read_bytes(), "video/mp4")},
                    data={"title": title, "channels": channels[0].name, "series": series, "tags": ["Văn nghệ"]},
                    timeout=60,
                )
                assert uploaded.status_code == 201, uploaded.text
                footage_id = uploaded.json()["footage_id"]
                cut = make_clip(root / "tiktok.mp4", width=90, height=160, duration_s=1.0).read_bytes()
                key = layout.rendition_key(footage_id, "tiktok")
                LocalStorage(ingest.storage_root).put_stream(key, [cut])
                (event,) = [e for e in ingest.uploaded_events() if e.footage_id == footage_id]
                projection.events.footage_uploaded(event)
                rendition = Rendition(
                    profile="tiktok",
                    key=key,
                    width=90,
                    height=160,
                    duration_s=1.0,
                    size_bytes=len(cut),
                    video_codec="h264",
                    audio_codec="aac",
                    sha256=hashlib.sha256(cut).hexdigest(),
                )
                ready = RenditionsReady(
                    footage_id=footage_id, ward=WARD_A, metadata=event.metadata, renditions=(rendition,)
                )
                projection.events.renditions_ready(ready)
                yield FootageStack(
                    ingest=ingest,
                    projection=projection,
                    footage_id=footage_id,
                    cut=cut,
                    a_viewer=make_token(ingest, "viewer", WARD_A),
                    b_admin=make_token(ingest, "ward_admin", WARD_B),
                )
    finally:
        projection.close()
