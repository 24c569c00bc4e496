"""One LongPoll session: the LongPoll equivalent of a WebSocket connection.

It drives the same :class:`~phxpy.channel_server.Session` as the WebSocket transport and
is that session's :class:`~phxpy.channel_server.Sink`: frames wait in a bounded buffer until
a poll takes them all. At most one poll waits at a time (a newer poll replaces an older one,
which ends with nothing). POSTed frames are fed to the session one at a time, in order,
under a lock, so two overlapping POSTs never interleave.

Every wait uses the endpoint's clock, so tests drive the poll window and the expiry with a
fake clock.

States::

    OPEN --end (disconnect, shutdown, overflow, bad frame, expiry)--> CLOSED

As in Phoenix, an ended session is simply gone: frames it had not delivered are lost, a
waiting poll answers 204 and the next one gets a new session (410). phoenix.js 1.8.2+ then
reconnects and rejoins every channel; 1.7 and 1.8.0-1.8.1 adopt the new session without
rejoining — a known limitation of those clients, which Phoenix shares.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from collections.abc import Callable, Sequence

from ..channel_server import Session
from ..endpoint import Endpoint
from ..errors import FrameTooLarge, ProtocolError
from ..inbound import InboundLimits
from ..message import Frame, reply
from ..options import SocketOptions
from ..serializer import Serializer
from ..socket import Socket
from ..telemetry import ClientDropped, LongPollEnded, LongPollStarted

log = logging.getLogger("phxpy.longpoll")

EXPIRY_FACTOR = 1.5
"""A session ends when no poll has started for ``window * 1.5`` (Phoenix: 15 s)."""

BINARY_REFUSED = {"reason": "binary payloads cannot be sent over longpoll"}


class State(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class _Wake(enum.Enum):
    MESSAGES = "messages"
    TIMEOUT = "timeout"
    REPLACED = "replaced"
    CLOSED = "closed"


def _resolve(waiter: asyncio.Future[_Wake], why: _Wake) -> None:
    if not waiter.done():
        waiter.set_result(why)


class PublishError(Exception):
    """A POSTed frame broke the protocol (the session has ended) or the server failed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class LongPollSession:
    """A session, its outgoing buffer and its (at most one) waiting poll."""

    def __init__(
        self,
        session_id: str,
        token: str,
        endpoint: Endpoint,
        socket: Socket,
        serializer: Serializer,
        options: SocketOptions,
        on_closed: Callable[[LongPollSession], None],
    ) -> None:
        self.id = session_id
        self.token = token
        self.state = State.OPEN
        self._clock = endpoint.clock
        self._window = options.longpoll_window
        self._max_buffer = options.max_outbound_bytes
        self._on_closed = on_closed
        self._buffer: collections.deque[Frame] = collections.deque()
        self._buffered_bytes = 0
        self._waiter: asyncio.Future[_Wake] | None = None
        self._input = asyncio.Lock()
        self._expiry: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._warned_binary = False
        self._telemetry = endpoint.telemetry
        self._started = time.perf_counter()
        self.posts = 0
        """POSTs in progress (the transport refuses those beyond ``longpoll_max_posts``)."""
        self.last_poll = self._clock.now()
        # LongPoll clients send no heartbeats (phoenix.js sets skipHeartbeat): polls keep
        # the session alive instead, so the session's idle timeout is off.
        self.session = Session(
            endpoint,
            socket,
            serializer,
            self,
            idle_timeout=None,
            max_channels=options.max_channels,
            inbound=InboundLimits.for_connection(options, self._clock.now()),
        )

    @property
    def polling(self) -> bool:
        """A poll is waiting for frames."""
        return self._waiter is not None and not self._waiter.done()

    def start(self) -> None:
        self.session.start()
        self._expiry = asyncio.get_running_loop().create_task(self._expire())
        if self._telemetry.wants(LongPollStarted):
            self._telemetry.emit(LongPollStarted(type(self.session.socket)))

    # ------------------------------------------------------------------ Sink

    def send(self, frame: Frame) -> None:
        if self.state is not State.OPEN:
            return
        if frame.binary:
            replacement = self._binary_replacement(frame)
            if replacement is None:
                return
            frame = replacement
        self._buffer.append(frame)
        self._buffered_bytes += len(frame.data)
        if self._buffered_bytes > self._max_buffer:
            queued = self._buffered_bytes
            log.warning("longpoll client not polling (%d bytes queued): session ended", queued)
            if self._telemetry.wants(ClientDropped):
                self._telemetry.emit(ClientDropped("longpoll", queued))
            self.end("outbound buffer overflow", "overflow")
            return
        self._wake(_Wake.MESSAGES)

    def close(self, code: int, reason: str) -> None:
        """From the session: socket-id ``disconnect``, the connection's deadline or server
        shutdown."""
        self.end(reason)

    # ------------------------------------------------------------------ polls

    async def poll(self) -> list[Frame]:
        """Everything buffered, at once; waits up to the window when there is nothing.
        An empty list means 204."""
        self.last_poll = self._clock.now()
        if self._buffer or self.state is not State.OPEN:
            return self._take()
        if self._waiter is not None:
            _resolve(self._waiter, _Wake.REPLACED)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Wake] = loop.create_future()
        self._waiter = waiter
        timer = loop.create_task(self._clock.sleep(self._window))
        timer.add_done_callback(lambda _: _resolve(waiter, _Wake.TIMEOUT))
        try:
            wake = await waiter
        finally:
            timer.cancel()
            if self._waiter is waiter:
                self._waiter = None
        if wake is _Wake.REPLACED or wake is _Wake.CLOSED:
            return []
        return self._take()

    def _take(self) -> list[Frame]:
        frames = list(self._buffer)
        self._buffer.clear()
        self._buffered_bytes = 0
        return frames

    def _wake(self, why: _Wake) -> None:
        # Resolving the future only schedules the poll: every frame produced during the
        # current loop iteration still lands in the same response.
        if self._waiter is not None:
            _resolve(self._waiter, why)

    # ---------------------------------------------------------------- publish

    async def publish(self, frames: Sequence[str | bytes]) -> int:
        """Feed ``frames`` in order. Returns 200, 408 (a frame was not handled within the
        window; the rest are dropped) or 410 (the session ended). Raises
        :class:`PublishError` when a frame broke the protocol: the session has ended."""
        loop = asyncio.get_running_loop()
        for data in frames:
            if self.state is not State.OPEN:
                return 410
            task = loop.create_task(self._receive(data))
            if not await self._within_window(task):
                log.info("longpoll frame not handled within %ss", self._window)
                return 408
            error = task.result()
            if error is not None:
                raise error
        return 200

    async def _within_window(self, task: asyncio.Task[PublishError | None]) -> bool:
        timer = asyncio.get_running_loop().create_task(self._clock.sleep(self._window))
        try:
            done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        return task in done

    async def _receive(self, data: str | bytes) -> PublishError | None:
        # The lock keeps frames in order across POSTs, even when one frame outlives its
        # POST's window (it goes on in this task, holding the lock).
        async with self._input:
            if self.state is not State.OPEN:
                return None
            try:
                if isinstance(data, str):
                    await self.session.receive_text(data)
                else:
                    await self.session.receive_binary(data)
            except ProtocolError as exc:
                log.info("ending longpoll session: %s", exc)
                self.end(f"protocol error: {exc}", "bad frame")
                status = 413 if isinstance(exc, FrameTooLarge) else 400
                return PublishError(status, f"invalid message: {exc}")
            except Exception:
                log.exception("longpoll session failed on a frame")
                self.end("internal error", "error")
                return PublishError(500, "internal server error")
        return None

    # -------------------------------------------------------------------- end

    def end(self, reason: str, kind: str = "closed") -> None:
        """Stop the session now: undelivered frames are dropped, a waiting poll answers
        204, and the channels terminate in a task. ``kind`` is the reason telemetry
        reports (:class:`~phxpy.telemetry.LongPollEnded`)."""
        if self.state is not State.OPEN:
            return
        log.debug("longpoll session ends: %s", reason)
        self._set_closed()
        self._closer = asyncio.get_running_loop().create_task(self.session.connection_lost())
        if self._telemetry.wants(LongPollEnded):
            duration = time.perf_counter() - self._started
            self._telemetry.emit(LongPollEnded(type(self.session.socket), kind, duration))

    def abort(self) -> None:
        """End at once (app cleanup)."""
        self.end("aborted", "aborted")

    async def wait_closed(self) -> None:
        """Until the channels have terminated (after :meth:`end`)."""
        if self._closer is not None:
            await self._closer

    def _set_closed(self) -> None:
        self.state = State.CLOSED
        self._buffer.clear()
        self._buffered_bytes = 0
        self._wake(_Wake.CLOSED)
        expiry = self._expiry
        if expiry is not None and expiry is not asyncio.current_task():
            expiry.cancel()
        self._on_closed(self)

    async def _expire(self) -> None:
        limit = self._window * EXPIRY_FACTOR
        while self.state is not State.CLOSED:
            idle = self._clock.now() - self.last_poll
            if idle >= limit and self._waiter is None:
                self.end(f"no poll for {limit}s", "expired")
                return
            # A waiting poll answers within the window; look again when it could be over.
            await self._clock.sleep(limit - idle if idle < limit else self._window)

    # ----------------------------------------------------------------- binary

    def _binary_replacement(self, frame: Frame) -> Frame | None:
        """LongPoll responses are JSON text (phoenix.js JSON-parses every message), so a
        binary frame cannot reach the client. A binary *reply* becomes an error reply to
        the same ref, so the client's push fails at once instead of timing out; binary
        pushes and broadcasts are dropped."""
        data = frame.data
        if not self._warned_binary:
            self._warned_binary = True
            log.warning("binary frame for a longpoll client dropped (only text can be polled)")
        if len(data) < 5 or data[0] != 1:
            return None
        lengths = data[1:5]
        fields: list[str] = []
        offset = 5
        for length in lengths:
            fields.append(data[offset : offset + length].decode("utf-8", "replace"))
            offset += length
        join_ref, ref, topic, _status = fields
        message = reply(topic, "error", BINARY_REFUSED, ref or None, join_ref or None)
        return self.session.serializer.encode(message)
