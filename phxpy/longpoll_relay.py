"""LongPoll across nodes: how a request reaches the node that holds its session.

A LongPoll session lives in one process, but behind a load balancer without sticky sessions
its polls and posts land on any node. Each session id names its owner node; a node that gets
a request for another node's session hands it to a :class:`LongPollRelay`, which carries it
to the owner, has the owner's transport serve it, and brings the answer back (Phoenix does
the same over its PubSub). A mount takes a relay with ``SocketOptions.longpoll_relay``;
``phxpy.cluster`` has one on Redis.

Plain data and a protocol: no I/O here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

OWNER_SEPARATOR = "~"
"""Between the owner node and the random part of a session id (``<node>~<random>``):
unreserved in URLs, so tokens pass through ``encodeURIComponent`` unchanged."""


@dataclass(frozen=True, slots=True)
class ForwardedRequest:
    """A LongPoll request as the owner node needs it to serve it."""

    path: str
    """The mount's LongPoll path (``/socket/longpoll``): which transport serves it."""
    method: str
    session_id: str
    token: str
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class ForwardedResponse:
    """The owner's answer, sent back as it is."""

    status: int
    body: bytes
    content_type: str = "application/json"


ForwardedHandler = Callable[[ForwardedRequest], Awaitable[ForwardedResponse] | None]
"""The owner's side: ``None`` at once when it has no such session (the asking node then
answers as for a dead session), else the answer to come (a poll waits for messages)."""


class LongPollRelay(Protocol):
    @property
    def node(self) -> str:
        """This node's name in session ids: URL-safe base64 characters, no ``~``."""
        ...

    def serve(self, path: str, handler: ForwardedHandler) -> None:
        """Have requests forwarded to this node for ``path`` served by ``handler``."""
        ...

    async def forward(self, node: str, request: ForwardedRequest) -> ForwardedResponse | None:
        """Serve ``request`` on ``node``. ``None`` when the owner did not confirm the
        session in time (Phoenix waits 2 s): it is gone, or its node is."""
        ...


def session_owner(session_id: str) -> str | None:
    """The node named in a session id, or ``None`` for an id that names none."""
    node, separator, _ = session_id.rpartition(OWNER_SEPARATOR)
    return node if separator and node else None
