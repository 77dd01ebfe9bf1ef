"""A corpus of bad uploads against the running ingest: each gets a clear 4xx, leaves no object or event behind,
and the service keeps serving (a good upload still goes through at the end)."""

from __future__ import annotations

import base64
import hashlib
import random
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from loa_core.contracts import layout
from loa_dev.kafka import KafkaBroker
from tests.support.bilingual import assert_bilingual
from tests.support.ingest import IngestProcess, run_ingest, tus_metadata
from tests.support.media import make_clip

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = {"Content-Type": "application/offset+octet-stream"}
MAX_BYTES = 30_000_000


@dataclass(frozen=True)
class Media:
    good: bytes
    faststart: bytes
    no_moov: bytes
    png: bytes
    audio_only: bytes
    one_by_one: bytes
    short_clip: bytes


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    d = tmp_path_factory.mktemp("bad-media")
    make_clip(d / "good.mp4", width=320, height=180, duration_s=2.0)
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "3", "-c:v", "libx264", "-preset",
            "ultrafast", "-movflags", "+faststart", str(d / "faststart.mp4"))  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-frames:v", "1", str(d / "still.png"))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", "-c:a", "aac", str(d / "audio.m4a"))
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:size=2x2:rate=5", "-t", "1", "-vf", "scale=1:1", "-c:v", "mpeg4",
            str(d / "tiny.mp4"))  # fmt: skip
    make_clip(d / "short.mp4", width=320, height=180, duration_s=1.0, audio=False)
    plain = (d / "good.mp4").read_bytes()
    # ffmpeg writes the moov atom last by default; cutting the tail removes it.
    return Media(
        good=plain,
        faststart=(d / "faststart.mp4").read_bytes(),
        no_moov=plain[: len(plain) - 3000],
        png=(d / "still.png").read_bytes(),
        audio_only=(d / "audio.m4a").read_bytes(),
        one_by_one=(d / "tiny.mp4").read_bytes(),
        short_clip=(d / "short.mp4").read_bytes(),
    )


