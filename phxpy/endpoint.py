"""The endpoint: what an application holds to reach its connections from anywhere.

One per aiohttp application: every socket mounted on the app shares it. It owns the pub/sub,
the clock, :class:`~phxpy.presence.Presence` and the set of live connections, and offers
:meth:`Endpoint.broadcast` and :meth:`Endpoint.disconnect` to any code in the app, e.g. a
REST handler.

It knows connections only through :class:`Connection` (what it needs to sweep idle ones,
close them at their deadline and drain them at shutdown) and channels only as opaque owners
whose end it announces (:meth:`Endpoint.on_channel_exit`). The machinery that implements
both lives in :mod:`phxpy.channel_server`. Applications observe it all through
:meth:`Endpoint.attach` (:mod:`phxpy.telemetry`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any, Protocol, TypeVar

from .clock import SystemClock
from .deadlines import Deadlines, close_gradually
from .presence import DEFAULT_INTERVAL, Presence
from .pubsub import LocalPubSub, PubSub
from .telemetry import Broadcasted, Telemetry
from .types import Clock, Event, Payload, Topic

log = logging.getLogger("phxpy.endpoint")

ChannelExitHook = Callable[[Hashable], None]
"""Called with the owner (the channel) of whatever ended."""
E = TypeVar("E")

SERVICE_RESTART = 1012
"""The close code of a drain at shutdown, as Phoenix's: phoenix.js reconnects."""


class Connection(Protocol):
    """What the endpoint may ask of a live connection (a WebSocket, a LongPoll session)."""

    def check_idle(self, now: float) -> None:
        """Close the connection if it received nothing for longer than its idle timeout."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Ask the transport to close the connection; it happens asynchronously."""
        ...


class Endpoint:
    def __init__(
        self,
        *,
        pubsub: PubSub | None = None,
        clock: Clock | None = None,
        presence_interval: float = DEFAULT_INTERVAL,
        drain_window: float = 0.0,
    ) -> None:
        self.pubsub: PubSub = pubsub if pubsub is not None else LocalPubSub()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.telemetry = Telemetry()
        self.drain_window = drain_window
        """Seconds over which :meth:`shutdown` spreads the closing of connections."""
        self.draining = False
        """Shutting down: new connections are refused (503)."""
        self._connections: set[Connection] = set()
        self._deadlines = Deadlines(self.clock)
        self._exit_hooks: list[ChannelExitHook] = []
        self._sweep_interval: float | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._presence_interval = presence_interval
        self._presence: Presence | None = None

    async def broadcast(
        self, topic: Topic, event: Event, payload: Payload, *, origin: Any = None
    ) -> None:
        """Send ``event`` to every client joined to ``topic``. ``payload`` is a JSON object
        (or ``bytes``, delivered as a binary frame to V2 clients)."""
        if not self.telemetry.wants(Broadcasted):
            await self.pubsub.broadcast(topic, event, payload, origin)
            return
        start = time.perf_counter()
        await self.pubsub.broadcast(topic, event, payload, origin)
        duration = time.perf_counter() - start
        count = self.pubsub.subscriber_count(topic)
        self.telemetry.emit(Broadcasted(topic, event, count, duration))

    async def disconnect(self, socket_id: str) -> None:
        """Close every connection whose socket id is ``socket_id`` (all tabs, all nodes).
        WebSocket clients see close code 1001 and reconnect, running ``connect`` again."""
        await self.pubsub.broadcast(socket_id, "disconnect", {})

    def attach(self, kind: type[E], handler: Callable[[E], None]) -> None:
        """Call ``handler(event)`` for every telemetry event of type ``kind`` (one of the
        classes of :mod:`phxpy.telemetry`). Handlers run synchronously where the event
        happens: they must be quick and must not block."""
        self.telemetry.attach(kind, handler)

    @property
    def presence(self) -> Presence:
        """The endpoint's :class:`~phxpy.presence.Presence`, made on first use (its
        coalescing interval is the endpoint's ``presence_interval``)."""
        if self._presence is None:
            self._presence = Presence(self.pubsub, self.clock, interval=self._presence_interval)
            self.on_channel_exit(self._presence.owner_exited)
        return self._presence

    # ---------------------------------------------------------- connections

    def add_connection(self, connection: Connection) -> None:
        self._connections.add(connection)

    def remove_connection(self, connection: Connection) -> None:
        self._connections.discard(connection)
        self._deadlines.discard(connection)

    def close_at(self, connection: Connection, deadline: float, code: int, reason: str) -> None:
        """Close ``connection`` at ``deadline`` (the clock's time) unless it is gone by then;
        e.g. when the token it was opened with expires."""
        self._deadlines.add(connection, deadline, code, reason)

    @property
    def connection_count(self) -> int:
        """Live connections (WebSockets and LongPoll sessions) on this node."""
        return len(self._connections)

    # ------------------------------------------------------------- channels

    def on_channel_exit(self, hook: ChannelExitHook) -> None:
        """Call ``hook(owner)`` once whenever a channel ends, however it ends; ``owner`` is
        the channel. Presence uses it to untrack."""
        self._exit_hooks.append(hook)

    def channel_exited(self, owner: Hashable) -> None:
        for hook in self._exit_hooks:
            try:
                hook(owner)
            except Exception:
                log.exception("channel exit hook failed")

    # --------------------------------------------------------------- timers

    def sweep_at_least_every(self, seconds: float) -> None:
        """Look for idle connections at least this often (each mount asks for a quarter of
        its idle timeout; the most frequent wins)."""
        current = self._sweep_interval
        self._sweep_interval = seconds if current is None else min(current, seconds)

    def sweep(self) -> None:
        """Close every connection idle for longer than its timeout."""
        now = self.clock.now()
        for connection in list(self._connections):
            connection.check_idle(now)

    def start(self) -> None:
        """Start the idle sweeper, if a mount asked for one (idempotent)."""
        interval = self._sweep_interval
        if self._sweeper is None and interval is not None:
            loop = asyncio.get_running_loop()
            self._sweeper = loop.create_task(self._sweep_forever(interval))

    async def _sweep_forever(self, interval: float) -> None:
        while True:
            await self.clock.sleep(interval)
            self.sweep()

    async def shutdown(
        self, code: int = SERVICE_RESTART, reason: str = "server restarting"
    ) -> None:
        """Close every connection, spread over :attr:`drain_window` seconds in batches so
        that clients do not all reconnect at once (1012, as Phoenix's drainer: phoenix.js
        reconnects, to another node if there is one). New connections are refused from
        now on. A LongPoll session simply ends: its next poll is refused and phoenix.js
        reconnects."""
        self.draining = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._deadlines.stop()
        if self._presence is not None:
            self._presence.close()
        connections = list(self._connections)
        await close_gradually(connections, self.drain_window, self.clock, code, reason)
        # Any whose handshake was under way when the drain began.
        for connection in self._connections - set(connections):
            connection.close(code, reason)
