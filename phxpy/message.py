"""The message model and the reserved names of the Phoenix protocol.

Everything here is plain data: no I/O, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .types import Event, JoinRef, Payload, Ref, Topic

PHOENIX_TOPIC = "phoenix"
HEARTBEAT = "heartbeat"
PHX_JOIN = "phx_join"
PHX_LEAVE = "phx_leave"
PHX_REPLY = "phx_reply"
PHX_CLOSE = "phx_close"
PHX_ERROR = "phx_error"


@dataclass(frozen=True, slots=True)
class Message:
    """One frame of the protocol, in either direction.

    ``ref`` is chosen by the client and echoed in replies; ``join_ref`` names the join a
    message belongs to. Both are ``None`` in broadcasts.
    """

    topic: Topic
    event: Event
    payload: Payload
    ref: Ref = None
    join_ref: JoinRef = None


def reply(topic: Topic, status: str, response: Any, ref: Ref, join_ref: JoinRef) -> Message:
    """A ``phx_reply``: payload ``{"response": ..., "status": ...}`` (Phoenix's key order)."""
    return Message(topic, PHX_REPLY, {"response": response, "status": status}, ref, join_ref)


@dataclass(frozen=True, slots=True)
class RawJSON:
    """A push or broadcast payload that is already encoded: a JSON object as UTF-8 bytes.

    The serializers splice ``data`` into the frame as it is instead of encoding a value,
    so a big payload built from cached pieces (Presence's ``presence_state``, pushed to
    every joiner of a room) is not encoded again for each client. Nothing checks ``data``:
    it must be a JSON object, written as :func:`phxpy.serializer.json_dumps` would (compact,
    keys sorted) if frames are to stay byte for byte as Phoenix's. A whole payload can be
    raw, and so can a reply's response (``Ok(RawJSON(...))``); nested anywhere else it is
    not JSON-serializable and raises :class:`~phxpy.errors.EncodeError`.
    """

    data: bytes

    def decode(self) -> Any:
        """The payload as a client decodes it (for tests and ``handle_out``)."""
        return json.loads(self.data)


class Frame:
    """An encoded message, ready for any transport.

    ``data`` holds UTF-8 text or, when ``binary`` is true, a V2 binary frame. ``wire`` is a
    slot where a transport caches its own framing: a broadcast is encoded once per
    serializer and the very same ``Frame`` object is handed to every subscriber, so the
    WebSocket framing is computed once too.
    """

    __slots__ = ("binary", "data", "wire")

    def __init__(self, data: bytes, binary: bool = False) -> None:
        self.data = data
        self.binary = binary
        self.wire: bytes | None = None

    def text(self) -> str:
        return self.data.decode("utf-8")

    def __repr__(self) -> str:
        kind = "binary" if self.binary else "text"
        return f"Frame({kind}, {self.data[:80]!r})"
