"""The node's two connections to Redis: one publishes, one listens. The only module of
phxpy that talks to Redis; it needs ``hiredis`` (``pip install './phxpy[redis]'``), which
parses Redis's replies in C.

Every message of the cluster crosses this module twice (published by one node, received by
all), so it speaks Redis's protocol (RESP) itself on two plain asyncio connections: a
command is a few bytes formatted once, a reply one call into hiredis. A general client
(redis-py) costs tens of µs of Python per message on either side, more than the node's own
work for a broadcast.

**Publishing** never awaits Redis per message: :meth:`RedisLink.publish` queues, and what a
loop iteration queued goes out as one pipeline (one write, then the replies read). One
pipeline is in flight at a time, so the node's messages reach Redis in the order they were
queued, and while one is in flight the next batch gathers. A pipeline that fails loses its
messages (counted): Redis pub/sub is at most once, and receivers notice the gap. A broken
publishing connection is made again for the next pipeline.

**Listening** runs in a task that connects, subscribes, and hands every message to the
callback; when the connection breaks it reconnects with backoff (0.1 s doubling to 2 s) and
subscribes again, telling the owner when the link goes down and comes back. A connection that
stays open but goes silent is caught by the owner (it hears its own heartbeats, or not) and
recycled with :meth:`RedisLink.recycle`.

``REDIS_URL`` forms: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS) and
``unix:///path/to/socket`` (``?password=``). The database number does not matter: pub/sub
channels are the server's, whatever the database.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import ssl
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import hiredis

log = logging.getLogger("phxpy.cluster")

FIRST_BACKOFF = 0.1
LONGEST_BACKOFF = 2.0
CONNECT_TIMEOUT = 2.0
PUBLISH_TIMEOUT = 5.0


@dataclass(slots=True)
class LinkStats:
    """Counters of one node's Redis link."""

    published: int = 0
    """Messages Redis accepted from this node."""
    publish_failures: int = 0
    """Messages lost because their pipeline failed (Redis down, a timeout)."""
    pipelines: int = 0
    """Pipelines sent (each carries what one loop iteration queued, or more)."""
    received: int = 0
    """Messages read from the subscription, this node's own included."""
    reconnects: int = 0
    """Times the subscription was made again after its connection broke."""


class RedisError(Exception):
    """Redis answered with an error (a refused AUTH, say)."""


ReplyError = hiredis.ReplyError
"""An error reply (``-ERR ...``) among a request's replies."""


# ------------------------------------------------------------------------------ addresses


@dataclass(frozen=True, slots=True)
class Address:
    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    """A unix socket instead of host and port."""
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> Address:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"not a Redis URL: {where(url)}")
        username = urllib.parse.unquote(parts.username) if parts.username else None
        password = urllib.parse.unquote(parts.password) if parts.password else None
        if parts.scheme == "unix":
            query = urllib.parse.parse_qs(parts.query)
            password = password or next(iter(query.get("password", [])), None)
            return cls(path=parts.path, username=username, password=password)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            tls=parts.scheme == "rediss",
            username=username,
            password=password,
        )


