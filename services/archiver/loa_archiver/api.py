"""The archiver's HTTP edge: stream keys, HLS pull requests, archives and highlight marks. Thin over the rooms."""
# No `from __future__ import annotations`: FastAPI must resolve the route annotations at runtime.

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Response, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from loa_archiver.page import LIVE_PAGE
from loa_archiver.recorder import restream_url_problem
from loa_archiver.service import Archiver
from loa_archiver.store import Archive, Pull, StreamKey
from loa_core.auth import Caller, bearer_dependency, hash_token, new_token
from loa_core.netsafe import RefusedUrl, check_url_shape
from loa_core.observability import health_router, instrument_http
from loa_core.refusals import explain_invalid_requests

ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
Title = Annotated[str, StringConstraints(min_length=1, max_length=180, strip_whitespace=True)]


class StreamKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ChannelName
    title: Title | None = None
    # Where the full archive and the highlight cuts are announced to; both default to `channel`.
    archive_channels: list[ChannelName] | None = None
    highlight_channels: list[ChannelName] | None = None
    # Optional restream: the live also goes to these platform RTMP ingests (rtmp:// or rtmps://).
    restream_urls: list[Annotated[str, StringConstraints(max_length=2000)]] = Field(default_factory=list, max_length=5)


class PullRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    channel: ChannelName
    title: Title | None = None
    archive_channels: list[ChannelName] | None = None
    highlight_channels: list[ChannelName] | None = None
    # A scheduled capture window; no start means now, no end means until the stream ends or goes silent.
    start_at: datetime | None = None
    end_at: datetime | None = None


class MarkRequest(BaseModel):
    """A range of the archive, in seconds from its start; or `last_s`: the last N seconds up to now."""

    model_config = ConfigDict(extra="forbid")

    start_s: float | None = Field(default=None, ge=0)
    end_s: float | None = Field(default=None, gt=0)
    last_s: float | None = Field(default=None, gt=0, le=3600)
    title: Annotated[str, StringConstraints(max_length=100, strip_whitespace=True)] | None = None


def _key_view(key: StreamKey) -> dict[str, object]:
    return {
        "key_id": key.key_id,
        "channel": key.channel,
        "title": key.title,
        "archive_channels": list(key.archive_channels),
        "highlight_channels": list(key.highlight_channels),
        "restream_targets": len(key.restream_urls),  # the URLs embed platform keys: never shown again
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "ward": key.ward,
    }


def _pull_view(pull: Pull) -> dict[str, object]:
    return {
        "pull_id": pull.pull_id,
        "url": pull.url,
        "channel": pull.channel,
        "title": pull.title,
        "start_at": pull.start_at,
        "end_at": pull.end_at,
        "state": pull.state,
        "archive_id": pull.archive_id,
        "error": pull.error,
        "ward": pull.ward,
    }


