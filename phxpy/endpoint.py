"""The endpoint: what an application holds to reach its sockets from anywhere.

One per application (several socket mounts may share it). It owns the pub/sub, the clock
and the set of live sessions, and offers :meth:`Endpoint.broadcast` and
:meth:`Endpoint.disconnect` to any code in the app, e.g. a REST handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .clock import SystemClock
from .pubsub import LocalPubSub, PubSub
from .types import Clock, Event, Payload, Topic

if TYPE_CHECKING:
    from .presence import Presence
    from .runtime import ChannelRunner, Session

log = logging.getLogger("phxpy.endpoint")

ChannelExitHook = Callable[["ChannelRunner"], None]


class Endpoint:
    def __init__(self, *, pubsub: PubSub | None = None, clock: Clock | None = None) -> None:
        self.pubsub: PubSub = pubsub if pubsub is not None else LocalPubSub()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.sessions: set[Session] = set()
        self._exit_hooks: list[ChannelExitHook] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._presence: Presence | None = None

    async def broadcast(
        self, topic: Topic, event: Event, payload: Payload, *, origin: Any = None
    ) -> None:
        """Send ``event`` to every client joined to ``topic``. ``payload`` is a JSON object
        (or ``bytes``, delivered as a binary frame to V2 clients)."""
        await self.pubsub.broadcast(topic, event, payload, origin)

    async def disconnect(self, socket_id: str) -> None:
        """Close every connection whose socket id is ``socket_id`` (all tabs, all nodes).
        WebSocket clients see close code 1001 and reconnect, running ``connect`` again."""
        await self.pubsub.broadcast(socket_id, "disconnect", {})

    # ------------------------------------------------------------- presence

    @property
    def presence(self) -> Presence:
        """The endpoint's :class:`~phxpy.presence.Presence`, made on first use (or by
        :meth:`Presence.attach <phxpy.presence.Presence.attach>`, to configure it)."""
        if self._presence is None:
            from .presence import Presence

            self._presence = Presence(self)
        return self._presence

    @presence.setter
    def presence(self, presence: Presence) -> None:
        if self._presence is not None and self._presence is not presence:
            raise ValueError("this endpoint already has a Presence")
        self._presence = presence

    # ------------------------------------------------------------- channels

    def on_channel_exit(self, hook: ChannelExitHook) -> None:
        """Call ``hook(runner)`` once whenever a channel ends, however it ends (Presence
        uses it to untrack)."""
        self._exit_hooks.append(hook)

    def channel_exited(self, runner: ChannelRunner) -> None:
        for hook in self._exit_hooks:
            try:
                hook(runner)
            except Exception:
                log.exception("channel exit hook failed")

    # --------------------------------------------------------------- timers

    def sweep(self) -> None:
        """Close every session idle for longer than its timeout."""
        now = self.clock.now()
        for session in list(self.sessions):
            session.check_idle(now)

    def start(self, interval: float = 5.0) -> None:
        """Start the idle sweeper (idempotent)."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(interval))

    async def _sweep_forever(self, interval: float) -> None:
        while True:
            await self.clock.sleep(interval)
            self.sweep()

    async def shutdown(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Close every session (1001: phoenix.js reconnects, to another node if any)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._presence is not None:
            self._presence.close()
        for session in list(self.sessions):
            session.sink.close(code, reason)