def where(url: str) -> str:
    """The URL without its credentials, for logs."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def command(*parts: bytes) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out += (b"$%d\r\n" % len(part), part, b"\r\n")
    return b"".join(out)


# ----------------------------------------------------------------------------- connection


class Connection(asyncio.Protocol):
    """One connection: commands written as they come, replies (parsed by hiredis) given in
    order to whoever waits for them, and, once nobody waits, to ``on_push`` (what a
    subscribed connection receives)."""

    def __init__(self, on_push: Callable[[Any], None] | None = None) -> None:
        self._reader = hiredis.Reader()
        self._waiting: collections.deque[tuple[list[Any], int, asyncio.Future[list[Any]]]] = (
            collections.deque()
        )
        self._on_push = on_push
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(
        cls, address: Address, on_push: Callable[[Any], None] | None = None
    ) -> Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(CONNECT_TIMEOUT):
            if address.path is not None:
                _, connection = await loop.create_unix_connection(
                    lambda: cls(on_push), address.path
                )
            else:
                _, connection = await loop.create_connection(
                    lambda: cls(on_push),
                    address.host,
                    address.port,
                    ssl=ssl.create_default_context() if address.tls else None,
                )
            if address.password is not None:
                auth = [b"AUTH"] + ([address.username.encode()] if address.username else [])
                [reply] = await connection.request(command(*auth, address.password.encode()), 1)
                if isinstance(reply, hiredis.ReplyError):
                    connection.close()
                    raise RedisError(f"AUTH refused: {reply}")
        return connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as error:
                log.warning("Redis sent what is not RESP: %s", error)
                self.close()
                return
            if reply is False:
                return
            if self._waiting:
                replies, count, done = self._waiting[0]
                replies.append(reply)
                if len(replies) == count:
                    self._waiting.popleft()
                    if not done.done():
                        done.set_result(replies)
            elif self._on_push is not None:
                self._on_push(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        while self._waiting:
            _, _, done = self._waiting.popleft()
            if not done.done():
                done.set_exception(ConnectionError("the connection to Redis was lost"))
        if not self.closed.done():
            self.closed.set_result(None)

    def request(self, data: bytes, count: int) -> asyncio.Future[list[Any]]:
        """Write ``data`` (``count`` commands): their ``count`` replies, to come (an error
        reply is a ``hiredis.ReplyError`` among them; a lost connection fails the future
        with :class:`ConnectionError`). Requests may overlap: replies come in order. One
        given up on (a timeout) still takes its replies when they come."""
        done: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        if self.transport is None or self.transport.is_closing():
            done.set_exception(ConnectionError("not connected to Redis"))
            return done
        self._waiting.append(([], count, done))
        self.transport.write(data)
        return done

    def send(self, data: bytes) -> None:
        """Write commands whose replies go to ``on_push``."""
        if self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


# ----------------------------------------------------------------------------------- link


class RedisLink:
    def __init__(
        self,
        url: str,
        channels: Sequence[bytes],
        on_message: Callable[[bytes, bytes], None],
        on_up: Callable[[], None],
        on_down: Callable[[], None],
    ) -> None:
        self.url = url
        self.address = Address.parse(url)
        self.channels = tuple(channels)
        self.stats = LinkStats()
        self.connected = False
        """Subscribed right now."""
        self._on_message = on_message
        self._on_up = on_up
        self._on_down = on_down
        self._queue: list[bytes] = []
        self._headers: dict[bytes, bytes] = {}
        self._publisher: Connection | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscriber: Connection | None = None
        self._confirmed = 0
        self._stopping = False
        self._ever_connected = False

    # ------------------------------------------------------------------ publishing

    def publish(self, channel: bytes, data: bytes) -> None:
        """Queue a message; it goes out with whatever else this loop iteration queues."""
        if self._stopping:
            return
        header = self._headers.get(channel)
        if header is None:
            header = self._headers[channel] = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n" % (
                len(channel),
                channel,
            )
        self._queue.append(b"%b$%d\r\n%b\r\n" % (header, len(data), data))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._queue:
                # The task starts on the next loop iteration: everything queued by the
                # current one is here already.
                batch, self._queue = self._queue, []
                self.stats.pipelines += 1
                try:
                    async with asyncio.timeout(PUBLISH_TIMEOUT):
                        publisher = await self._publishing_connection()
                        replies = await publisher.request(b"".join(batch), len(batch))
                except (RedisError, OSError, TimeoutError) as error:
                    self.stats.publish_failures += len(batch)
                    log.debug("publishing %d messages failed: %s", len(batch), error)
                    if self._publisher is not None:
                        self._publisher.close()
                        self._publisher = None
                else:
                    failed = sum(1 for reply in replies if isinstance(reply, hiredis.ReplyError))
                    self.stats.published += len(batch) - failed
                    self.stats.publish_failures += failed
        finally:
            self._flusher = None

    async def _publishing_connection(self) -> Connection:
        publisher = self._publisher
        if publisher is None or publisher.transport is None:
            publisher = self._publisher = await Connection.open(self.address)
        return publisher

    async def flushed(self) -> None:
        """Until everything queued so far went out (or failed)."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    # ------------------------------------------------------------------- listening

    def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    def recycle(self) -> None:
        """Drop the subscription connection and make a new one (it went silent)."""
        if not self._stopping and self._subscriber is not None:
            self._subscriber.close()

    async def _listen(self) -> None:
        backoff = FIRST_BACKOFF
        while not self._stopping:
            self._confirmed = 0
            try:
                subscriber = self._subscriber = await Connection.open(self.address, self._pushed)
                subscriber.send(command(b"SUBSCRIBE", *self.channels))
                await subscriber.closed
            except (RedisError, OSError, TimeoutError) as error:
                log.debug("Redis subscription failed: %s", error)
            finally:
                self._subscriber = None
                self._lost()
            if self._stopping:
                return
            if self._confirmed == len(self.channels):
                backoff = FIRST_BACKOFF  # it was up: try again at once, then back off
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, LONGEST_BACKOFF)

    def _pushed(self, reply: Any) -> None:
        if (
            type(reply) is list
            and len(reply) == 3
            and reply[0] == b"message"
            and type(reply[1]) is bytes
            and type(reply[2]) is bytes
        ):
            self.stats.received += 1
            self._on_message(reply[1], reply[2])
        elif type(reply) is list and reply and reply[0] == b"subscribe":
            self._confirmed += 1
            if self._confirmed == len(self.channels):
                if self._ever_connected:
                    self.stats.reconnects += 1
                self._ever_connected = True
                self.connected = True
                log.info("Redis link up (%s)", where(self.url))
                self._on_up()
        elif isinstance(reply, hiredis.ReplyError):
            log.warning("Redis refused the subscription: %s", reply)
            self.recycle()

    def _lost(self) -> None:
        was_connected, self.connected = self.connected, False
        if was_connected and not self._stopping:
            log.warning("Redis link down (%s); reconnecting", where(self.url))
            self._on_down()

    # ------------------------------------------------------------------------ end

    async def stop(self) -> None:
        """Send what is queued, then close both connections."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flushed(), PUBLISH_TIMEOUT)
        self._stopping = True
        listener, self._listener = self._listener, None
        if self._subscriber is not None:
            self._subscriber.close()
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None