@pytest.fixture(scope="module")
def ingest(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    env = {"LOA_MAX_UPLOAD_BYTES": str(MAX_BYTES), "LOA_RATE_LIMIT_BURST": "1000"}
    with run_ingest(tmp_path_factory.mktemp("ingest-bad"), kafka_broker.bootstrap, env) as process:
        yield process


def _create(ingest: IngestProcess, length: int, metadata: str | None = None, **headers: str) -> httpx.Response:
    sent = {**TUS, **ingest.headers(), "Upload-Length": str(length)}
    sent["Upload-Metadata"] = tus_metadata(title="Bad input") if metadata is None else metadata
    sent.update(headers)
    return httpx.post(f"{ingest.url}/files/", headers={k: v for k, v in sent.items() if v != "<drop>"})


def _upload(ingest: IngestProcess, data: bytes, metadata: str | None = None) -> httpx.Response:
    """Create and send everything in one PATCH; the answer to the final PATCH (or to the creation)."""
    created = _create(ingest, len(data), metadata)
    if created.status_code != 201:
        return created
    url = f"{ingest.url}{created.headers['Location']}"
    return httpx.patch(
        url, content=data, headers={**TUS, **OCTETS, **ingest.headers(), "Upload-Offset": "0"}, timeout=60
    )


def _url(ingest: IngestProcess, created: httpx.Response) -> str:
    assert created.status_code == 201, created.text
    return f"{ingest.url}{created.headers['Location']}"


def _patch(ingest: IngestProcess, url: str, body: bytes, offset: int = 0, **headers: str) -> httpx.Response:
    sent = {**TUS, **OCTETS, **ingest.headers(), "Upload-Offset": str(offset), **headers}
    return httpx.patch(url, content=body, headers={k: v for k, v in sent.items() if v != "<drop>"})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


Case = Callable[[IngestProcess, Media], httpx.Response]

CASES: dict[str, tuple[int, str, Case]] = {
    # -- files --
    "zero bytes": (400, "empty", lambda i, m: _create(i, 0)),
    "truncated mp4": (422, "truncated or damaged", lambda i, m: _upload(i, m.faststart[: len(m.faststart) * 2 // 3])),
    "random bytes named .mp4": (
        422,
        "not a video",
        lambda i, m: _upload(i, random.Random(7).randbytes(200_000), tus_metadata(title="r", filename="clip.mp4")),
    ),
    "text named .mp4": (422, "not a video", lambda i, m: _upload(i, b"hello, not a video\n" * 100)),
    "png image": (422, "still image", lambda i, m: _upload(i, m.png)),
    "audio only": (422, "no video", lambda i, m: _upload(i, m.audio_only)),
    "1x1 video": (422, "1x1", lambda i, m: _upload(i, m.one_by_one)),
    "mp4 without moov": (422, "not a video", lambda i, m: _upload(i, m.no_moov)),
    "over the size cap": (413, "larger", lambda i, m: _create(i, MAX_BYTES + 1)),
    # -- tus protocol --
    "missing Tus-Resumable": (412, "Tus-Resumable", lambda i, m: _create(i, 10, **{"Tus-Resumable": "<drop>"})),
    "wrong Tus-Resumable": (412, "Tus-Resumable", lambda i, m: _create(i, 10, **{"Tus-Resumable": "0.2.2"})),
    "missing Upload-Length": (400, "Upload-Length", lambda i, m: _create(i, 0, **{"Upload-Length": "<drop>"})),
    "negative Upload-Length": (400, "Upload-Length", lambda i, m: _create(i, 0, **{"Upload-Length": "-5"})),
    "deferred length": (400, "Defer", lambda i, m: _create(i, 10, **{"Upload-Defer-Length": "1"})),
    "PATCH without offset content type": (
        415,
        "Content-Type",
        lambda i, m: _patch(i, _url(i, _create(i, 100)), b"x" * 10, **{"Content-Type": "application/octet-stream"}),
    ),
    "PATCH without Upload-Offset": (
        400,
        "Upload-Offset",
        lambda i, m: _patch(i, _url(i, _create(i, 100)), b"x" * 10, **{"Upload-Offset": "<drop>"}),
    ),
    "out-of-order offset": (409, "does not match", lambda i, m: _patch(i, _url(i, _create(i, 100)), b"x" * 10, 50)),
    "checksum mismatch": (
        460,
        "Checksum",
        lambda i, m: _patch(
            i,
            _url(i, _create(i, 100)),
            b"x" * 10,
            **{"Upload-Checksum": f"sha256 {_b64(hashlib.sha256(b'y').digest())}"},
        ),
    ),
    "unsupported checksum algorithm": (
        400,
        "not supported",
        lambda i, m: _patch(i, _url(i, _create(i, 100)), b"x" * 10, **{"Upload-Checksum": "crc32 AAAA"}),
    ),
    "body past Upload-Length": (413, "past Upload-Length", lambda i, m: _patch(i, _url(i, _create(i, 10)), b"x" * 20)),
    "unknown upload id": (404, "No such upload", lambda i, m: _patch(i, f"{i.url}/files/{'0' * 32}", b"x")),
    # -- metadata --
    "path-traversal file name": (
        422,
        "plain name",
        lambda i, m: _create(i, 100, tus_metadata(title="t", filename="../../../etc/passwd")),
    ),
    "oversized metadata": (400, "longer than", lambda i, m: _create(i, 100, tus_metadata(title="t" * 20_000))),
    "invalid UTF-8 metadata": (400, "UTF-8", lambda i, m: _create(i, 100, "title " + _b64(b"caf\xe9 \xff"))),
    "metadata not base64": (400, "base64", lambda i, m: _create(i, 100, "title ***")),
    "missing title": (422, "title is required", lambda i, m: _create(i, 100, tus_metadata(description="d"))),
    "title too long": (422, "longer than 200", lambda i, m: _create(i, 100, tus_metadata(title="ư" * 201))),
    "unknown channel": (422, "Unknown channel", lambda i, m: _create(i, 100, tus_metadata(title="t", channels="x"))),
    "trim past the end": (
        422,
        "past the end",
        lambda i, m: _upload(i, m.short_clip, tus_metadata(title="t", trim_start_s="0", trim_end_s="30")),
    ),
    "trim end before start": (
        422,
        "after trim_start_s",
        lambda i, m: _create(i, 100, tus_metadata(title="t", trim_start_s="9", trim_end_s="3")),
    ),
    "publish time in the past": (
        422,
        "in the past",
        lambda i, m: _create(i, 100, tus_metadata(title="t", publish_at="2020-01-01T08:00:00+07:00")),
    ),
    "bad event date": (422, "date like", lambda i, m: _create(i, 100, tus_metadata(title="t", event_date="hôm qua"))),
    # -- tokens --
    "missing token": (
        401,
        "token",
        lambda i, m: httpx.post(f"{i.url}/files/", headers={**TUS, "Upload-Length": "100"}),
    ),
    "wrong token": (
        401,
        "token",
        lambda i, m: httpx.post(
            f"{i.url}/files/", headers={**TUS, "Upload-Length": "100", "Authorization": "Bearer nope"}
        ),
    ),
    "subtitles not UTF-8": (
        422,
        "not UTF-8",
        lambda i, m: httpx.post(
            f"{i.url}/subtitles",
            headers=i.headers(),
            content="1\n00:00:01,000 --> 00:00:02,000\nchào\n".encode("cp1258"),
        ),
    ),
    "subtitles without timings": (
        422,
        "Line 2: expected a timing",
        lambda i, m: httpx.post(f"{i.url}/subtitles", headers=i.headers(), content="1\nxin chào\n".encode()),
    ),
    "subtitles never stored": (
        422,
        "No subtitles stored",
        lambda i, m: _upload(i, m.good, tus_metadata(title="t", subtitles_key=f"subtitles/default/{'0' * 16}.srt")),
    ),
    "form upload of random bytes": (
        422,
        "not a video",
        lambda i, m: httpx.post(
            f"{i.url}/footage",
            headers=i.headers(),
            data={"title": "t"},
            files={"file": ("x.mp4", random.Random(8).randbytes(10_000), "video/mp4")},
        ),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_cleanly(ingest: IngestProcess, media: Media, name: str) -> None:
    status, needle, case = CASES[name]
    response = case(ingest, media)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert needle.lower() in str(detail).lower(), detail
    assert_bilingual(detail)
    # Nothing stored, nothing announced, and the service still answers.
    assert ingest.stored_objects() == []
    assert ingest.alive()
    assert httpx.get(f"{ingest.url}/healthz").status_code == 200


def test_corpus_is_big_enough_and_service_still_accepts_good_footage(ingest: IngestProcess, media: Media) -> None:
    assert len(CASES) >= 25
    # Refused uploads leave no spool behind (the ones still open wait for their client or their expiry).
    spool = ingest.spool_dir / "tus"
    leftovers = {p.stem for p in spool.iterdir()}
    for upload_id in leftovers:
        status = httpx.get(f"{ingest.url}/files/{upload_id}", headers=ingest.headers()).json()["state"]
        assert status == "receiving", (upload_id, status)
    assert ingest.uploaded_events() == []
    response = _upload(ingest, media.good, tus_metadata(title="Sau cùng vẫn nhận"))
    assert response.status_code == 204, response.text
    (event,) = ingest.uploaded_events()
    assert event.footage_id == response.headers["Loa-Footage-Id"]
    # The source, and its signed C2PA manifest beside it (raw/<id>/source.c2pa).
    stored = [p.relative_to(ingest.storage_root).as_posix() for p in ingest.stored_objects()]
    assert stored == [event.media.key, layout.source_manifest_key(event.footage_id)]


def test_an_upload_with_checked_subtitles_and_the_framing_switch(ingest: IngestProcess, media: Media) -> None:
    srt = "1\n00:00:00,200 --> 00:00:01,500\nKính chào quý vị\n".encode()
    stored = httpx.post(f"{ingest.url}/subtitles", headers=ingest.headers(), content=srt)
    assert stored.status_code == 201, stored.text
    key = stored.json()["subtitles_key"]
    assert stored.json()["cues"] == 1
    response = _upload(
        ingest, media.faststart, tus_metadata(title="Có phụ đề", subtitles_key=key, vertical_framing="subject")
    )
    assert response.status_code == 204, response.text
    (event,) = [e for e in ingest.uploaded_events() if e.footage_id == response.headers["Loa-Footage-Id"]]
    assert (event.metadata.subtitles_key, event.metadata.vertical_framing) == (key, "subject")
    assert ingest.storage_root / key in ingest.stored_objects()
