"""The node's two connections to Redis: one publishes, one listens. The only module of
phxpy that imports ``redis`` (``pip install './phxpy[redis]'``).

**Publishing** never awaits Redis per message: :meth:`RedisLink.publish` queues, and what a
loop iteration queued goes out as one pipeline (one write, one read of the replies). One
pipeline is in flight at a time, so the node's messages reach Redis in the order they were
queued, and while one is in flight the next batch gathers. A pipeline that fails loses its
messages (counted): Redis pub/sub is at most once, and receivers notice the gap.

**Listening** runs in a task that connects, subscribes, and hands every message to the
callback; when the connection breaks it reconnects with backoff (0.1 s doubling to 2 s) and
subscribes again, telling the owner when the link goes down and comes back. A connection that
stays open but goes silent is caught by the owner (it hears its own heartbeats, or not) and
recycled with :meth:`RedisLink.recycle`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

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


def client(url: str, *, socket_timeout: float | None) -> redis.Redis:
    """A client that fails at once instead of retrying: the callers decide what a failure
    means (a lost batch, a reconnect, a local fallback)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


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
        self.channels = tuple(channels)
        self.stats = LinkStats()
        self.connected = False
        """Subscribed right now."""
        self._on_message = on_message
        self._on_up = on_up
        self._on_down = on_down
        self._publisher = client(url, socket_timeout=PUBLISH_TIMEOUT)
        self._queue: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._flusher: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: redis.client.PubSub | None = None
        self._subscriber: redis.Redis | None = None
        self._stopping = False
        self._ever_connected = False

    # ------------------------------------------------------------------ publishing

    def publish(self, channel: bytes, data: bytes) -> None:
        """Queue a message; it goes out with whatever else this loop iteration queues."""
        if self._stopping:
            return
        self._queue.append((channel, data))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._queue:
                # The task starts on the next loop iteration: everything queued by the
                # current one is here already.
                batch = list(self._queue)
                self._queue.clear()
                pipe = self._publisher.pipeline(transaction=False)
                for channel, data in batch:
                    pipe.publish(channel, data)
                self.stats.pipelines += 1
                try:
                    await pipe.execute()
                except (RedisError, OSError) as error:
                    self.stats.publish_failures += len(batch)
                    log.debug("publishing %d messages failed: %s", len(batch), error)
                else:
                    self.stats.published += len(batch)
        finally:
            self._flusher = None

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
        if self._stopping or self._listener is None:
            return
        old = self._listener
        old.cancel()
        self._listener = asyncio.get_running_loop().create_task(self._listen(after=old))

    async def _listen(self, after: asyncio.Task[None] | None = None) -> None:
        if after is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await after
        backoff = FIRST_BACKOFF
        while not self._stopping:
            try:
                await self._subscribe_and_read()
            except (RedisError, OSError) as error:
                log.debug("Redis subscription broke: %s", error)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Redis subscription failed")
            finally:
                await self._close_subscription()
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, LONGEST_BACKOFF)

    async def _subscribe_and_read(self) -> None:
        self._subscriber = client(self.url, socket_timeout=None)
        pubsub = self._pubsub = self._subscriber.pubsub()
        await pubsub.subscribe(*self.channels)
        confirmed = 0
        on_message = self._on_message
        stats = self.stats
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            kind = message["type"]
            if kind == "message":
                stats.received += 1
                on_message(message["channel"], message["data"])
            elif kind == "subscribe":
                confirmed += 1
                if confirmed == len(self.channels):
                    if self._ever_connected:
                        stats.reconnects += 1
                    self._ever_connected = True
                    self.connected = True
                    log.info("Redis link up (%s)", _where(self.url))
                    self._on_up()

    async def _close_subscription(self) -> None:
        was_connected = self.connected
        self.connected = False
        pubsub, self._pubsub = self._pubsub, None
        subscriber, self._subscriber = self._subscriber, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        if subscriber is not None:
            with contextlib.suppress(Exception):
                await subscriber.aclose()
        if was_connected and not self._stopping:
            log.warning("Redis link down (%s); reconnecting", _where(self.url))
            self._on_down()

    # ------------------------------------------------------------------------ end

    async def stop(self) -> None:
        """Send what is queued, then close both connections."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flushed(), PUBLISH_TIMEOUT)
        self._stopping = True
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        with contextlib.suppress(Exception):
            await self._publisher.aclose()


def _where(url: str) -> str:
    """The URL without its credentials, for logs."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"
