"""A minimal WebSocket client on a bare :class:`asyncio.Protocol`, for thousands of sockets.

aiohttp's client costs a task, a reader and a queue per connection; with 5,000 of them the
load generator, not the server, would set the pace. This one is a protocol object and a
buffer: it writes the upgrade request, checks the 101 answer, then splits the incoming byte
stream into frames (server frames are unmasked, so that is a few byte reads) and hands each
message to :meth:`WebSocketClient.on_message`, with one clock reading per
``data_received`` call. Outgoing frames are masked, as RFC 6455 requires of clients.

Only what the benchmark needs: no fragmentation, no extensions. Anything unexpected is
counted as a protocol error and the connection is dropped.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final, masked client frame."""
    size = len(payload)
    first = 0x80 | opcode
    if size < 126:
        header = struct.pack("!BB", first, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, size)
    key = os.urandom(4)
    if not size:
        return header + key
    # XOR as one big integer: far faster in Python than a per-byte loop.
    stream = (key * (size // 4 + 1))[:size]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")
    return header + key + masked.to_bytes(size, "little")


def _accept_for(key: str) -> bytes:
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest())


class WebSocketClient(asyncio.Protocol):
    """One client connection. Subclasses implement :meth:`on_open` and :meth:`on_message`."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.transport: asyncio.Transport | None = None
        self._key = base64.b64encode(os.urandom(16)).decode("ascii")
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode("ascii")
        self._buffer = bytearray()
        self.upgraded = False
        self.closed = False
        self.protocol_errors = 0

    # ----------------------------------------------------------- to override

    def on_open(self) -> None:
        """The upgrade succeeded."""

    def on_message(self, data: bytes, binary: bool, now_ns: int) -> None:
        """One complete message; ``now_ns`` is ``time.monotonic_ns()`` at its arrival."""

    def on_close(self, reason: str) -> None:
        """The connection is gone (or never opened); ``reason`` says why."""

    # -------------------------------------------------------------- sending

    def send_text(self, text: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.closed:
            transport.write(client_frame(text, OP_TEXT))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close at once (TCP FIN; the server sees the connection drop)."""
        if self.transport is not None:
            self.transport.close()

    # ---------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.on_close(f"connection lost: {exc!r}" if exc else "connection closed")

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self.upgraded and not self._read_upgrade():
            return
        self._read_frames(time.monotonic_ns())

    def _read_upgrade(self) -> bool:
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > 16384:
                self._fail("upgrade response too large")
            return False
        head = bytes(buffer[:end]).decode("latin-1")
        del buffer[: end + 4]
        status_line, *header_lines = head.split("\r\n")
        if status_line.split(" ", 2)[1:2] != ["101"]:
            self._fail(f"upgrade refused: {status_line}")
            return False
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("sec-websocket-accept", "").encode("ascii") != _accept_for(self._key):
            self._fail("bad Sec-WebSocket-Accept")
            return False
        self.upgraded = True
        self.on_open()
        return True

    def _read_frames(self, now_ns: int) -> None:
        buffer = self._buffer
        end = len(buffer)
        pos = 0
        while end - pos >= 2:
            first = buffer[pos]
            size = buffer[pos + 1]
            if size & 0x80 or not first & 0x80:
                self._fail("masked or fragmented server frame")
                return
            header = 2
            if size == 126:
                if end - pos < 4:
                    break
                size = (buffer[pos + 2] << 8) | buffer[pos + 3]
                header = 4
            elif size == 127:
                if end - pos < 10:
                    break
                size = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                header = 10
            start = pos + header
            if end - start < size:
                break
            payload = bytes(buffer[start : start + size])
            pos = start + size
            opcode = first & 0x0F
            if opcode in (OP_TEXT, OP_BINARY):
                self.on_message(payload, opcode == OP_BINARY, now_ns)
            elif opcode == OP_PING:
                if self.transport is not None:
                    self.transport.write(client_frame(payload, OP_PONG))
            elif opcode == OP_CLOSE:
                if self.transport is not None and not self.closed:
                    self.transport.write(client_frame(payload[:2], OP_CLOSE))
                    self.transport.close()
                break
        if pos:
            del buffer[:pos]

    def _fail(self, reason: str) -> None:
        self.protocol_errors += 1
        self.closed = True
        self.on_close(reason)
        if self.transport is not None:
            self.transport.abort()
