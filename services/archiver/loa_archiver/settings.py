from __future__ import annotations

from pathlib import Path

from loa_core.db import database_url
from loa_core.settings import CommonSettings


def split_csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


class ArchiverSettings(CommonSettings):
    """Read from LOA_* like every service; lists are comma-separated strings (like api_token_hashes)."""

    http_port: int = 8006
    # The RTMP listener the media team's OBS or phone app publishes to: rtmp://<host>:<port>/<app>/<stream key>.
    rtmp_host: str = "127.0.0.1"
    rtmp_port: int = 1935
    rtmp_app: str = "live"
    # What the API tells the media team to use; empty means rtmp://<rtmp_host>:<rtmp_port>/<rtmp_app>.
    rtmp_public_url: str = ""
    # RTMPS (RTMP inside TLS), so stream keys do not cross the network in clear: on when a port is set (e.g. 443
    # or 1936) with a PEM certificate chain and its key.
    rtmps_port: int = 0
    rtmps_cert_file: Path | None = None
    rtmps_key_file: Path | None = None
    # Recording segment length: a crash loses at most the segment being written.
    segment_s: float = 4.0
    # Live chunks: every closed run of segments at least this long is announced on live.chunks while the live goes
    # on, so transcode encodes it before the end; what is left at the end is at most this much (0: no live chunks;
    # transcode then encodes the whole archive after the end).
    live_chunk_s: float = 12.0
    # End of stream when no media arrived for this long (also how long a dropped publisher has to reconnect).
    silence_timeout_s: float = 30.0
    # HLS pull: host names the archiver may fetch from ("example.com" or "*.example.com").
    hls_allowed_hosts: str = ""
    # Hosts or IP literals the operator explicitly allows even though they are loopback/private/link-local.
    hls_allowed_private: str = ""
    # HLS pull: the largest playlist and segment fetched, and the timeout of each request.
    hls_max_playlist_bytes: int = 2 * 1024 * 1024
    hls_max_segment_bytes: int = 200 * 1024 * 1024
    hls_timeout_s: float = 15.0
    # Highlight announced for TikTok when no range was marked during the live: the first N seconds (0 = none).
    highlight_first_s: float = 60.0
    # How often scheduled HLS pulls are checked for their start time.
    scheduler_interval_s: float = 1.0
    # The ward's time zone: an archive's event_date is the day the live started there.
    timezone: str = "Asia/Ho_Chi_Minh"
    # Replicas (one database and one object storage shared): how long what a replica does (a publish, a pull, a
    # finalize) stays its own without its renewal (every third of it). A replica that dies is taken over this long
    # after; a publisher reconnecting to another replica waits up to this long to be let in.
    lease_s: float = 10.0
    # First wait before finalizing again after a failure (Kafka or storage down); doubles up to 5 minutes.
    finalize_retry_s: float = 5.0

    def store_location(self) -> str:
        """LOA_DATABASE_URL, else <data_dir>/archiver.sqlite3."""
        return database_url(self, "archiver.sqlite3")

    def work_root(self) -> Path:
        """The archiver's local working folder (segments being recorded, archives being assembled)."""
        return self.data_dir / "archiver"

    def recording_dir(self, archive_id: str) -> Path:
        """Where an archive's recorder writes segments until they are stored (and where a sweep finds them)."""
        return self.work_root() / "work" / archive_id

    def allowed_hosts(self) -> tuple[str, ...]:
        return split_csv(self.hls_allowed_hosts)

    def allowed_private(self) -> tuple[str, ...]:
        return split_csv(self.hls_allowed_private)

    def rtmps_url(self) -> str | None:
        if not self.rtmps_port:
            return None
        host = self.rtmp_public_url.split("://", 1)[-1].split("/", 1)[0].split(":")[0] or self.rtmp_host
        return f"rtmps://{host}:{self.rtmps_port}/{self.rtmp_app}"

    def rtmp_url(self) -> str:
        return self.rtmp_public_url or f"rtmp://{self.rtmp_host}:{self.rtmp_port}/{self.rtmp_app}"
