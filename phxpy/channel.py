"""Channels: the application's callbacks for one topic on one connection.

Subclass :class:`Channel` and route topics to it from a :class:`~phxpy.socket.Socket`
(``channels = [("room:*", RoomChannel)]``). For every join a new instance is made; its
callbacks run one at a time, in the order the client's messages arrived::

    class RoomChannel(Channel):
        async def join(self, payload):
            rooms = self.app[ROOMS]                  # whatever the aiohttp app stored
            if not await rooms.may_enter(self.assigns["user_id"], self.topic):
                return Error({"reason": "unauthorized"})
            return Ok({"welcome": True})

        async def handle_in(self, event, payload):
            if event == "shout":
                await self.broadcast("shout", payload)
                return None                      # no reply
            return Ok(payload)                   # reply {"status": "ok", "response": payload}

Payloads from clients are untrusted: validate and authorise them here.

A channel reaches the machinery that runs it only through its :class:`ChannelContext`
(push, reply, broadcast); it never sees the connection's protocol state, its transport or
the other channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .endpoint import Endpoint
from .errors import ChannelError
from .socket import Socket
from .types import Event, JoinRef, Payload, Ref, Topic

if TYPE_CHECKING:  # only the type: channels do no HTTP themselves
    from aiohttp import web


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


class ChannelContext(Protocol):
    """What a channel may ask of the machinery that runs it (:mod:`phxpy.channel_server`
    implements it; a test double may too)."""

    @property
    def topic(self) -> Topic: ...

    @property
    def join_ref(self) -> JoinRef: ...

    @property
    def socket(self) -> Socket: ...

    @property
    def joined(self) -> bool:
        """From the ok reply to the join until the channel leaves, stops or its connection
        closes."""
        ...

    def push(self, event: Event, payload: Payload) -> None:
        """Queue ``event`` for this channel's client (dropped once the channel ended)."""
        ...

    def reply_ref(self) -> ReplyRef:
        """The message being handled, for a deferred reply (only inside ``handle_in``)."""
        ...

    def reply(self, to: ReplyRef, reply: Reply) -> None: ...

    async def broadcast(self, event: Event, payload: Payload, *, include_self: bool) -> None:
        """To every subscriber of the topic, this channel included or not."""
        ...


class Channel:
    """Base class of application channels. Override the ``async`` callbacks you need."""

    topic: Topic
    """The topic this instance joined, e.g. ``"room:lobby"``."""
    join_ref: JoinRef
    socket: Socket
    """The connection's socket; ``socket.assigns`` holds what ``connect`` stored."""
    assigns: dict[str, Any]
    """This channel's own assigns, a copy of the socket's taken at join."""

    intercept: ClassVar[frozenset[Event]] = frozenset()
    """Broadcast events that go through :meth:`handle_out` instead of straight to the client.

    Use sparingly, as Phoenix advises: an intercepted event is handled once per subscriber
    (in each channel's mailbox, in order with its messages) instead of being encoded once
    for all. Other events keep the fastlane."""

    def __init__(self, context: ChannelContext) -> None:
        """Made by phxpy for each join, before :meth:`join`. A subclass that overrides it
        must call ``super().__init__(context)``."""
        self._context = context
        self.topic = context.topic
        self.join_ref = context.join_ref
        self.socket = context.socket
        self.assigns = dict(context.socket.assigns)

    @property
    def app(self) -> web.Application:
        """The aiohttp application the socket is mounted on (``self.app[KEY]``)."""
        return self.socket.app

    @property
    def endpoint(self) -> Endpoint:
        """The app's endpoint: broadcasts to other topics, ``endpoint.presence``."""
        return self.socket.endpoint

    @property
    def joined(self) -> bool:
        """True from the ok reply to the join until the channel ends."""
        return self._context.joined

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
        self._context.push(event, payload)

    async def broadcast(self, event: Event, payload: Payload) -> None:
        """Send ``event`` to every client joined to this topic, this one included."""
        await self._context.broadcast(event, payload, include_self=True)

    async def broadcast_from(self, event: Event, payload: Payload) -> None:
        """Send ``event`` to every client joined to this topic except this one."""
        await self._context.broadcast(event, payload, include_self=False)

    def reply_ref(self) -> ReplyRef:
        """Inside ``handle_in``: keep this, return ``None``, and answer later with
        :meth:`reply` (an asynchronous reply)."""
        return self._context.reply_ref()

    async def reply(self, to: ReplyRef, reply: Reply) -> None:
        """Answer a message whose :meth:`reply_ref` was kept."""
        self._context.reply(to, reply)
