"""Test helpers, in the spirit of ``Phoenix.ChannelTest``: no network, no HTTP server.

::

    async with connect(UserSocket, {"token": "t"}, app=app) as client:
        reply = await client.join("room:lobby", {})
        assert reply.status == "ok"
        ref = await client.push("room:lobby", "ping", {"n": 1})
        await client.assert_reply(ref, "ok", {"n": 1})
        await client.assert_broadcast("room:lobby", "shout", {"hi": True})

Frames go through the real protocol core, channel server and V2 serializer, so a payload
that would not survive the wire does not survive here either. Sockets and channels see
``app`` as ``self.app`` (a fresh, empty ``web.Application`` when none is given; its
``phxpy.ENDPOINT``, if mounted, is the endpoint). :class:`FakeClock` makes timeouts testable
without waiting.

Refutations (:meth:`ChannelClient.refute_push`, :meth:`ChannelClient.refute_broadcast`) do
not wait for time to pass: they make a round trip first (:meth:`ChannelClient.sync`), after
which whatever the server had been asked to do has been done, so they fail only when the
frame was really sent.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .channel_server import Session, check_routes
from .endpoint import Endpoint
from .errors import ConnectRefused
from .message import HEARTBEAT, PHOENIX_TOPIC, PHX_REPLY, Frame, Message, RawJSON
from .pubsub import Broadcast
from .serializer import V2, json_dumps
from .socket import ConnectInfo, Socket
from .types import Params, Payload, Topic
from .web import ENDPOINT

DEFAULT_TIMEOUT = 1.0


class FakeClock:
    """A clock that moves only when told to. ``sleep`` returns once :meth:`advance` has
    carried ``now()`` past its deadline."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(seconds, 0.0), next(self._order), future))
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending (lets a test wait until a timer is armed)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())


@dataclass(frozen=True, slots=True)
class Received:
    """A frame the client received, decoded."""

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Any

    @property
    def status(self) -> str | None:
        return self.payload.get("status") if isinstance(self.payload, dict) else None

    @property
    def response(self) -> Any:
        return self.payload.get("response") if isinstance(self.payload, dict) else None


def decode_server_frame(frame: Frame) -> Received:
    """Decode a V2 frame as phoenix.js does (text arrays; binary push/reply/broadcast)."""
    if not frame.binary:
        join_ref, ref, topic, event, payload = json.loads(frame.text())
        return Received(join_ref, ref, topic, event, payload)
    data = frame.data
    kind = data[0]
    if kind == 0:
        lengths, offset = data[1:4], 4
        jr, topic, event, rest = _fields(data, lengths, offset)
        return Received(jr or None, None, topic, event, rest)
    if kind == 1:
        lengths, offset = data[1:5], 5
        jr, ref, topic, status, rest = _fields(data, lengths, offset)
        return Received(jr or None, ref, topic, "phx_reply", {"status": status, "response": rest})
    lengths, offset = data[1:3], 3
    topic, event, rest = _fields(data, lengths, offset)
    return Received(None, None, topic, event, rest)


def _fields(data: bytes, lengths: bytes, offset: int) -> list[Any]:
    out: list[Any] = []
    for length in lengths:
        out.append(data[offset : offset + length].decode("utf-8"))
        offset += length
    out.append(data[offset:])
    return out


class _RecordingSink:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Received] = asyncio.Queue()
        self.closed: tuple[int, str] | None = None

    def send(self, frame: Frame) -> None:
        self.queue.put_nowait(decode_server_frame(frame))

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


class _BroadcastRecorder:
    """Every broadcast on one topic, as the pub/sub delivered it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Broadcast] = asyncio.Queue()
        self.pending: list[Broadcast] = []
        """Received and not yet matched by an assertion."""

    def deliver(self, broadcast: Broadcast) -> None:
        self.queue.put_nowait(broadcast)

    async def take(self, event: str, timeout: float) -> Broadcast:
        for index, broadcast in enumerate(self.pending):
            if broadcast.event == event:
                return self.pending.pop(index)
        async with asyncio.timeout(timeout):
            while True:
                broadcast = await self.queue.get()
                if broadcast.event == event:
                    return broadcast
                self.pending.append(broadcast)

    def arrived(self) -> list[Broadcast]:
        """Everything received so far, kept for later assertions."""
        while not self.queue.empty():
            self.pending.append(self.queue.get_nowait())
        return self.pending


def _stringify(payload: Payload) -> Payload:
    """What the payload looks like after a trip through JSON (bytes stay bytes)."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, RawJSON):
        return payload.decode()
    return json.loads(json_dumps(payload))


