"""The WebSocket transport: ``GET <mount>/websocket`` on aiohttp.

One reader per connection: the handler task, which feeds frames to the session in order.
Writing never awaits. Without compression (the default) frames go to the connection's
transport, their WebSocket framing computed once per :class:`Frame` — so a broadcast is
framed once for all its subscribers — and what one loop iteration produced for a connection
leaves in one write; the transport's buffer is the connection's outbound queue, bounded by
``max_outbound_bytes``: a client that stops reading is dropped instead of stalling anyone.
With compression, frames go through a bounded queue to a writer task that uses aiohttp's
(compressing) writer.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import struct
from collections.abc import Callable
from typing import Any

from aiohttp import WebSocketError, WSCloseCode, WSMsgType, web

from ..channel_server import Session
from ..endpoint import Endpoint
from ..errors import ProtocolError
from ..inbound import InboundLimits
from ..message import Frame
from ..options import SocketOptions
from ..socket import Socket
from ..telemetry import ClientDropped, LimitHit, Telemetry
from .handshake import AUTH_TOKEN_PREFIX, Handshake, Refused, decode_auth_token, query_params

log = logging.getLogger("phxpy.websocket")

_MAX_CLOSE_REASON = 123  # a close frame carries at most 125 bytes, 2 of them the code


def websocket_frame(frame: Frame) -> bytes:
    """The unmasked server-to-client WebSocket frame for ``frame``, cached on it."""
    wire = frame.wire
    if wire is None:
        data = frame.data
        opcode = 0x82 if frame.binary else 0x81  # FIN + binary / text
        size = len(data)
        if size < 126:
            header = bytes((opcode, size))
        elif size < 65536:
            header = struct.pack("!BBH", opcode, 126, size)
        else:
            header = struct.pack("!BBQ", opcode, 127, size)
        wire = frame.wire = header + data
    return wire


def _close_reason(reason: str) -> bytes:
    return reason.encode("utf-8")[:_MAX_CLOSE_REASON].decode("utf-8", "ignore").encode("utf-8")


class _WebSocket(web.WebSocketResponse):
    """aiohttp's WebSocket response, telling the direct sink when it starts closing.

    Every Close frame aiohttp writes goes through :meth:`close` (ours, the peer's answered,
    an error's), so the sink stops writing before it. The sink could ask ``ws.closed`` on
    every frame instead, but that lookup costs more than the rest of a broadcast's delivery
    to a subscriber, bar the write itself."""

    on_close: Callable[[], None] | None = None

    async def close(self, **kwargs: Any) -> bool:
        if self.on_close is not None:
            self.on_close()
        return await super().close(**kwargs)


class _ClosingSink:
    """Closing from any task, once."""

    __slots__ = ("_closer", "telemetry", "ws")

    def __init__(self, ws: web.WebSocketResponse, telemetry: Telemetry) -> None:
        self.ws = ws
        self.telemetry = telemetry
        self._closer: asyncio.Task[bool] | None = None

    def dropped(self, queued: int) -> None:
        log.warning("client not reading (%d bytes queued): disconnected", queued)
        if self.telemetry.wants(ClientDropped):
            self.telemetry.emit(ClientDropped("websocket", queued))

    def close(self, code: int, reason: str) -> None:
        if self._closer is None and not self.ws.closed:
            self._closer = asyncio.get_running_loop().create_task(
                self.ws.close(code=code, message=_close_reason(reason))
            )


class _Flusher:
    """The direct sinks that have frames waiting, written out once per loop iteration.

    Whatever one iteration produces for a connection — a reply and the broadcast that
    follows it, a whole batch of a busy room's messages — leaves in one write, one system
    call, instead of one per frame; the frames wait at most until the loop's next turn."""

    __slots__ = ("_due", "_waiting")

    def __init__(self) -> None:
        self._waiting: list[DirectSink] = []
        self._due = False

    def add(self, sink: DirectSink) -> None:
        self._waiting.append(sink)
        if not self._due:
            self._due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._due = False
        waiting, self._waiting = self._waiting, []
        for sink in waiting:
            sink.flush()


class DirectSink(_ClosingSink):
    """Writes frames to the transport (at the end of the loop iteration, all of them in one
    write); the transport's buffer is the bounded outbound queue."""

    __slots__ = ("_flusher", "_pending", "max_buffer", "open", "transport")

    def __init__(
        self,
        ws: _WebSocket,
        transport: asyncio.Transport,
        max_buffer: int,
        telemetry: Telemetry,
        flusher: _Flusher | None = None,
    ) -> None:
        super().__init__(ws, telemetry)
        self.transport = transport
        self.max_buffer = max_buffer
        self.open = True
        """False from the moment the WebSocket starts closing (see :class:`_WebSocket`)."""
        self._flusher = flusher if flusher is not None else _Flusher()
        self._pending: list[bytes] | None = None
        ws.on_close = self._closing

    def _closing(self) -> None:
        # Frames sent before the close was asked for go out first.
        self.flush()
        self.open = False

    def send(self, frame: Frame) -> None:
        # Nothing may follow a Close frame (RFC 6455 5.5.1), and aiohttp keeps the transport
        # open after its Close until the peer answers: the transport alone cannot tell.
        if not self.open:
            return
        pending = self._pending
        if pending is None:
            self._pending = [websocket_frame(frame)]
            self._flusher.add(self)
        else:
            pending.append(websocket_frame(frame))

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        transport = self.transport
        if not pending or not self.open or transport.is_closing():
            return
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        if transport.get_write_buffer_size() > self.max_buffer:
            self.dropped(transport.get_write_buffer_size())
            transport.abort()


class QueuedSink(_ClosingSink):
    """For compressed connections: a bounded queue drained by one writer task."""

    __slots__ = ("_queue", "_queued_bytes", "_writer", "max_bytes")

    def __init__(self, ws: web.WebSocketResponse, max_bytes: int, telemetry: Telemetry) -> None:
        super().__init__(ws, telemetry)
        self.max_bytes = max_bytes
        self._queue: collections.deque[Frame] = collections.deque()
        self._queued_bytes = 0
        self._writer: asyncio.Task[None] | None = None

    def send(self, frame: Frame) -> None:
        if self.ws.closed:
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame.data)
        if self._queued_bytes > self.max_bytes:
            self.dropped(self._queued_bytes)
            self._queue.clear()
            self.close(1008, "outbound queue overflow")
            return
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue and not self.ws.closed:
                frame = self._queue.popleft()
                self._queued_bytes -= len(frame.data)
                if frame.binary:
                    await self.ws.send_bytes(frame.data)
                else:
                    await self.ws.send_str(frame.text())
        except (ConnectionError, RuntimeError):
            self._queue.clear()
        finally:
            self._writer = None


