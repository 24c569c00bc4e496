"""The machinery: drives one connection's protocol and runs its channels.

This is the one module that knows everything at once: the sans-I/O protocol, the
application's socket and channels, the endpoint and the pub/sub. The rest of phxpy meets it
through narrow interfaces: a channel through :class:`~phxpy.channel.ChannelContext`, the
endpoint through :class:`~phxpy.endpoint.Connection` (and channels as opaque owners whose end
it announces), the transports through :class:`Session` and :class:`Sink`. The layers and
the rules the tests enforce: docs/architecture.md.

A :class:`Session` is one connection (WebSocket) or one LongPoll session; both transports
drive it the same way: feed it frames (``receive_text`` / ``receive_binary``), give it a
:class:`Sink` to write to, and call ``connection_lost`` when the connection is gone.

Joins run inline, so a join's reply always precedes anything that belongs to it and the
next frame of the connection waits for it (as in Phoenix). Every other message goes to its
channel's mailbox; a :class:`ChannelServer` (Phoenix's ``Channel.Server``) handles its
channel's messages one at a time, in order, in a task that exists only while the mailbox is
not empty (an idle joined channel costs no task). A crash in one channel becomes
``phx_error`` on that topic; the connection and its other channels live on.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Protocol

from .channel import NORMAL_STOPS, Channel, Reply, ReplyRef, Stop
from .endpoint import Endpoint
from .errors import ChannelError, EncodeError, ProtocolError
from .inbound import InboundLimits
from .message import Frame
from .protocol import (
    JOIN_CRASHED,
    JoinRequested,
    LeaveRequested,
    MessageReceived,
    ProtocolEvent,
    SocketProtocol,
)
from .pubsub import Broadcast
from .serializer import Serializer, V1JSONSerializer
from .socket import Socket
from .telemetry import ChannelClosed, ChannelJoined, HandledIn, LimitHit, SocketClosed
from .types import Event, JoinRef, Payload, Topic

log = logging.getLogger("phxpy.channel")

DISCONNECT_EVENT = "disconnect"
CLOSE_GOING_AWAY = 1001
MAILBOX_LIMIT = 100
"""Messages a channel may have waiting. Past it the connection's reader waits for the
channel to catch up, so a client that floods a slow channel is slowed down by TCP (or by
its own POST, over LongPoll) instead of growing the server's memory; nothing is dropped."""


class Sink(Protocol):
    """Where a session's frames go: a transport's bounded outbound queue."""

    def send(self, frame: Frame) -> None:
        """Queue ``frame`` without blocking. A sink whose queue overflows closes its
        connection; it never makes the caller wait."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Ask the transport to close the connection (it happens asynchronously)."""
        ...


def check_routes(socket: type[Socket]) -> None:
    """Raise :class:`TypeError` unless every route of ``socket`` names a
    :class:`~phxpy.channel.Channel` subclass (the socket module cannot check it: it does
    not know channels)."""
    for pattern, target in socket.channels:
        if not (isinstance(target, type) and issubclass(target, Channel)):
            raise TypeError(
                f"{socket.__name__}.channels routes {pattern!r} to {target!r}, "
                "which is not a phxpy.Channel subclass"
            )


class _AfterJoin:
    """Mailbox item: run ``Channel.after_join``."""


_AFTER_JOIN = _AfterJoin()


class _Barrier:
    """Mailbox item: tell a waiter that everything queued before it has been handled."""

    __slots__ = ("_done",)

    def __init__(self, done: asyncio.Future[None]) -> None:
        self._done = done

    def release(self) -> None:
        if not self._done.done():
            self._done.set_result(None)


_MailboxItem = MessageReceived | LeaveRequested | Broadcast | _AfterJoin | _Barrier
"""A ``Broadcast`` in the mailbox is an intercepted one, for ``Channel.handle_out``."""


