"""Publish/subscribe of broadcasts, with Phoenix's fastlane.

A :class:`Broadcast` is encoded lazily, once per serializer in use, and the very same
:class:`~phxpy.message.Frame` goes to every subscriber of that serializer. Subscribers are
called synchronously and must not block (channel subscribers write to a bounded outbound
queue), so one slow client never stalls the others.

:class:`PubSub` is what the rest of phxpy relies on. :class:`LocalPubSub` delivers within
this process; a multi-node implementation (e.g. Redis) publishes in ``broadcast`` and calls
``deliver_local`` when a message arrives from the wire, leaving channels untouched.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from .errors import EncodeError
from .message import Frame, RawJSON
from .serializer import Serializer
from .types import Event, Payload, Topic

log = logging.getLogger("phxpy.pubsub")


class Broadcast:
    """One broadcast, with its encodings cached per serializer."""

    __slots__ = ("_frames", "event", "origin", "payload", "topic")

    def __init__(self, topic: Topic, event: Event, payload: Payload, origin: Any = None) -> None:
        self.topic = topic
        self.event = event
        self.payload = payload
        self.origin = origin
        """The subscriber that must not receive it (``broadcast_from``), or ``None``."""
        self._frames: dict[Serializer, Frame | None] = {}

    def frame_for(self, serializer: Serializer) -> Frame | None:
        """The encoded frame for ``serializer``, or ``None`` if it cannot carry it."""
        try:
            return self._frames[serializer]
        except KeyError:
            pass
        frame: Frame | None
        try:
            frame = serializer.encode_broadcast(self.topic, self.event, self.payload)
        except EncodeError as exc:
            log.warning(
                "broadcast %r on %r not sent to %s clients: %s",
                self.event,
                self.topic,
                serializer.vsn,
                exc,
            )
            frame = None
        self._frames[serializer] = frame
        return frame

    def decoded_payload(self) -> Payload:
        """The payload as ``Channel.handle_out`` sees it: a :class:`RawJSON` one (encoded
        once by the app, or once for a whole cluster) decoded into its value."""
        payload = self.payload
        return payload.decode() if isinstance(payload, RawJSON) else payload


class Subscriber(Protocol):
    def deliver(self, broadcast: Broadcast) -> None:
        """Called synchronously for each broadcast on a subscribed topic. Must not block."""
        ...


class PubSub(Protocol):
    def subscribe(self, topic: Topic, subscriber: Subscriber) -> None: ...

    def unsubscribe(self, topic: Topic, subscriber: Subscriber) -> None: ...

    async def broadcast(
        self, topic: Topic, event: Event, payload: Payload, origin: Any = None
    ) -> None:
        """Deliver to every subscriber of ``topic`` (on every node), except ``origin``."""
        ...

    def subscriber_count(self, topic: Topic) -> int: ...


class LocalPubSub:
    """In-process pub/sub."""

    def __init__(self) -> None:
        self._topics: dict[Topic, dict[Subscriber, None]] = {}

    def subscribe(self, topic: Topic, subscriber: Subscriber) -> None:
        self._topics.setdefault(topic, {})[subscriber] = None

    def unsubscribe(self, topic: Topic, subscriber: Subscriber) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is not None:
            subscribers.pop(subscriber, None)
            if not subscribers:
                del self._topics[topic]

    async def broadcast(
        self, topic: Topic, event: Event, payload: Payload, origin: Any = None
    ) -> None:
        self.deliver_local(Broadcast(topic, event, payload, origin))

    def deliver_local(self, broadcast: Broadcast) -> None:
        """Hand ``broadcast`` to this node's subscribers."""
        subscribers = self._topics.get(broadcast.topic)
        if not subscribers:
            return
        origin = broadcast.origin
        # A snapshot: a subscriber may unsubscribe itself while we iterate.
        for subscriber in tuple(subscribers):
            if subscriber is not origin:
                subscriber.deliver(broadcast)

    def subscriber_count(self, topic: Topic) -> int:
        return len(self._topics.get(topic, ()))
