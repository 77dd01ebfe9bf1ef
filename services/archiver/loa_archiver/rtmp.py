"""A small RTMP ingest server: just enough of the protocol for OBS, phone apps and ffmpeg to publish.

Why our own: ffmpeg's RTMP listener (`-listen 1`) accepts any stream key (it only logs a warning for an
unexpected one), so it cannot refuse unknown keys; the Python RTMP servers on PyPI are unmaintained. This
module does the plain handshake, the chunk stream, AMF0 commands (connect, createStream, publish...) and hands
the audio, video and metadata messages of an authorized publish to a `Publication` as FLV tags. Playback is
not served: the archiver only records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

log = logging.getLogger(__name__)

HANDSHAKE_SIZE = 1536
DEFAULT_CHUNK_SIZE = 128
OUT_CHUNK_SIZE = 4096
WINDOW_ACK_SIZE = 2_500_000
MAX_MESSAGE_SIZE = 16 * 1024 * 1024  # one video frame above this is not a livestream we want to buffer
# Before a publish is authorized, a peer only sends small commands: these bound what an unknown peer can make
# us buffer or how long it can hold a connection.
MAX_UNAUTHORIZED_MESSAGE = 64 * 1024
MAX_CHUNK_STREAMS = 64
PUBLISH_DEADLINE_S = 30.0
# How much of a publisher's stream may wait in our memory rather than in the kernel's socket buffer. A publisher
# closes its socket as soon as it has sent everything; if anything we sent is still unread on its side, its
# kernel answers with a reset and ours then drops whatever it had not handed to us yet. Reading eagerly into
# our own buffer keeps that tail safe when recording lags behind (a loaded machine, a burst after a stall).
RECEIVE_BUFFER = 32 * 1024 * 1024

MSG_SET_CHUNK_SIZE = 1
MSG_ABORT = 2
MSG_ACK = 3
MSG_USER_CONTROL = 4
MSG_WINDOW_ACK_SIZE = 5
MSG_SET_PEER_BANDWIDTH = 6
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_DATA_AMF3 = 15
MSG_COMMAND_AMF3 = 17
MSG_DATA_AMF0 = 18
MSG_COMMAND_AMF0 = 20


class RtmpError(Exception):
    """The peer broke the protocol; the connection is closed."""


class PublishRefused(RtmpError):
    """The publish was refused (the authorize callback said why); the connection is closed."""


# ---------------------------------------------------------------- AMF0


class _Undefined:
    pass


UNDEFINED = _Undefined()


def amf0_encode(value: Any) -> bytes:
    if value is None:
        return b"\x05"
    if isinstance(value, _Undefined):
        return b"\x06"
    if isinstance(value, bool):
        return b"\x01" + (b"\x01" if value else b"\x00")
    if isinstance(value, int | float):
        return b"\x00" + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) > 0xFFFF:
            return b"\x0c" + struct.pack(">I", len(raw)) + raw
        return b"\x02" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, dict):
        out = bytearray(b"\x03")
        for key, item in value.items():
            name = str(key).encode("utf-8")
            out += struct.pack(">H", len(name)) + name + amf0_encode(item)
        return bytes(out + b"\x00\x00\x09")
    raise TypeError(f"cannot AMF0-encode {type(value).__name__}")


def amf0_decode_all(data: bytes) -> list[Any]:
    values: list[Any] = []
    pos = 0
    while pos < len(data):
        value, pos = _amf0_decode(data, pos)
        values.append(value)
    return values


def _amf0_decode(data: bytes, pos: int) -> tuple[Any, int]:
    try:
        marker = data[pos]
        pos += 1
        if marker == 0x00:
            return struct.unpack_from(">d", data, pos)[0], pos + 8
        if marker == 0x01:
            return data[pos] != 0, pos + 1
        if marker == 0x02:
            (size,) = struct.unpack_from(">H", data, pos)
            return data[pos + 2 : pos + 2 + size].decode("utf-8", errors="replace"), pos + 2 + size
        if marker == 0x0C:
            (size,) = struct.unpack_from(">I", data, pos)
            return data[pos + 4 : pos + 4 + size].decode("utf-8", errors="replace"), pos + 4 + size
        if marker in (0x03, 0x08):  # object, ECMA array (which has a count first)
            if marker == 0x08:
                pos += 4
            obj: dict[str, Any] = {}
            while True:
                (size,) = struct.unpack_from(">H", data, pos)
                name = data[pos + 2 : pos + 2 + size].decode("utf-8", errors="replace")
                pos += 2 + size
                if size == 0 and data[pos] == 0x09:
                    return obj, pos + 1
                obj[name], pos = _amf0_decode(data, pos)
        if marker == 0x0A:  # strict array
            (count,) = struct.unpack_from(">I", data, pos)
            pos += 4
            items = []
            for _ in range(count):
                item, pos = _amf0_decode(data, pos)
                items.append(item)
            return items, pos
        if marker == 0x0B:  # date: ms + timezone
            return struct.unpack_from(">d", data, pos)[0], pos + 10
        if marker in (0x05, 0x06):
            return None, pos
    except (IndexError, struct.error) as exc:
        raise RtmpError(f"truncated AMF0 value: {exc}") from exc
    raise RtmpError(f"unsupported AMF0 marker 0x{marker:02x}")


# ---------------------------------------------------------------- FLV


FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x00"  # audio+video flags, then PreviousTagSize0
_SET_DATA_FRAME = amf0_encode("@setDataFrame")


def flv_tag(tag_type: int, timestamp_ms: int, payload: bytes) -> bytes:
    """One FLV tag and its trailing PreviousTagSize (ffmpeg reads the published stream as FLV on stdin)."""
    if tag_type == MSG_DATA_AMF0 and payload.startswith(_SET_DATA_FRAME):
        # Publishers wrap metadata as @setDataFrame("onMetaData", ...); in a file it is onMetaData(...).
        payload = payload[len(_SET_DATA_FRAME) :]
    ts = timestamp_ms & 0xFFFFFFFF
    header = struct.pack(">B", tag_type) + len(payload).to_bytes(3, "big")
    header += (ts & 0xFFFFFF).to_bytes(3, "big") + bytes([ts >> 24]) + b"\x00\x00\x00"
    return header + payload + struct.pack(">I", 11 + len(payload))


# ---------------------------------------------------------------- the server


class Publication(Protocol):
    """Where an authorized publish goes. `media` receives FLV tags; `close` is called exactly once."""

    async def media(self, flv: bytes) -> None: ...

    async def close(self, clean: bool) -> None: ...


# (app, stream key) -> a Publication, or None to refuse. The callback owns key checks and bookkeeping.
Authorize = Callable[[str, str, "RtmpConnection"], Awaitable[Publication | None]]


@dataclass
class _ChunkStream:
    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    buffer: bytearray = field(default_factory=bytearray)


class _Link(asyncio.Protocol):
    """The socket side of one connection: reads eagerly into our buffer, and keeps what it read.

    asyncio's StreamReader raises a connection reset even when the bytes before it are buffered; a publisher
    that closes right after its last packet (with one of our acks unread, so its kernel sends a reset) would
    then lose the end of its stream. Here the buffered bytes are handed out first, and only then the end.
    """

    def __init__(self, on_connect: Callable[[_Link], None], limit: int = RECEIVE_BUFFER) -> None:
        self._on_connect = on_connect
        self._limit = limit
        self._buffer = bytearray()
        self._ended = False
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._closed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not an isinstance check: uvloop's TLS transport has the full Transport API without subclassing
        # asyncio.Transport, and uvicorn runs the archiver on uvloop whenever uvloop is installed.
        self.transport = cast(asyncio.Transport, transport)
        self._on_connect(self)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > self._limit and not self._paused and self.transport is not None:
            self.transport.pause_reading()  # backpressure: the publisher's TCP window closes
            self._paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._ended = True
        self._wake()
        # Plain TCP: keep the transport open, we may still answer (and then close it ourselves). TLS has no
        # half-close, so there the transport closes; what was received stays in our buffer either way.
        return self.transport is not None and self.transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        self._wake()
        if not self._closed.done():
            self._closed.set_result(None)

    async def readexactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if self._ended:
                raise asyncio.IncompleteReadError(bytes(self._buffer), size)
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        if self._paused and len(self._buffer) < self._limit // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._ended = True
        self._wake()

    async def wait_closed(self) -> None:
        await self._closed

    def peer(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"


class RtmpConnection:
    def __init__(self, link: _Link, authorize: Authorize) -> None:
        self._link = link
        self._authorize = authorize
        self._in_chunk_size = DEFAULT_CHUNK_SIZE
        self._streams: dict[int, _ChunkStream] = {}
        self._received = 0
        self._acked = 0
        self._peer_window = WINDOW_ACK_SIZE
        self.app = ""
        self.publication: Publication | None = None
        self._closed_clean = False
        self.peer = link.peer()

    def close(self) -> None:
        """Drop the connection (a revoked key, silence): the read loop ends and the publication closes."""
        self._link.close()

    async def _read(self, size: int) -> bytes:
        data = await self._link.readexactly(size)
        self._received += size
        return data

    def _expire_if_unauthorized(self) -> None:
        if self.publication is None and not self._closed_clean:
            log.warning("rtmp %s: no authorized publish within %.0f s; closing", self.peer, PUBLISH_DEADLINE_S)
            self._link.close()

    async def run(self) -> None:
        deadline = asyncio.get_running_loop().call_later(PUBLISH_DEADLINE_S, self._expire_if_unauthorized)
        try:
            await self._handshake()
            while True:
                await self._read_chunk()
                if self._received - self._acked >= self._peer_window:
                    self._acked = self._received
                    await self._send(2, MSG_ACK, 0, 0, struct.pack(">I", self._received & 0xFFFFFFFF))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass  # the publisher went away
        except PublishRefused:
            pass  # already logged with the reason by the authorize callback
        except RtmpError as exc:
            log.warning("rtmp %s: protocol error: %s", self.peer, exc)
        finally:
            deadline.cancel()
            publication, self.publication = self.publication, None
            if publication is not None:
                await publication.close(self._closed_clean)
            self._link.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._link.wait_closed(), 5)

    async def _handshake(self) -> None:
        c0 = await self._read(1)
        if c0[0] != 3:
            raise RtmpError(f"unsupported RTMP version {c0[0]}")
        c1 = await self._read(HANDSHAKE_SIZE)
        # S1 with a zero version field is the plain (non-digest) handshake, which every client accepts for
        # publishing. S2 echoes C1.
        s1 = struct.pack(">II", 0, 0) + os.urandom(HANDSHAKE_SIZE - 8)
        self._link.write(b"\x03" + s1 + c1)
        await self._read(HANDSHAKE_SIZE)  # C2

    async def _read_chunk(self) -> None:
        first = (await self._read(1))[0]
        fmt, csid = first >> 6, first & 0x3F
        if csid == 0:
            csid = 64 + (await self._read(1))[0]
        elif csid == 1:
            extra = await self._read(2)
            csid = 64 + extra[0] + extra[1] * 256
        if csid not in self._streams and len(self._streams) >= MAX_CHUNK_STREAMS:
            raise RtmpError("too many chunk streams")
        cs = self._streams.setdefault(csid, _ChunkStream())
        if fmt == 0:
            header = await self._read(11)
            ts = int.from_bytes(header[0:3], "big")
            cs.length = int.from_bytes(header[3:6], "big")
            cs.type_id = header[6]
            cs.stream_id = int.from_bytes(header[7:11], "little")
            cs.extended = ts == 0xFFFFFF
            if cs.extended:
                ts = int.from_bytes(await self._read(4), "big")
            # A type-3 chunk after a type-0 one starts a message with the type-0 timestamp as its delta.
            cs.timestamp, cs.delta = ts, ts
            cs.buffer.clear()
        elif fmt in (1, 2):
            header = await self._read(7 if fmt == 1 else 3)
            delta = int.from_bytes(header[0:3], "big")
            if fmt == 1:
                cs.length = int.from_bytes(header[3:6], "big")
                cs.type_id = header[6]
            cs.extended = delta == 0xFFFFFF
            if cs.extended:
                delta = int.from_bytes(await self._read(4), "big")
            cs.delta = delta
            cs.timestamp += delta
            cs.buffer.clear()
        else:
            if cs.extended:
                await self._read(4)
            if not cs.buffer:
                cs.timestamp += cs.delta  # a new message on this chunk stream with the same header
        if cs.length > (MAX_MESSAGE_SIZE if self.publication is not None else MAX_UNAUTHORIZED_MESSAGE):
            raise RtmpError(f"message of {cs.length} bytes is too large")
        want = min(self._in_chunk_size, cs.length - len(cs.buffer))
        if want > 0:
            cs.buffer += await self._read(want)
        if len(cs.buffer) >= cs.length:
            payload = bytes(cs.buffer)
            cs.buffer.clear()
            await self._on_message(cs.type_id, cs.stream_id, cs.timestamp, payload)

    async def _on_message(self, type_id: int, stream_id: int, timestamp: int, payload: bytes) -> None:
        if type_id == MSG_SET_CHUNK_SIZE:
            size = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            if not 1 <= size <= MAX_MESSAGE_SIZE:
                raise RtmpError(f"bad chunk size {size}")
            self._in_chunk_size = size
        elif type_id == MSG_ABORT:
            (csid,) = struct.unpack(">I", payload[:4])
            if csid in self._streams:
                self._streams[csid].buffer.clear()
        elif type_id == MSG_WINDOW_ACK_SIZE:
            self._peer_window = max(1, struct.unpack(">I", payload[:4])[0])
        elif type_id in (MSG_AUDIO, MSG_VIDEO, MSG_DATA_AMF0):
            if self.publication is not None:
                await self.publication.media(flv_tag(type_id, timestamp, payload))
        elif type_id in (MSG_COMMAND_AMF0, MSG_COMMAND_AMF3):
            await self._on_command(amf0_decode_all(payload[1:] if type_id == MSG_COMMAND_AMF3 else payload))
        # Acks, user control, peer bandwidth and AMF3 data need no answer from a recording server.

    async def _on_command(self, values: list[Any]) -> None:
        if len(values) < 2 or not isinstance(values[0], str):
            raise RtmpError("malformed command")
        name, txid, args = values[0], values[1], values[2:]
        if name == "connect":
            command = args[0] if args and isinstance(args[0], dict) else {}
            self.app = str(command.get("app", "")).split("?")[0].strip("/")
            await self._send(2, MSG_WINDOW_ACK_SIZE, 0, 0, struct.pack(">I", WINDOW_ACK_SIZE))
            await self._send(2, MSG_SET_PEER_BANDWIDTH, 0, 0, struct.pack(">IB", WINDOW_ACK_SIZE, 2))
            await self._send(2, MSG_SET_CHUNK_SIZE, 0, 0, struct.pack(">I", OUT_CHUNK_SIZE))
            self._out_chunk_size = OUT_CHUNK_SIZE
            await self._command(
                0,
                "_result",
                txid,
                {"fmsVer": "FMS/3,0,1,123", "capabilities": 31},
                {
                    "level": "status",
                    "code": "NetConnection.Connect.Success",
                    "description": "Connected.",
                    "objectEncoding": 0,
                },
            )
        elif name == "createStream":
            await self._command(0, "_result", txid, None, 1)
        elif name == "publish":
            stream_key = str(args[1]) if len(args) > 1 and args[1] is not None else ""
            # OBS and others may append "?query" to the key; the key itself is what is checked.
            stream_key = stream_key.split("?")[0]
            if self.publication is not None:
                raise RtmpError("a second publish on one connection")
            publication = await self._authorize(self.app, stream_key, self)
            if publication is None:
                await self._command(
                    1,
                    "onStatus",
                    0,
                    None,
                    {"level": "error", "code": "NetStream.Publish.BadName", "description": "Publish refused."},
                )
                raise PublishRefused("publish refused")
            self.publication = publication
            await self._command(
                1,
                "onStatus",
                0,
                None,
                {"level": "status", "code": "NetStream.Publish.Start", "description": "Publishing."},
            )
        elif name in ("FCUnpublish", "deleteStream", "closeStream"):
            # The publisher stopped on purpose: this is an end of stream, not a dropped connection.
            self._closed_clean = True
            publication, self.publication = self.publication, None
            if publication is not None:
                await publication.close(True)
            if isinstance(txid, float) and txid > 0:
                await self._command(0, "_result", txid, None, UNDEFINED)
        elif isinstance(txid, float) and txid > 0:
            # releaseStream, FCPublish and the like: acknowledge so clients waiting for an answer go on.
            await self._command(0, "_result", txid, None, UNDEFINED)

    _out_chunk_size = DEFAULT_CHUNK_SIZE

    async def _command(self, stream_id: int, *values: Any) -> None:
        payload = b"".join(amf0_encode(v) for v in values)
        await self._send(3 if stream_id == 0 else 5, MSG_COMMAND_AMF0, stream_id, 0, payload)

    async def _send(self, csid: int, type_id: int, stream_id: int, timestamp: int, payload: bytes) -> None:
        header = bytes([csid]) + timestamp.to_bytes(3, "big") + len(payload).to_bytes(3, "big")
        header += bytes([type_id]) + stream_id.to_bytes(4, "little")
        out = bytearray(header)
        for start in range(0, len(payload), self._out_chunk_size):
            if start:
                out += bytes([0xC0 | csid])  # type-3 continuation chunk
            out += payload[start : start + self._out_chunk_size]
        # Our messages are small and few; the transport buffers them (no drain needed).
        self._link.write(bytes(out))


class RtmpServer:
    """RTMP, or RTMPS when given a TLS context (the same protocol inside TLS, as OBS and phone apps speak it)."""

    def __init__(self, host: str, port: int, authorize: Authorize, tls: ssl.SSLContext | None = None) -> None:
        self._host = host
        self._port = port
        self._authorize = authorize
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # With TLS, asyncio calls the protocol's connection_made only after the handshake.
        self._server = await loop.create_server(lambda: _Link(self._serve), self._host, self._port, ssl=self._tls)
        scheme = "RTMPS" if self._tls is not None else "RTMP"
        log.info("%s ingest listening on %s:%d", scheme, self._host, self._port)

    def _serve(self, link: _Link) -> None:
        task = asyncio.create_task(RtmpConnection(link, self._authorize).run())
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