class WebSocketTransport:
    """The aiohttp handler for ``<mount>/websocket``."""

    def __init__(self, endpoint: Endpoint, socket: type[Socket], options: SocketOptions) -> None:
        self.endpoint = endpoint
        self.options = options
        self.handshake = Handshake(endpoint, socket, options)
        self._flusher = _Flusher()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return web.Response(status=400)
        try:
            ws, accepted_session = await self._upgrade(request)
        except Refused as refused:
            log.info("websocket refused (%d): %s", refused.status, refused)
            return web.Response(status=refused.status)
        await self._serve(ws, accepted_session)
        return ws

    async def _upgrade(self, request: web.Request) -> tuple[web.WebSocketResponse, Session]:
        options = self.options
        params = query_params(request)
        self.handshake.check_origin(request)
        offered = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        auth_token = None
        if options.auth_token:
            tokens = [p for p in offered if p.startswith(AUTH_TOKEN_PREFIX)]
            if tokens:
                auth_token = decode_auth_token(tokens[0][len(AUTH_TOKEN_PREFIX) :])
                offered = [p for p in offered if not p.startswith(AUTH_TOKEN_PREFIX)]
        selected = "phoenix" if "phoenix" in offered else None
        if offered and selected is None:
            raise Refused(403, f"no acceptable sub-protocol in {offered!r}")
        ws = _WebSocket(
            protocols=(selected,) if selected else (),
            max_msg_size=options.max_frame_size,
            compress=options.compress,
            # Pings are answered here, so that they also count as activity for the idle
            # timeout, as in Phoenix.
            autoping=False,
        )
        if not ws.can_prepare(request):
            raise Refused(400, "not a WebSocket upgrade")
        accepted = await self.handshake.connect(request, "websocket", params, auth_token)
        await ws.prepare(request)
        transport = request.transport
        telemetry = self.endpoint.telemetry
        if ws.compress or transport is None:
            sink: DirectSink | QueuedSink = QueuedSink(ws, options.max_outbound_bytes, telemetry)
        else:
            sink = DirectSink(ws, transport, options.max_outbound_bytes, telemetry, self._flusher)
        session = Session(
            self.endpoint,
            accepted.socket,
            accepted.serializer,
            sink,
            idle_timeout=options.idle_timeout,
            idle_close_code=options.idle_close_code,
            max_channels=options.max_channels,
            inbound=InboundLimits.for_connection(options, self.endpoint.clock.now()),
        )
        return ws, session

    async def _serve(self, ws: web.WebSocketResponse, session: Session) -> None:
        session.start()
        try:
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.TEXT:
                    await session.receive_text(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await session.receive_binary(msg.data)
                elif msg.type is WSMsgType.PING:
                    session.touch()
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.PONG:
                    session.touch()
                else:
                    # Closed, closing or a WebSocket-level error (aiohttp answered it).
                    error = msg.data
                    if (
                        isinstance(error, WebSocketError)
                        and error.code == WSCloseCode.MESSAGE_TOO_BIG
                    ):
                        self._frame_too_big()
                    break
        except ProtocolError as exc:
            log.info("closing websocket: %s", exc)
            await ws.close(code=exc.close_code, message=_close_reason(str(exc)))
        except Exception:
            # A bug, not the client's fault: never leak details, close with "internal error".
            log.exception("websocket session failed")
            await ws.close(code=1011, message=b"internal error")
        finally:
            await session.connection_lost()

    def _frame_too_big(self) -> None:
        telemetry = self.endpoint.telemetry
        if telemetry.wants(LimitHit):
            telemetry.emit(LimitHit("max_frame_size", "websocket"))
