"""Channels: the application's callbacks for one topic on one connection.

Subclass :class:`Channel` and register it on a :class:`~phxpy.socket.Socket` with
``MySocket.channel("room:*", RoomChannel)``. For every join a new instance is made; its
callbacks run one at a time, in the order the client's messages arrived::

    class RoomChannel(Channel):
        async def join(self, payload):
            if payload.get("password") != "secret":
                return Error({"reason": "unauthorized"})
            return Ok({"welcome": True})

        async def handle_in(self, event, payload):
            if event == "shout":
                await self.broadcast("shout", payload)
                return None                      # no reply
            return Ok(payload)                   # reply {"status": "ok", "response": payload}

Payloads from clients are untrusted: validate and authorise them here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import ChannelError
from .types import Event, JoinRef, Payload, Ref, Topic

if TYPE_CHECKING:
    from .runtime import ChannelRunner
    from .socket import Socket


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply to a join or a message: ``{"status": status, "response": response}``."""

    status: str
    response: Any = field(default_factory=dict)


def Ok(response: Any = None) -> Reply:
    """An ``ok`` reply (``{}`` when no response is given)."""
    return Reply("ok", {} if response is None else response)


def Error(response: Any = None) -> Reply:
    """An ``error`` reply; from ``join`` it refuses the join."""
    return Reply("error", {} if response is None else response)


NORMAL_STOPS = frozenset({"normal", "shutdown"})


@dataclass(frozen=True, slots=True)
class Stop:
    """Returned by ``handle_in`` to end the channel, after an optional reply.

    Reasons ``"normal"`` and ``"shutdown"`` close it (``phx_close``: the client does not
    rejoin); any other reason is a failure (``phx_error``: the client rejoins).
    """

    reason: str = "normal"
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class ReplyRef:
    """Where a deferred reply goes; see :meth:`Channel.reply_ref`."""

    topic: Topic
    join_ref: JoinRef
    ref: Ref


class Channel:
    """Base class of application channels. Override the ``async`` callbacks you need."""

    topic: Topic
    """The topic this instance joined, e.g. ``"room:lobby"``."""
    socket: Socket
    """The connection's socket; ``socket.assigns`` holds what ``connect`` stored."""
    assigns: dict[str, Any]
    """This channel's own assigns, a copy of the socket's taken at join."""
    join_ref: JoinRef
    _runner: ChannelRunner

    intercept: ClassVar[frozenset[Event]] = frozenset()
    """Broadcast events that go through :meth:`handle_out` instead of straight to the client.

    Use sparingly, as Phoenix advises: an intercepted event is handled once per subscriber
    (in each channel's mailbox, in order with its messages) instead of being encoded once
    for all. Other events keep the fastlane."""

    # ------------------------------------------------------------ callbacks

    async def join(self, payload: Payload) -> Reply:
        """Accept with :func:`Ok` (optionally with a response) or refuse with :func:`Error`."""
        return Ok()

    async def after_join(self) -> None:
        """Runs right after the ok reply is sent, before any message: push from here."""

    async def handle_in(self, event: Event, payload: Payload) -> Reply | Stop | None:
        """A message from the client. Return a :class:`Reply`, ``None`` (no reply) or
        :class:`Stop`. An event the channel does not handle is a crash, as in Phoenix."""
        raise ChannelError(f"{type(self).__name__} does not handle the event {event!r}")

    async def handle_out(self, event: Event, payload: Payload) -> Stop | None:
        """An intercepted broadcast (see :attr:`intercept`). The default forwards it; push
        something else, return ``None`` to drop it, or :class:`Stop` the channel."""
        await self.push(event, payload)
        return None

    async def terminate(self, reason: str) -> None:
        """The channel ends: ``"left"``, ``"closed"`` (connection gone), a stop reason, or
        ``"crash"``. Not called when a duplicate join replaces the channel."""

    # -------------------------------------------------------- what it can do

    async def push(self, event: Event, payload: Payload) -> None:
        """Send ``event`` to this channel's client only."""
        self._runner.push(event, payload)

    async def broadcast(self, event: Event, payload: Payload) -> None:
        """Send ``event`` to every client joined to this topic, this one included."""
        await self.socket.endpoint.broadcast(self.topic, event, payload)

    async def broadcast_from(self, event: Event, payload: Payload) -> None:
        """Send ``event`` to every client joined to this topic except this one."""
        await self.socket.endpoint.broadcast(
            self.topic, event, payload, origin=self._runner.subscriber
        )

    def reply_ref(self) -> ReplyRef:
        """Inside ``handle_in``: keep this, return ``None``, and answer later with
        :meth:`reply` (an asynchronous reply)."""
        return self._runner.reply_ref()

    async def reply(self, to: ReplyRef, reply: Reply) -> None:
        """Answer a message whose :meth:`reply_ref` was kept."""
        self._runner.reply(to, reply)
