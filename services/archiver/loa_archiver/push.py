"""RTMP push: the listeners, stream-key checks, and one session per publish recording into its archive.

A publisher that drops has `silence_timeout_s` to reconnect (OBS does by itself) and continues the same archive,
on whichever replica the balancer sends it to; after that, or when the stream ends on our side (silence, a revoked
key, a stop asked through any replica), the archive is finalized. A live publish holds its stream key's and its
archive's leases (loa_archiver/leases.py): a second publish with the key is refused on every replica, and a
publisher whose replica died is taken in by another as soon as the dead one's leases lapse.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable

from loa_archiver.finalizer import Finalizer
from loa_archiver.leases import Leases, archive_lease, stream_lease
from loa_archiver.metrics import LIVE_STREAMS, RTMP_REFUSED
from loa_archiver.recorder import SegmentRecorder
from loa_archiver.rtmp import FLV_HEADER, RtmpConnection, RtmpServer
from loa_archiver.settings import ArchiverSettings
from loa_archiver.store import Archive, ArchiveStore, StreamKey
from loa_core.auth import hash_token
from loa_core.storage import Storage

log = logging.getLogger(__name__)


class PushSession:
    """One authorized RTMP publish: FLV tags go to the archive's recorder; silence ends the stream."""

    def __init__(
        self,
        key: StreamKey,
        archive: Archive,
        recorder: SegmentRecorder,
        conn: RtmpConnection,
        silence_timeout_s: float,
        on_close: Callable[[PushSession, bool], Awaitable[None]],
    ) -> None:
        self.key = key
        self.archive = archive
        self.recorder = recorder
        self.conn = conn
        self.last_media = time.monotonic()
        # Set when the stream ends on our side (silence, a revoked key): then the archive is finished at once.
        self.ended_by_us = False
        self._silence_timeout_s = silence_timeout_s
        self._on_close = on_close
        self._header_sent = False
        self._closed = False
        self._watchdog = asyncio.create_task(self._watch_silence())

    async def media(self, flv: bytes) -> None:
        if not self._header_sent:
            await self.recorder.write(FLV_HEADER)
            self._header_sent = True
        await self.recorder.write(flv)
        self.last_media = time.monotonic()

    async def _watch_silence(self) -> None:
        timeout = self._silence_timeout_s
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            if time.monotonic() - self.last_media > timeout:
                log.info("archive %s: no media for %.0f s, ending the stream", self.archive.archive_id, timeout)
                self.end_by_us()
                return

    def end_by_us(self) -> None:
        self.ended_by_us = True
        self.conn.close()

    async def close(self, clean: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self._watchdog.cancel()
        await self._on_close(self, clean or self.ended_by_us)


class PushSessions:
    """The RTMP (and RTMPS) listeners and the publishes going on; hands ended archives to the finalizer."""

    def __init__(self, settings: ArchiverSettings, storage: Storage, store: ArchiveStore, finalizer: Finalizer) -> None:
        self.settings = settings
        self.storage = storage
        self.store = store
        self.finalizer = finalizer
        self.leases: Leases = finalizer.leases
        self.rtmp = RtmpServer(settings.rtmp_host, settings.rtmp_port, self.authorize_publish)
        self.rtmps: RtmpServer | None = None
        if settings.rtmps_port:
            if settings.rtmps_cert_file is None or settings.rtmps_key_file is None:
                raise ValueError("LOA_RTMPS_PORT needs LOA_RTMPS_CERT_FILE and LOA_RTMPS_KEY_FILE")
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(settings.rtmps_cert_file, settings.rtmps_key_file)
            self.rtmps = RtmpServer(settings.rtmp_host, settings.rtmps_port, self.authorize_publish, tls)
        self._live: dict[str, PushSession] = {}  # by stream key id: the publishes live on this replica

    async def start(self) -> None:
        # Archives whose publisher was cut off are waited for by the takeover watch (Archiver), on every replica.
        await self.rtmp.start()
        if self.rtmps is not None:
            await self.rtmps.start()

    async def stop(self) -> None:
        # Closing the listeners ends every publish: its recorder stores what it received.
        await self.rtmp.stop()
        if self.rtmps is not None:
            await self.rtmps.stop()

    def ready_problem(self) -> str | None:
        if not self.rtmp.listening:
            return "the RTMP listener is not running"
        if self.rtmps is not None and not self.rtmps.listening:
            return "the RTMPS listener is not running"
        return None

    async def authorize_publish(self, app: str, stream_key: str, conn: RtmpConnection) -> PushSession | None:
        if app != self.settings.rtmp_app or not stream_key:
            log.warning("rtmp %s: refused a publish to app %r", conn.peer, app)
            RTMP_REFUSED.inc()
            return None
        key = self.store.active_key_by_hash(hash_token(stream_key))
        if key is None:
            # Never log the key itself: a mistyped key is one character away from a real one.
            log.warning("rtmp %s: refused a publish with an unknown or revoked stream key", conn.peer)
            RTMP_REFUSED.inc()
            return None
        # On any replica, one publish per key at a time; one that may be a dead replica's is waited out.
        stream = stream_lease(key.key_id)
        if not await self.leases.take_waiting(stream):
            log.warning("rtmp %s: refused a second publish for stream key %s", conn.peer, key.key_id)
            RTMP_REFUSED.inc()
            return None
        archive = await self._archive_for(key)
        if archive is None:
            self.leases.release(stream, forget=True)
            RTMP_REFUSED.inc()
            return None
        recorder = SegmentRecorder(
            archive.archive_id,
            self.settings.recording_dir(archive.archive_id),
            self.storage,
            self.store,
            self.settings.segment_s,
            key.restream_urls,
        )
        try:
            await recorder.start()
        except Exception:
            # No recorder, no publish: the publisher is refused (and retries) rather than streaming into nothing.
            log.exception("archive %s: the recorder did not start", archive.archive_id)
            self.leases.release(archive_lease(archive.archive_id))
            self.leases.release(stream, forget=True)
            return None
        session = PushSession(key, archive, recorder, conn, self.settings.silence_timeout_s, self._ended)
        self._live[key.key_id] = session
        # Another replica took a lease over (this one stalled past it): the publish ends here.
        self.leases.guard(stream, session.end_by_us)
        self.leases.guard(archive_lease(archive.archive_id), session.end_by_us)
        LIVE_STREAMS.labels(source="rtmp").inc()
        return session

    async def _archive_for(self, key: StreamKey) -> Archive | None:
        """The archive the key's publish records into, its lease taken: the one still recording (a publisher
        coming back, here or from a replica that died), else a new one. None if another replica holds it."""
        archive = self.store.recording_archive_for(key.key_id)
        if archive is not None and archive.stop_requested_at is None:
            if not await self.leases.take_waiting(archive_lease(archive.archive_id)):
                log.warning("archive %s: held by another replica; refusing the publish", archive.archive_id)
                return None
            found = self.store.archive(archive.archive_id)
            if found is not None and found.state == "recording":
                log.info("archive %s: publisher is back, continuing the archive", archive.archive_id)
                return found
            self.leases.release(archive_lease(archive.archive_id))  # finalized meanwhile: a new archive
        archive = self.store.create_archive(
            "rtmp", key.key_id, key.channel, key.title, key.archive_channels, key.highlight_channels, ward=key.ward
        )
        self.leases.take(archive_lease(archive.archive_id))  # new: no one else knows it yet
        log.info("archive %s: new RTMP archive for stream key %s", archive.archive_id, key.key_id)
        return archive

    async def _ended(self, session: PushSession, finished: bool) -> None:
        self._live.pop(session.key.key_id, None)
        LIVE_STREAMS.labels(source="rtmp").dec()
        await session.recorder.finish()
        archive_id = session.archive.archive_id
        # Lapsed from now: the silence timeout counts from here, and the publisher may come back on any replica.
        self.leases.release(archive_lease(archive_id))
        self.leases.release(stream_lease(session.key.key_id), forget=True)
        if finished:
            log.info("archive %s: stream ended", archive_id)
            self.finalizer.schedule(archive_id)
        else:
            log.info(
                "archive %s: publisher dropped; waiting %.0f s for it", archive_id, self.settings.silence_timeout_s
            )

    def check_requests(self) -> None:
        """End the publishes whose key was revoked, or whose archive was asked to stop, through any replica."""
        for session in list(self._live.values()):
            key = self.store.stream_key(session.key.key_id)
            archive = self.store.archive(session.archive.archive_id)
            if (key is None or key.revoked_at is not None) or (archive is None or archive.stop_requested_at):
                log.info("archive %s: stop asked (a stop or a revoked key)", session.archive.archive_id)
                session.end_by_us()

    def revoke_key(self, key_id: str) -> bool:
        revoked = self.store.revoke_stream_key(key_id)
        session = self._live.get(key_id)
        if session is not None:
            # A revoked key stops publishing now; what was recorded is archived as usual.
            session.end_by_us()
        return revoked

    def end_archive(self, archive_id: str) -> bool:
        """End the publish recording into this archive, if one is; the archive is then finalized."""
        for session in self._live.values():
            if session.archive.archive_id == archive_id:
                session.end_by_us()
                return True
        return False
