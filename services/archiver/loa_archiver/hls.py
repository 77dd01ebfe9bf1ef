"""HLS pull: read the (live) playlist ourselves and store each media segment as it appears.

HLS media segments are already closed, self-contained pieces of the stream, so each one is stored as it is
(a stream copy by construction) and recorded with its media sequence number. A puller killed and restarted
goes on after the last stored sequence number, so nothing the playlist still lists is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin


class PlaylistError(ValueError):
    """The playlist is not one the archiver can record (not HLS, encrypted, byte ranges...)."""


@dataclass(frozen=True)
class MediaSegment:
    seq: int
    uri: str  # absolute
    duration_s: float
    init_uri: str | None  # EXT-X-MAP (fragmented MP4): prepended so every stored segment stands alone


@dataclass(frozen=True)
class MediaPlaylist:
    target_duration_s: float
    segments: tuple[MediaSegment, ...]
    ended: bool


@dataclass(frozen=True)
class MasterPlaylist:
    variant_uri: str  # the highest-bandwidth variant, absolute


_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def _attrs(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR.findall(text)}


def parse_playlist(text: str, base_url: str) -> MediaPlaylist | MasterPlaylist:
    """Pure parser for what the archiver needs of RFC 8216; refuses what it cannot record faithfully."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#EXTM3U"):
        raise PlaylistError("not an HLS playlist (no #EXTM3U)")
    best: tuple[int, str] | None = None
    segments: list[MediaSegment] = []
    seq = 0
    target = 0.0
    ended = False
    duration: float | None = None
    init_uri: str | None = None
    pending_variant: int | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending_variant = int(_attrs(line.partition(":")[2]).get("BANDWIDTH", "0") or 0)
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            seq = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.partition(":")[2])
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].split(",")[0])
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
        elif line.startswith("#EXT-X-KEY:"):
            if _attrs(line.partition(":")[2]).get("METHOD", "NONE") != "NONE":
                raise PlaylistError("encrypted HLS (EXT-X-KEY) is not supported")
        elif line.startswith("#EXT-X-BYTERANGE"):
            raise PlaylistError("byte-range HLS segments are not supported")
        elif line.startswith("#EXT-X-MAP:"):
            uri = _attrs(line.partition(":")[2]).get("URI")
            if not uri:
                raise PlaylistError("EXT-X-MAP without a URI")
            init_uri = urljoin(base_url, uri)
        elif line.startswith("#"):
            continue
        elif pending_variant is not None:
            if best is None or pending_variant > best[0]:
                best = (pending_variant, urljoin(base_url, line))
            pending_variant = None
        else:
            if duration is None:
                raise PlaylistError(f"segment {line!r} has no #EXTINF")
            segments.append(MediaSegment(seq, urljoin(base_url, line), duration, init_uri))
            seq += 1
            duration = None
    if best is not None:
        return MasterPlaylist(best[1])
    return MediaPlaylist(target or 2.0, tuple(segments), ended)
