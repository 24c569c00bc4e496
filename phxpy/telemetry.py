"""Telemetry: what phxpy tells an application about its connections, in the spirit of
Phoenix's ``:telemetry`` events.

An application attaches a handler per event type on its endpoint::

    def count_joins(event: phxpy.telemetry.ChannelJoined) -> None:
        JOINS.labels(event.result).inc()

    endpoint.attach(phxpy.telemetry.ChannelJoined, count_joins)

Handlers are called synchronously, on the event loop, where the event happens: they must
be quick and must not block (count, observe, log). One that raises is logged and the others
still run; phxpy goes on as if nothing happened. An event type nobody attached to costs one
dictionary lookup where it would be emitted: no event object is made, no time is measured.

Durations are seconds of the process's monotonic performance counter. Classes appear as
themselves (``socket``, ``channel``), so a handler names them as it likes
(``event.channel.__name__``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .types import Event, Topic

log = logging.getLogger("phxpy.telemetry")

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class SocketConnected:
    """A socket's ``connect`` ran (Phoenix's ``[:phoenix, :socket_connected]``)."""

    transport: str
    """``"websocket"`` or ``"longpoll"``."""
    socket: type
    result: str
    """``"ok"``, or ``"refused"`` with the HTTP ``status`` the client got."""
    status: int | None
    duration: float
    """Seconds ``connect`` took."""


@dataclass(frozen=True, slots=True)
class SocketClosed:
    """A connection (a WebSocket, a LongPoll session) is gone; its channels have ended."""

    transport: str
    socket: type
    duration: float
    """Seconds it was connected."""


@dataclass(frozen=True, slots=True)
class ChannelJoined:
    """A join was answered (Phoenix's ``[:phoenix, :channel_joined]``)."""

    topic: Topic
    channel: type
    result: str
    """``"ok"``, ``"error"`` (refused: ``response`` is the refusal) or ``"crash"``."""
    response: Any
    duration: float


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    """A joined channel ended, however it ended."""

    topic: Topic
    channel: type
    reason: str
    """``"left"``, ``"closed"`` (the connection went), ``"crash"``, ``"replaced"`` (a
    duplicate join) or the reason of a ``Stop``."""


@dataclass(frozen=True, slots=True)
class HandledIn:
    """A channel's ``handle_in`` returned (Phoenix's ``[:phoenix, :channel_handled_in]``)."""

    topic: Topic
    event: Event
    """As the client sent it: anything at all. Map unknown names to one label before using
    them as a metric's label."""
    channel: type
    result: str
    """``"ok"`` or ``"error"`` (a reply; ``response`` is its payload), ``"noreply"``,
    ``"stop"`` or ``"crash"``."""
    response: Any
    duration: float


@dataclass(frozen=True, slots=True)
class Broadcasted:
    """``Endpoint.broadcast`` (a channel's broadcast included) delivered a message."""

    topic: Topic
    event: Event
    subscribers: int
    """Subscribers of the topic on this node: the fan-out."""
    duration: float
    """Seconds the pub/sub took; for the local one, delivering to every subscriber."""


@dataclass(frozen=True, slots=True)
class ClientDropped:
    """A client that let ``max_outbound_bytes`` pile up unread was disconnected."""

    transport: str
    queued_bytes: int


@dataclass(frozen=True, slots=True)
class LongPollStarted:
    """A LongPoll session began (its ``connect`` succeeded)."""

    socket: type


@dataclass(frozen=True, slots=True)
class LongPollEnded:
    """A LongPoll session ended."""

    socket: type
    reason: str
    """``"expired"`` (no poll for too long), ``"closed"`` (disconnect, shutdown, the
    connection's deadline), ``"overflow"`` (the client did not poll what piled up),
    ``"bad frame"``, ``"error"`` (a bug) or ``"aborted"`` (the app's cleanup)."""
    duration: float


@dataclass(frozen=True, slots=True)
class LimitHit:
    """A client ran into one of the mount's limits (:class:`~phxpy.SocketOptions`)."""

    limit: str
    """The option's name: ``"max_frame_size"``, ``"max_frame_containers"`` (the
    connection is closed, 1009), ``"inbound_budget"`` (the connection waits ``wait``
    seconds before its next frame is handled), ``"longpoll_max_body"``,
    ``"longpoll_max_posts"`` (the POST is refused)."""
    transport: str
    wait: float = 0.0


class Telemetry:
    """The handlers attached to an endpoint, per event type."""

    __slots__ = ("_handlers",)

    def __init__(self) -> None:
        self._handlers: dict[type, tuple[Callable[[Any], None], ...]] = {}

    def attach(self, kind: type[E], handler: Callable[[E], None]) -> None:
        """Call ``handler(event)`` for every event of type ``kind``."""
        self._handlers[kind] = (*self._handlers.get(kind, ()), handler)

    def detach(self, kind: type[E], handler: Callable[[E], None]) -> None:
        rest = tuple(h for h in self._handlers.get(kind, ()) if h != handler)
        if rest:
            self._handlers[kind] = rest
        else:
            self._handlers.pop(kind, None)

    def wants(self, kind: type) -> bool:
        """Whether anything listens to ``kind``: emitters check this before making the
        event (or timing what it reports)."""
        return kind in self._handlers

    def emit(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:
                log.exception("telemetry handler %r failed on %r", handler, type(event).__name__)
