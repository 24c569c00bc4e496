"""The socket protocol as a state machine that does no I/O (sans-I/O, like h11).

One :class:`SocketProtocol` per connection (WebSocket) or session (LongPoll). The transport
feeds it frames with :meth:`~SocketProtocol.receive_text` / :meth:`~SocketProtocol.receive_binary`
and gets back the events that need the application (a join to run, a message for a channel,
a leave). Whatever the protocol answers by itself — heartbeats, "unmatched topic", leaves of
topics never joined, the ordering of ``phx_close`` after a duplicate join — it queues as
frames; the caller **must** then call :meth:`~SocketProtocol.data_to_send` and send them, in
order. The caller reports what the application decided through the ``join_*``, ``reply``,
``push`` and ``channel_*`` methods, which queue frames the same way.

Time is an argument (``now``); the protocol never reads a clock.

Per-topic states (one channel per topic)::

    (absent) --phx_join--> JOINING --join_accepted--> JOINED
                           JOINING --join_refused---> (absent)
    JOINED --phx_leave / channel_closed / channel_crashed / channel_exited--> (absent)
    JOINED --phx_join (duplicate)--> JOINING   (phx_close for the old join_ref follows the reply)
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import PhxError
from .message import (
    HEARTBEAT,
    PHOENIX_TOPIC,
    PHX_CLOSE,
    PHX_ERROR,
    PHX_JOIN,
    PHX_LEAVE,
    Frame,
    Message,
    reply,
)
from .serializer import Serializer
from .types import Event, JoinRef, Payload, Ref, Topic

UNMATCHED_TOPIC = {"reason": "unmatched topic"}
TOO_MANY_CHANNELS = {"reason": "too many channels joined"}
JOIN_CRASHED = {"reason": "join crashed"}
CHANNEL_CRASH = {"reason": "channel_crash"}


class ChannelState(enum.Enum):
    JOINING = "joining"
    JOINED = "joined"


@dataclass(frozen=True, slots=True)
class JoinRequested:
    """Run the channel's join for ``topic``, then call ``join_accepted`` or ``join_refused``.

    ``replaced``: a channel is already on this topic (a duplicate join); the caller must stop
    it without running its terminate hook, as Phoenix does.
    """

    topic: Topic
    join_ref: JoinRef
    ref: Ref
    payload: Payload
    replaced: bool = False


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """An ordinary event for the joined channel of ``topic`` (join_ref already checked)."""

    topic: Topic
    event: Event
    payload: Payload
    ref: Ref
    join_ref: JoinRef
    """The channel's join_ref, to stamp on replies (a message may come with ``null``)."""


@dataclass(frozen=True, slots=True)
class LeaveRequested:
    """The client left ``topic``. The topic is already free; once the channel has handled
    what was queued before the leave, reply ok (``reply``), terminate it, call ``leave_done``."""

    topic: Topic
    join_ref: JoinRef
    ref: Ref


ProtocolEvent = JoinRequested | MessageReceived | LeaveRequested


@dataclass(slots=True)
class _Channel:
    join_ref: JoinRef
    state: ChannelState
    replaced_join_ref: JoinRef | None = None
    replaced: bool = False