def _is_push(frame: Received, topic: Topic, event: str) -> bool:
    """Pushes and broadcasts carry no ref; phx_close and phx_error carry the join_ref."""
    if frame.topic != topic or frame.event != event:
        return False
    return frame.ref is None or event in ("phx_close", "phx_error")


# The test connections of each endpoint: a round trip settles all of them, since what one
# client does (a shout) reaches the others through their channels.
_CLIENTS: weakref.WeakKeyDictionary[Endpoint, set[ChannelClient]] = weakref.WeakKeyDictionary()


class ChannelClient:
    """A connected socket, driven as a client would drive it."""

    def __init__(self, endpoint: Endpoint, session: Session, sink: _RecordingSink) -> None:
        self.endpoint = endpoint
        self.session = session
        self._sink = sink
        self._refs = itertools.count(1)
        self._join_refs: dict[Topic, str] = {}
        self._pending: list[Received] = []
        self._recorders: dict[Topic, _BroadcastRecorder] = {}

    @property
    def socket(self) -> Socket:
        return self.session.socket

    async def join(
        self, topic: Topic, payload: Payload = None, timeout: float = DEFAULT_TIMEOUT
    ) -> Received:
        """``subscribe_and_join``: join and return the reply (also records broadcasts on
        the topic for :meth:`assert_broadcast`)."""
        if topic not in self._recorders:
            recorder = _BroadcastRecorder()
            self.endpoint.pubsub.subscribe(topic, recorder)
            self._recorders[topic] = recorder
        ref = str(next(self._refs))
        self._join_refs[topic] = ref
        await self._send(Message(topic, "phx_join", {} if payload is None else payload, ref, ref))
        return await self.assert_reply(ref, timeout=timeout)

    async def push(self, topic: Topic, event: str, payload: Payload = None) -> str:
        """Push ``event``; returns its ref for :meth:`assert_reply`."""
        ref = str(next(self._refs))
        message = Message(
            topic, event, {} if payload is None else payload, ref, self._join_refs.get(topic)
        )
        await self._send(message)
        return ref

    async def leave(self, topic: Topic, timeout: float = DEFAULT_TIMEOUT) -> Received:
        ref = await self.push(topic, "phx_leave", {})
        reply = await self.assert_reply(ref, timeout=timeout)
        await self.assert_push(topic, "phx_close", timeout=timeout)
        return reply

    async def _send(self, message: Message) -> None:
        payload = message.payload
        if isinstance(payload, bytes):
            parts = [
                (message.join_ref or "").encode(),
                (message.ref or "").encode(),
                message.topic.encode(),
                message.event.encode(),
            ]
            header = bytes((0, *map(len, parts)))
            await self.session.receive_binary(b"".join((header, *parts, payload)))
        else:
            text = json_dumps(
                [message.join_ref, message.ref, message.topic, message.event, _stringify(payload)]
            )
            await self.session.receive_text(text.decode("utf-8"))

    async def receive(
        self, match: Callable[[Received], bool], timeout: float = DEFAULT_TIMEOUT
    ) -> Received:
        """The first frame (received earlier and not yet matched, or arriving within
        ``timeout``) for which ``match`` is true."""
        for index, frame in enumerate(self._pending):
            if match(frame):
                return self._pending.pop(index)
        async with asyncio.timeout(timeout):
            while True:
                frame = await self._sink.queue.get()
                if match(frame):
                    return frame
                self._pending.append(frame)

    def _arrived(self) -> list[Received]:
        """Every frame received so far and not yet matched, kept for later assertions."""
        while not self._sink.queue.empty():
            self._pending.append(self._sink.queue.get_nowait())
        return self._pending

    async def sync(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """A round trip, as a client pings its server: once it returns, everything the
        server had been asked to do has been done and what it sent has arrived.

        Every channel of every test connection on this endpoint first handles all its
        mailbox holds (messages, intercepted broadcasts), then this connection's heartbeat
        is answered. Work that waits for something else (a clock, a timer, another
        process) is not covered: advance the clock, or assert what comes first."""
        try:
            async with asyncio.timeout(timeout):
                await self._round_trip()
        except TimeoutError:
            raise AssertionError(f"the server was still busy after {timeout}s") from None

    async def _round_trip(self) -> None:
        await asyncio.sleep(0)  # what is ready to run (a task just created) runs first
        while True:
            servers = [
                server
                for client in _CLIENTS.get(self.endpoint, ())
                for server in list(client.session.channels.values())
                if server.busy
            ]
            if not servers:
                break
            for server in servers:
                await server.settled()
        ref = f"sync-{next(self._refs)}"
        await self.session.receive_text(
            json_dumps([None, ref, PHOENIX_TOPIC, HEARTBEAT, {}]).decode("utf-8")
        )
        await self.receive(lambda f: f.event == PHX_REPLY and f.ref == ref, DEFAULT_TIMEOUT)

    async def assert_reply(
        self,
        ref: str,
        status: str | None = None,
        response: Any = ...,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Received:
        try:
            frame = await self.receive(lambda f: f.event == "phx_reply" and f.ref == ref, timeout)
        except TimeoutError:
            raise AssertionError(f"no reply to ref {ref!r} within {timeout}s") from None
        if status is not None:
            assert frame.status == status, f"reply status {frame.status!r}, expected {status!r}"
        if response is not ...:
            assert frame.response == _stringify(response), f"reply {frame.response!r}"
        return frame

    async def assert_push(
        self,
        topic: Topic,
        event: str,
        payload: Any = ...,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Received:
        try:
            frame = await self.receive(lambda f: _is_push(f, topic, event), timeout)
        except TimeoutError:
            raise AssertionError(f"no push {event!r} on {topic!r} within {timeout}s") from None
        if payload is not ...:
            assert frame.payload == _stringify(payload), f"push payload {frame.payload!r}"
        return frame

    async def refute_push(self, topic: Topic, event: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """No push (or broadcast) of ``event`` on ``topic`` has arrived and not been
        asserted, after a round trip (:meth:`sync`; ``timeout`` bounds it)."""
        await self.sync(timeout)
        for frame in self._arrived():
            if _is_push(frame, topic, event):
                raise AssertionError(f"unexpected push {frame!r}")

    async def assert_broadcast(
        self, topic: Topic, event: str, payload: Any = ..., timeout: float = DEFAULT_TIMEOUT
    ) -> Broadcast:
        """The first broadcast of ``event`` on ``topic`` not yet asserted; broadcasts of
        other events stay for later assertions."""
        recorder = self._recorders.get(topic)
        if recorder is None:
            raise AssertionError(f"join {topic!r} first: broadcasts are recorded from the join")
        try:
            broadcast = await recorder.take(event, timeout)
        except TimeoutError:
            raise AssertionError(f"no broadcast {event!r} on {topic!r} within {timeout}s") from None
        if payload is not ...:
            assert _stringify(broadcast.payload) == _stringify(payload), broadcast.payload
        return broadcast

    async def refute_broadcast(
        self, topic: Topic, event: str, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """No broadcast of ``event`` on ``topic`` has been made and not been asserted,
        after a round trip (:meth:`sync`)."""
        recorder = self._recorders.get(topic)
        if recorder is None:
            return
        await self.sync(timeout)
        for broadcast in recorder.arrived():
            if broadcast.event == event:
                raise AssertionError(f"unexpected broadcast {broadcast.payload!r}")

    async def close(self) -> None:
        for topic, recorder in self._recorders.items():
            self.endpoint.pubsub.unsubscribe(topic, recorder)
        clients = _CLIENTS.get(self.endpoint)
        if clients is not None:
            clients.discard(self)
        await self.session.connection_lost()


@asynccontextmanager
async def connect(
    socket: type[Socket],
    params: Params | None = None,
    *,
    app: web.Application | None = None,
    endpoint: Endpoint | None = None,
    auth_token: str | None = None,
    max_channels: int | None = 100,
) -> AsyncIterator[ChannelClient]:
    """Run ``socket.connect`` and yield a :class:`ChannelClient`. A refused connect raises
    :class:`~phxpy.errors.ConnectRefused`.

    ``app`` is what the socket and its channels see as ``self.app`` (default: a new empty
    application). The endpoint is ``endpoint``, else the app's (``app[phxpy.ENDPOINT]``,
    set by ``mount``), else a new one.
    """
    check_routes(socket)
    app = app if app is not None else web.Application()
    if endpoint is None:
        endpoint = app.get(ENDPOINT) or Endpoint()
    instance = socket(endpoint, "test", app)
    info = ConnectInfo(transport="test", auth_token=auth_token)
    if not await instance.connect(dict(params or {}), info):
        raise ConnectRefused(403)
    sink = _RecordingSink()
    session = Session(endpoint, instance, V2, sink, idle_timeout=None, max_channels=max_channels)
    session.start()
    client = ChannelClient(endpoint, session, sink)
    _CLIENTS.setdefault(endpoint, set()).add(client)
    try:
        yield client
    finally:
        await client.close()