class _Interceptor:
    """The subscriber of a channel that intercepts events: those go to its mailbox, the
    rest take the fastlane. Channels without intercepts subscribe their server directly,
    so they pay nothing for this."""

    __slots__ = ("intercept", "server")

    def __init__(self, server: ChannelServer, intercept: frozenset[str]) -> None:
        self.server = server
        self.intercept = intercept

    def deliver(self, broadcast: Broadcast) -> None:
        if broadcast.event in self.intercept:
            self.server.enqueue(broadcast)
        else:
            self.server.deliver(broadcast)


class Session:
    """One client connection's channels, created by a transport after ``connect``
    succeeded. It is the endpoint's :class:`~phxpy.endpoint.Connection`."""

    def __init__(
        self,
        endpoint: Endpoint,
        socket: Socket,
        serializer: Serializer,
        sink: Sink,
        *,
        idle_timeout: float | None,
        idle_close_code: int = 1002,
        max_channels: int | None = 100,
        inbound: InboundLimits | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.telemetry = endpoint.telemetry
        self.socket = socket
        self.serializer = serializer
        self.sink = sink
        self.inbound = inbound
        """The connection's budget and frame checks (``None``: unlimited)."""
        # V1 decodes binary frames as JSON too; V2 binary payloads are opaque bytes.
        self._binary_is_json = isinstance(serializer, V1JSONSerializer)
        self._connected_at = time.perf_counter()
        self.protocol = SocketProtocol(
            serializer,
            socket.is_routable,
            now=endpoint.clock.now(),
            idle_timeout=idle_timeout,
            max_channels=max_channels,
        )
        self.channels: dict[Topic, ChannelServer] = {}
        self.socket_id = socket.id()
        self._idle_close_code = idle_close_code
        self.closed = False

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Register with the endpoint; listen on the socket id for ``disconnect``; close at
        the socket's expiry, if it set one."""
        self.endpoint.add_connection(self)
        if self.socket_id is not None:
            self.endpoint.pubsub.subscribe(self.socket_id, self)
        expiry = self.socket.expiry
        if expiry is not None:
            self.endpoint.close_at(self, expiry.at, expiry.code, expiry.reason)

    async def connection_lost(self) -> None:
        """The connection is gone: every channel terminates with reason ``"closed"``."""
        if self.closed:
            return
        self.closed = True
        self.endpoint.remove_connection(self)
        if self.socket_id is not None:
            self.endpoint.pubsub.unsubscribe(self.socket_id, self)
        servers = list(self.channels.values())
        self.channels.clear()
        for server in servers:
            server.detach()
            server.cancel()
        for server in servers:
            await server.terminate("closed")
        if self.telemetry.wants(SocketClosed):
            duration = time.perf_counter() - self._connected_at
            socket = self.socket
            self.telemetry.emit(SocketClosed(socket.transport, type(socket), duration))

    def close(self, code: int, reason: str) -> None:
        """Ask the transport to close the connection (``connection_lost`` follows)."""
        self.sink.close(code, reason)

    def deliver(self, broadcast: Broadcast) -> None:
        """Broadcasts on the socket id: ``disconnect`` closes the connection (code 1001, so
        phoenix.js reconnects and runs ``connect`` again); other events are ignored."""
        if broadcast.event == DISCONNECT_EVENT:
            self.close(CLOSE_GOING_AWAY, "disconnected")

    def check_idle(self, now: float) -> None:
        if self.protocol.idle_expired(now):
            self.close(self._idle_close_code, "idle timeout")

    # ---------------------------------------------------------------- input

    async def receive_text(self, text: str) -> None:
        """One text frame. Raises :class:`~phxpy.errors.ProtocolError` for a bad frame:
        the transport then closes the connection (1011, or 1009 for a frame over a limit).
        A frame over the connection's budget waits here, so its transport reads nothing
        meanwhile."""
        if self.inbound is not None:
            await self._admit(text, True)
        events = self.protocol.receive_text(text, self.endpoint.clock.now())
        self.flush()
        await self._handle(events)

    async def receive_binary(self, data: bytes) -> None:
        """One binary frame; see :meth:`receive_text`."""
        if self.inbound is not None:
            await self._admit(data, self._binary_is_json)
        events = self.protocol.receive_binary(data, self.endpoint.clock.now())
        self.flush()
        await self._handle(events)

    async def _admit(self, frame: str | bytes, json: bool) -> None:
        assert self.inbound is not None
        clock = self.endpoint.clock
        try:
            wait = self.inbound.admit(frame, json, clock.now())
        except ProtocolError:
            self._limit_hit("max_frame_containers")
            raise
        if wait > 0.0:
            self._limit_hit("inbound_budget", wait)
            await clock.sleep(wait)

    def _limit_hit(self, limit: str, wait: float = 0.0) -> None:
        if self.telemetry.wants(LimitHit):
            self.telemetry.emit(LimitHit(limit, self.socket.transport, wait))

    def touch(self) -> None:
        """Activity without a message (a WebSocket ping): it keeps the connection alive."""
        self.protocol.touch(self.endpoint.clock.now())

    def flush(self) -> None:
        """Send what the protocol queued."""
        for frame in self.protocol.data_to_send():
            self.sink.send(frame)

    async def _handle(self, events: list[ProtocolEvent]) -> None:
        for event in events:
            if isinstance(event, MessageReceived):
                server = self.channels.get(event.topic)
                if server is not None:
                    server.enqueue(event)
                    if server.backlog >= MAILBOX_LIMIT:
                        await server.has_room()
            elif isinstance(event, JoinRequested):
                await self._join(event)
            else:
                server = self.channels.pop(event.topic, None)
                if server is not None:
                    server.unsubscribe()  # not one broadcast more once the leave is read
                    server.enqueue(event)

    async def _join(self, request: JoinRequested) -> None:
        topic = request.topic
        if request.replaced:
            old = self.channels.pop(topic, None)
            if old is not None:
                old.kill()
        channel_class = self.socket.route(topic)
        if channel_class is None:  # cannot happen: the protocol checked the route
            raise ChannelError(f"no route for {topic!r}")
        server: ChannelServer | None = None
        started = time.perf_counter()
        try:
            server = ChannelServer(self, channel_class, topic, request.join_ref)
            result = await server.channel.join(request.payload)
            if not isinstance(result, Reply) or result.status not in ("ok", "error"):
                raise ChannelError(f"join must return Ok(...) or Error(...), got {result!r}")
            if result.status == "ok":
                self.protocol.join_accepted(topic, request.join_ref, request.ref, result.response)
        except Exception:
            log.exception("join of %r crashed", topic)
            if server is not None:
                server.exited()
            self.protocol.join_refused(topic, request.join_ref, request.ref, JOIN_CRASHED)
            self.flush()
            self._joined(topic, channel_class, "crash", JOIN_CRASHED, started)
            return
        if result.status == "error":
            server.exited()
            try:
                self.protocol.join_refused(topic, request.join_ref, request.ref, result.response)
            except EncodeError:
                log.error("join refusal of %r is not JSON: %r", topic, result.response)
                self.protocol.join_refused(topic, request.join_ref, request.ref, JOIN_CRASHED)
            self.flush()
            self._joined(topic, channel_class, "error", result.response, started)
            return
        server.accepted = True
        self.channels[topic] = server
        self.flush()
        server.subscribe()
        if type(server.channel).after_join is not Channel.after_join:
            server.enqueue(_AFTER_JOIN)
        self._joined(topic, channel_class, "ok", result.response, started)

    def _joined(
        self, topic: Topic, channel: type, result: str, response: object, started: float
    ) -> None:
        if self.telemetry.wants(ChannelJoined):
            duration = time.perf_counter() - started
            self.telemetry.emit(ChannelJoined(topic, channel, result, response, duration))


class ChannelServer:
    """Runs one joined channel: its mailbox, its broadcasts (fastlane), its end. It is the
    channel's :class:`~phxpy.channel.ChannelContext`."""

    __slots__ = (
        "_current",
        "_exited",
        "_mailbox",
        "_room",
        "_subscribed",
        "_task",
        "accepted",
        "channel",
        "join_ref",
        "serializer",
        "session",
        "sink",
        "subscriber",
        "topic",
    )

    def __init__(
        self, session: Session, channel_class: type[Channel], topic: Topic, join_ref: JoinRef
    ) -> None:
        self.session = session
        # Held here too: the fastlane reads them once per delivery.
        self.serializer = session.serializer
        self.sink = session.sink
        self.topic = topic
        self.join_ref = join_ref
        self._mailbox: collections.deque[_MailboxItem] = collections.deque()
        self._room: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._current: MessageReceived | None = None
        self._subscribed = False
        self._exited = False
        self.accepted = False
        """Its join was accepted (only then does its end count as a channel closing)."""
        intercept = channel_class.intercept
        self.subscriber: ChannelServer | _Interceptor = (
            _Interceptor(self, intercept) if intercept else self
        )
        self.channel: Channel = channel_class(self)

    # --------------------------------------------------------------- fastlane

    def deliver(self, broadcast: Broadcast) -> None:
        frame = broadcast.frame_for(self.serializer)
        if frame is not None:
            self.sink.send(frame)

    def subscribe(self) -> None:
        self.session.endpoint.pubsub.subscribe(self.topic, self.subscriber)
        self._subscribed = True

    def unsubscribe(self) -> None:
        if self._subscribed:
            self._subscribed = False
            self.session.endpoint.pubsub.unsubscribe(self.topic, self.subscriber)

    # --------------------------------------------------------- ChannelContext

    @property
    def socket(self) -> Socket:
        return self.session.socket

    @property
    def joined(self) -> bool:
        session = self.session
        return not session.closed and session.channels.get(self.topic) is self

    def push(self, event: Event, payload: Payload) -> None:
        if self._exited:
            log.debug("push %r on %r after the channel ended: dropped", event, self.topic)
            return
        self.session.protocol.push(self.topic, self.join_ref, event, payload)
        self.session.flush()

    def reply_ref(self) -> ReplyRef:
        current = self._current
        if current is None:
            raise ChannelError("reply_ref() is only available inside handle_in")
        return ReplyRef(self.topic, self.join_ref, current.ref)

    def reply(self, to: ReplyRef, reply: Reply) -> None:
        if self._exited:
            return
        self.session.protocol.reply(to.topic, to.join_ref, to.ref, reply.status, reply.response)
        self.session.flush()

    async def broadcast(self, event: Event, payload: Payload, *, include_self: bool) -> None:
        origin = None if include_self else self.subscriber
        await self.session.endpoint.broadcast(self.topic, event, payload, origin=origin)

    # ---------------------------------------------------------------- mailbox

    def enqueue(self, item: _MailboxItem) -> None:
        self._mailbox.append(item)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def backlog(self) -> int:
        return len(self._mailbox)

    @property
    def busy(self) -> bool:
        """Something is queued or being handled."""
        return bool(self._mailbox) or self._task is not None

    async def has_room(self) -> None:
        """Until the mailbox is down to half its limit (or the channel is gone)."""
        if self._room is None:
            self._room = asyncio.Event()
        self._room.clear()
        await self._room.wait()

    async def settled(self) -> None:
        """Until everything queued so far has been handled (or dropped, if the channel
        ended): a round trip through the mailbox, for :mod:`phxpy.testing`."""
        if self._exited or (not self._mailbox and self._task is None):
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.enqueue(_Barrier(done))
        await done

    def _wake_reader(self) -> None:
        if self._room is not None and len(self._mailbox) <= MAILBOX_LIMIT // 2:
            self._room.set()

    def _drop_mailbox(self) -> None:
        for item in self._mailbox:
            if isinstance(item, _Barrier):
                item.release()
        self._mailbox.clear()

    async def _run(self) -> None:
        try:
            while self._mailbox:
                item = self._mailbox.popleft()
                self._wake_reader()
                if isinstance(item, MessageReceived):
                    alive = await self._handle_in(item)
                elif isinstance(item, LeaveRequested):
                    await self._leave(item)
                    alive = False
                elif isinstance(item, Broadcast):
                    alive = await self._handle_out(item)
                elif isinstance(item, _Barrier):
                    item.release()
                    alive = True
                else:
                    alive = await self._after_join()
                if not alive:
                    self._drop_mailbox()
                    break
        finally:
            self._task = None
            self._wake_reader()

    async def _after_join(self) -> bool:
        try:
            await self.channel.after_join()
        except Exception:
            log.exception("after_join of %r crashed", self.topic)
            await self._end("crash")
            return False
        return True

    async def _handle_in(self, message: MessageReceived) -> bool:
        self._current = message
        telemetry = self.session.telemetry
        started = time.perf_counter() if telemetry.wants(HandledIn) else None
        outcome, response = "crash", None
        try:
            result = await self.channel.handle_in(message.event, message.payload)
            if result is None:
                outcome = "noreply"
                return True
            if isinstance(result, Reply):
                outcome, response = result.status, result.response
                self.reply(ReplyRef(self.topic, self.join_ref, message.ref), result)
                return True
            if isinstance(result, Stop):
                outcome = "stop"
                if result.reply is not None:
                    response = result.reply.response
                    self.reply(ReplyRef(self.topic, self.join_ref, message.ref), result.reply)
                await self._end(result.reason)
                return False
            raise ChannelError(f"handle_in must return a Reply, a Stop or None, got {result!r}")
        except Exception:
            outcome = "crash"
            log.exception("channel %r crashed handling %r", self.topic, message.event)
            await self._end("crash")
            return False
        finally:
            self._current = None
            if started is not None:
                event = HandledIn(
                    self.topic,
                    message.event,
                    type(self.channel),
                    outcome,
                    response,
                    time.perf_counter() - started,
                )
                telemetry.emit(event)

    async def _handle_out(self, broadcast: Broadcast) -> bool:
        if not self._subscribed:
            return True  # left since it was queued: no broadcast after the leave
        try:
            result = await self.channel.handle_out(broadcast.event, broadcast.decoded_payload())
            if result is None:
                return True
            if isinstance(result, Stop):
                await self._end(result.reason)
                return False
            raise ChannelError(f"handle_out must return a Stop or None, got {result!r}")
        except Exception:
            log.exception("channel %r crashed handling broadcast %r", self.topic, broadcast.event)
            await self._end("crash")
            return False

    async def _leave(self, leave: LeaveRequested) -> None:
        protocol = self.session.protocol
        protocol.reply(self.topic, self.join_ref, leave.ref, "ok", {})
        self.session.flush()
        await self.terminate("left")
        protocol.leave_done(self.topic, self.join_ref)
        self.session.flush()

    async def _end(self, reason: str) -> None:
        """Stop or crash: free the topic at once, terminate, then tell the client."""
        self.detach()
        self.session.protocol.channel_exited(self.topic, self.join_ref)
        await self.terminate(reason)
        if reason in NORMAL_STOPS:
            self.session.protocol.channel_closed(self.topic, self.join_ref)
        else:
            self.session.protocol.channel_crashed(self.topic, self.join_ref)
        self.session.flush()

    # ------------------------------------------------------------------- end

    def detach(self) -> None:
        """Stop receiving broadcasts and leave the session's table."""
        self.unsubscribe()
        if self.session.channels.get(self.topic) is self:
            del self.session.channels[self.topic]

    def cancel(self) -> None:
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._drop_mailbox()
        self._wake_reader()

    def kill(self) -> None:
        """Replaced by a duplicate join: gone at once, without ``terminate`` (as Phoenix)."""
        self.detach()
        self.cancel()
        self.exited("replaced")

    async def terminate(self, reason: str) -> None:
        try:
            await self.channel.terminate(reason)
        except Exception:
            log.exception("terminate of %r crashed", self.topic)
        finally:
            self.exited(reason)

    def exited(self, reason: str = "refused") -> None:
        """Tell the endpoint, exactly once, that the channel ended (Presence untracks
        what it tracked)."""
        if not self._exited:
            self._exited = True
            self.session.endpoint.channel_exited(self.channel)
            telemetry = self.session.telemetry
            if self.accepted and telemetry.wants(ChannelClosed):
                telemetry.emit(ChannelClosed(self.topic, type(self.channel), reason))