class SocketProtocol:
    """Per-connection protocol state. See the module docstring for the contract."""

    def __init__(
        self,
        serializer: Serializer,
        is_routable: Callable[[Topic], bool],
        *,
        now: float = 0.0,
        idle_timeout: float | None = 60.0,
        max_channels: int | None = 100,
    ) -> None:
        self.serializer = serializer
        self._is_routable = is_routable
        self._channels: dict[Topic, _Channel] = {}
        self._outgoing: list[Frame] = []
        self._idle_timeout = idle_timeout
        self._max_channels = max_channels
        self.last_received = now

    # ----------------------------------------------------------------- input

    def receive_text(self, text: str, now: float) -> list[ProtocolEvent]:
        """Handle one text frame. Raises :class:`~phxpy.errors.InvalidMessage`."""
        self.last_received = now
        return self._dispatch(self.serializer.decode_text(text))

    def receive_binary(self, data: bytes, now: float) -> list[ProtocolEvent]:
        """Handle one binary frame. Raises :class:`~phxpy.errors.InvalidMessage`."""
        self.last_received = now
        return self._dispatch(self.serializer.decode_binary(data))

    def touch(self, now: float) -> None:
        """Note activity that carries no message (a WebSocket ping, a LongPoll poll)."""
        self.last_received = now

    def _dispatch(self, msg: Message) -> list[ProtocolEvent]:
        topic, event = msg.topic, msg.event
        if event == HEARTBEAT and topic == PHOENIX_TOPIC:
            self._send(reply(topic, "ok", {}, msg.ref, None))
            return []
        if event == PHX_JOIN:
            return self._join(msg)
        channel = self._channels.get(topic)
        if event == PHX_LEAVE:
            if channel is None:
                self._send(reply(topic, "ok", {}, msg.ref, msg.join_ref))
                return []
            if msg.join_ref is not None and msg.join_ref != channel.join_ref:
                return []  # a leave that raced a server-side close: ignored, no reply
            del self._channels[topic]
            return [LeaveRequested(topic, channel.join_ref, msg.ref)]
        if channel is None:
            self._send(reply(topic, "error", UNMATCHED_TOPIC, msg.ref, None))
            return []
        if msg.join_ref is not None and msg.join_ref != channel.join_ref:
            return []  # stale join_ref: a message for an earlier incarnation, dropped
        return [MessageReceived(topic, event, msg.payload, msg.ref, channel.join_ref)]

    def _join(self, msg: Message) -> list[ProtocolEvent]:
        topic = msg.topic
        old = self._channels.get(topic)
        if old is None:
            if not self._is_routable(topic):
                self._send(reply(topic, "error", UNMATCHED_TOPIC, msg.ref, None))
                return []
            if self._max_channels is not None and len(self._channels) >= self._max_channels:
                self._send(reply(topic, "error", TOO_MANY_CHANNELS, msg.ref, msg.join_ref))
                return []
        self._channels[topic] = _Channel(
            msg.join_ref,
            ChannelState.JOINING,
            replaced_join_ref=old.join_ref if old else None,
            replaced=old is not None,
        )
        return [
            JoinRequested(
                topic,
                msg.join_ref,
                msg.ref,
                msg.payload,
                replaced=old is not None,
            )
        ]

    # ---------------------------------------------------------------- output

    def join_accepted(self, topic: Topic, join_ref: JoinRef, ref: Ref, response: Any) -> None:
        """The channel accepted the join: reply ok, then close the channel it replaced."""
        channel = self._joining(topic, join_ref)
        self._send(reply(topic, "ok", response, ref, join_ref))
        channel.state = ChannelState.JOINED
        self._close_replaced(topic, channel)

    def join_refused(self, topic: Topic, join_ref: JoinRef, ref: Ref, response: Any) -> None:
        """The channel refused (or crashed in) its join: reply error; the topic stays free."""
        channel = self._joining(topic, join_ref)
        del self._channels[topic]
        self._send(reply(topic, "error", response, ref, join_ref))
        self._close_replaced(topic, channel)

    def reply(self, topic: Topic, join_ref: JoinRef, ref: Ref, status: str, response: Any) -> None:
        """A reply from a channel to one of its messages (possibly later: an async reply)."""
        self._send(reply(topic, status, response, ref, join_ref))

    def push(self, topic: Topic, join_ref: JoinRef, event: Event, payload: Payload) -> None:
        """A message from a channel to its client only."""
        self._send(Message(topic, event, payload, None, join_ref))

    def leave_done(self, topic: Topic, join_ref: JoinRef) -> None:
        """The channel that was left has replied ok to the leave and terminated: ``phx_close``."""
        self._send(Message(topic, PHX_CLOSE, {}, join_ref, join_ref))

    def channel_closed(self, topic: Topic, join_ref: JoinRef) -> None:
        """The channel stopped normally: ``phx_close``; the client will not rejoin."""
        self._forget(topic, join_ref)
        self._send(Message(topic, PHX_CLOSE, {}, join_ref, join_ref))

    def channel_crashed(self, topic: Topic, join_ref: JoinRef) -> None:
        """The channel failed: ``phx_error`` to this topic only; the client rejoins."""
        self._forget(topic, join_ref)
        self._send(Message(topic, PHX_ERROR, CHANNEL_CRASH, join_ref, join_ref))

    def channel_exited(self, topic: Topic, join_ref: JoinRef) -> None:
        """The channel is gone without a word to the client (e.g. the connection closed)."""
        self._forget(topic, join_ref)

    def data_to_send(self) -> list[Frame]:
        """Frames queued since the last call, in the order they must be sent."""
        frames, self._outgoing = self._outgoing, []
        return frames

    # ----------------------------------------------------------------- state

    def idle_expired(self, now: float) -> bool:
        """True when nothing was received for longer than the idle timeout."""
        timeout = self._idle_timeout
        return timeout is not None and now - self.last_received > timeout

    def state(self, topic: Topic) -> ChannelState | None:
        channel = self._channels.get(topic)
        return channel.state if channel else None

    # --------------------------------------------------------------- helpers

    def _send(self, message: Message) -> None:
        self._outgoing.append(self.serializer.encode(message))

    def _joining(self, topic: Topic, join_ref: JoinRef) -> _Channel:
        channel = self._channels.get(topic)
        if (
            channel is None
            or channel.state is not ChannelState.JOINING
            or channel.join_ref != join_ref
        ):
            raise PhxError(f"no join in progress for {topic!r} with join_ref {join_ref!r}")
        return channel

    def _close_replaced(self, topic: Topic, channel: _Channel) -> None:
        if channel.replaced:
            old = channel.replaced_join_ref
            channel.replaced = False
            self._send(Message(topic, PHX_CLOSE, {}, old, old))

    def _forget(self, topic: Topic, join_ref: JoinRef) -> None:
        channel = self._channels.get(topic)
        if (
            channel is not None
            and channel.join_ref == join_ref
            and channel.state is ChannelState.JOINED
        ):
            del self._channels[topic]