def create_api(archiver: Archiver) -> FastAPI:
    api = FastAPI(title="Loa archiver", version="0.1.0")
    instrument_http(api)
    explain_invalid_requests(api)
    # Static tokens may do everything; ingest's role tokens (when LOA_INGEST_URL is set): a viewer reads, an editor
    # also archives and marks highlights, a ward admin also manages stream keys (secrets, restream targets). Each in
    # its own ward only (a district admin: every ward): a stream key, a pull and an archive are their channel's ward's,
    # and another ward's answer 404, as if they did not exist.
    hashes = archiver.settings.token_hashes
    roles = archiver.settings.ingest_roles()
    Viewer = Annotated[Caller, Depends(bearer_dependency(hashes, roles, need="viewer"))]
    Uploader = Annotated[Caller, Depends(bearer_dependency(hashes, roles, need="editor"))]
    Admin = Annotated[Caller, Depends(bearer_dependency(hashes, roles, need="ward_admin"))]
    store = archiver.store
    no_archive = "No such archive. / Không tìm thấy bản lưu trữ."

    async def ready() -> str | None:
        return archiver.ready_problem()

    api.include_router(health_router(ready))

    def channels_ward(who: Caller, channel: str, *groups: list[str] | None) -> str:
        """The ward of `channel`, which every channel named must share, and the caller must see; else a 422."""
        names = sorted({channel, *(c for group in groups for c in group or [])})
        unknown = [c for c in names if c not in archiver.channels or not who.sees(archiver.channels[c].ward)]
        if unknown:
            raise HTTPException(422, f"Unknown channel(s): {', '.join(unknown)}. / Kênh không tồn tại.")
        ward = archiver.channels[channel].ward
        foreign = [c for c in names if archiver.channels[c].ward != ward]
        if foreign:
            raise HTTPException(
                422,
                f"Channel(s) {', '.join(foreign)} do not belong to ward {ward}, whose channel {channel} is. / Kênh "
                f"{', '.join(foreign)} không thuộc phường {ward}.",
            )
        return ward

    def visible_archive(who: Caller, archive_id: str) -> Archive:
        archive = store.archive(archive_id)
        if archive is None or not who.sees(archive.ward):
            raise HTTPException(404, no_archive)
        return archive

    def archive_view(archive: Archive) -> dict[str, object]:
        segments = store.segments(archive.archive_id)
        return {
            "archive_id": archive.archive_id,
            "ward": archive.ward,
            "source": archive.source,
            "channel": archive.channel,
            "title": archive.title,
            "state": archive.state,
            "footage_id": archive.footage_id,
            "segments": len(segments),
            "recorded_s": round(sum(s.duration_s for s in segments), 3),
            "started_at": archive.started_at,
            "ended_at": archive.ended_at,
            "error": archive.error,
            "marks": [
                {"start_s": m.start_s, "end_s": m.end_s, "title": m.title, "footage_id": m.footage_id}
                for m in store.marks(archive.archive_id)
            ],
        }

    @api.post("/stream-keys", status_code=status.HTTP_201_CREATED)
    async def create_stream_key(who: Admin, body: StreamKeyRequest) -> dict[str, object]:
        ward = channels_ward(who, body.channel, body.archive_channels, body.highlight_channels)
        for url in body.restream_urls:
            problem = restream_url_problem(url)
            if problem:
                raise HTTPException(422, problem)
        secret = new_token()
        key = store.add_stream_key(
            body.channel,
            hash_token(secret),
            body.title or f"Livestream {body.channel}",
            tuple(body.archive_channels or [body.channel]),
            tuple(body.highlight_channels or [body.channel]),
            tuple(body.restream_urls),
            ward=ward,
        )
        # The key is shown once, here; only its hash is stored.
        urls = {"rtmp_url": archiver.settings.rtmp_url(), "rtmps_url": archiver.settings.rtmps_url()}
        return {**_key_view(key), "stream_key": secret, **urls}

    @api.get("/stream-keys")
    async def list_stream_keys(who: Admin) -> list[dict[str, object]]:
        return [_key_view(k) for k in store.stream_keys(who.ward_filter())]

    @api.delete("/stream-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def revoke_stream_key(who: Admin, key_id: str) -> Response:
        key = store.stream_key(key_id)
        if key is None or not who.sees(key.ward):
            raise HTTPException(404, "No such stream key. / Không tìm thấy khóa phát trực tiếp.")
        archiver.pushes.revoke_key(key_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @api.post("/pulls", status_code=status.HTTP_201_CREATED)
    async def create_pull(who: Uploader, body: PullRequest) -> dict[str, object]:
        ward = channels_ward(who, body.channel, body.archive_channels, body.highlight_channels)
        try:
            # The shape and the allow-list now; addresses are checked at every fetch (DNS may change).
            check_url_shape(body.url, archiver.puller.policy)
        except RefusedUrl as exc:
            raise HTTPException(422, f"URL refused: {exc}") from exc  # RefusedUrl says why in both languages
        start = body.start_at or datetime.now(UTC)
        if start.tzinfo is None or (body.end_at is not None and body.end_at.tzinfo is None):
            raise HTTPException(
                422,
                "start_at and end_at need a time zone (e.g. 2026-05-01T19:00:00+07:00). "
                "/ Giờ bắt đầu và kết thúc cần múi giờ (+07:00).",
            )
        if body.end_at is not None and body.end_at <= start:
            raise HTTPException(422, "end_at must be after start_at. / Giờ kết thúc phải sau giờ bắt đầu.")
        pull = store.add_pull(
            body.url,
            body.channel,
            body.title or f"Livestream {body.channel}",
            tuple(body.archive_channels or [body.channel]),
            tuple(body.highlight_channels or [body.channel]),
            start,
            body.end_at,
            ward=ward,
        )
        return _pull_view(pull)

    @api.get("/pulls/{pull_id}")
    async def get_pull(who: Viewer, pull_id: str) -> dict[str, object]:
        pull = store.pull(pull_id)
        if pull is None or not who.sees(pull.ward):
            raise HTTPException(404, "No such pull. / Không tìm thấy yêu cầu thu luồng.")
        return _pull_view(pull)

    @api.delete("/pulls/{pull_id}", status_code=status.HTTP_202_ACCEPTED)
    async def stop_pull(who: Uploader, pull_id: str) -> dict[str, object]:
        mine = store.pull(pull_id)
        if mine is None or not who.sees(mine.ward) or not archiver.puller.cancel(pull_id):
            raise HTTPException(
                404,
                "No such pull, or it has already finished. / Không tìm thấy yêu cầu thu luồng, hoặc nó đã kết thúc.",
            )
        pull = store.pull(pull_id)
        assert pull is not None
        return _pull_view(pull)

    @api.get("/archives")
    async def list_archives(who: Viewer) -> list[dict[str, object]]:
        return [archive_view(a) for a in store.archives(ward=who.ward_filter())]

    @api.get("/archives/{archive_id}")
    async def get_archive(who: Viewer, archive_id: str) -> dict[str, object]:
        return archive_view(visible_archive(who, archive_id))

    @api.post("/archives/{archive_id}/marks", status_code=status.HTTP_201_CREATED)
    async def mark_highlight(who: Uploader, archive_id: str, body: MarkRequest) -> dict[str, object]:
        archive = visible_archive(who, archive_id)
        if archive.state != "recording":
            raise HTTPException(
                409,
                "Highlights are marked while the archive is recording. / Chỉ đánh dấu điểm nhấn khi đang ghi hình.",
            )
        if body.last_s is not None:
            if body.start_s is not None or body.end_s is not None:
                raise HTTPException(
                    422, "Give either last_s or start_s and end_s. / Chỉ gửi last_s, hoặc start_s và end_s."
                )
            end = archiver.position_s(archive)
            start = max(0.0, end - body.last_s)
        elif body.start_s is not None and body.end_s is not None:
            start, end = body.start_s, body.end_s
        else:
            raise HTTPException(422, "Give start_s and end_s, or last_s. / Cần start_s và end_s, hoặc last_s.")
        if end <= start:
            raise HTTPException(422, "end_s must be after start_s. / Điểm kết thúc phải sau điểm bắt đầu.")
        mark = store.add_mark(archive_id, start, end, body.title)
        return {"idx": mark.idx, "start_s": mark.start_s, "end_s": mark.end_s, "footage_id": mark.footage_id}

    @api.get("/live", response_class=HTMLResponse, include_in_schema=False)
    async def live_page() -> HTMLResponse:
        # Static and secret-free; the calls it makes carry the token the user enters.
        return HTMLResponse(LIVE_PAGE, headers={"Content-Security-Policy": "default-src 'self' 'unsafe-inline'"})

    @api.post("/archives/{archive_id}/stop", status_code=status.HTTP_202_ACCEPTED)
    async def stop_archive(who: Uploader, archive_id: str) -> dict[str, object]:
        visible_archive(who, archive_id)
        if not archiver.stop_archive(archive_id):
            raise HTTPException(
                409,
                "No such archive, or it is not recording. / Không tìm thấy bản lưu trữ, hoặc nó không còn ghi hình.",
            )
        return {"archive_id": archive_id, "stopping": True}

    return api
