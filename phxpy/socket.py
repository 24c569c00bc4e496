"""The socket: authenticates a connection and routes its topics to channels.

::

    class UserSocket(Socket):
        channels = [("room:*", RoomChannel)]

        async def connect(self, params, connect_info):
            users = self.app[USERS]                       # whatever the app stored
            user = await users.check_token(params.get("token") or connect_info.auth_token)
            if user is None:
                return False                              # HTTP 403, as in Phoenix
            self.assigns["user_id"] = user.id
            return True

        def id(self):
            return f"users_socket:{self.assigns['user_id']}"

One instance per connection, made by the transport before ``connect``; it knows its aiohttp
application (``self.app``), its endpoint and its transport. The routes are a class attribute,
so a subclass inherits its parent's and may extend them
(``channels = [*UserSocket.channels, ("admin:*", AdminChannel)]``). This module does not know
what a channel is: :func:`phxpy.mount` checks that every route names a
:class:`~phxpy.channel.Channel` subclass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .endpoint import Endpoint
from .types import Params, Topic

if TYPE_CHECKING:  # only the types: sockets do no HTTP themselves
    from aiohttp import web


@dataclass(frozen=True, slots=True)
class ConnectInfo:
    """What ``connect`` may look at besides the params."""

    transport: str
    """``"websocket"``, ``"longpoll"`` (or ``"test"`` in :mod:`phxpy.testing`)."""
    peer: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    auth_token: str | None = None
    """phoenix.js 1.8's ``authToken`` (WebSocket sub-protocol or ``X-Phoenix-AuthToken``)."""
    uri: str = ""
    request: web.Request | None = None
    """The HTTP request that opens the connection (the WebSocket upgrade, or the LongPoll
    GET that starts the session); ``None`` in :mod:`phxpy.testing`."""


EXPIRED = 4401
"""The default close code of an expired connection: 4000 + HTTP's 401 (an application
code, as GraphQL over WebSocket uses it), which a client reads in its close event."""


@dataclass(frozen=True, slots=True)
class Expiry:
    """When and how a connection ends (see :meth:`Socket.expire_in`)."""

    at: float
    """On the endpoint's clock."""
    code: int
    reason: str


Route = tuple[str, type]
"""``(pattern, channel class)``: an exact topic, or a prefix ending in ``*``."""


class Socket:
    """Subclass it, list its ``channels``, override :meth:`connect` and :meth:`id`."""

    channels: ClassVar[Sequence[Route]] = ()
    """The routes, first match wins: ``[("room:*", RoomChannel), ("lobby", Lobby)]``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for route in cls.channels:
            if not (isinstance(route, tuple) and len(route) == 2 and isinstance(route[0], str)):
                raise TypeError(f"{cls.__name__}.channels: {route!r} is not (pattern, channel)")
            if "*" in route[0][:-1]:
                raise ValueError(f"a wildcard may only end a topic pattern: {route[0]!r}")

    def __init__(self, endpoint: Endpoint, transport: str, app: web.Application) -> None:
        self.endpoint = endpoint
        self.transport = transport
        self.app = app
        """The aiohttp application the socket is mounted on: ``self.app[KEY]`` reaches
        whatever the app stored (a database pool, settings)."""
        self.assigns: dict[str, Any] = {}
        self.expiry: Expiry | None = None

    @classmethod
    def route(cls, topic: Topic) -> type | None:
        """The channel class for ``topic``, or ``None``."""
        for pattern, channel in cls.channels:
            if pattern.endswith("*"):
                if topic.startswith(pattern[:-1]):
                    return channel
            elif topic == pattern:
                return channel
        return None

    @classmethod
    def is_routable(cls, topic: Topic) -> bool:
        return cls.route(topic) is not None

    async def connect(self, params: Params, connect_info: ConnectInfo) -> bool:
        """Accept (``True``) or refuse (``False`` → HTTP 403) a connection. Raise
        :class:`~phxpy.errors.ConnectRefused` to refuse with another status."""
        return True

    def expire_in(self, seconds: float, *, code: int = EXPIRED, reason: str = "expired") -> None:
        """Close this connection ``seconds`` from now. Call it from :meth:`connect` with
        the time left on the credential that authenticated the connection (a token's
        expiry), so that the connection lives no longer than its credential. A WebSocket
        client sees ``code`` in its close event (phoenix.js: ``socket.onClose``), then
        reconnects; a LongPoll session ends, and the next poll runs ``connect`` again."""
        self.expiry = Expiry(self.endpoint.clock.now() + max(0.0, seconds), code, reason)

    def id(self) -> str | None:
        """The socket id (e.g. ``"users_socket:42"``): ``Endpoint.disconnect(id)`` closes
        every connection that has it. ``None``: anonymous."""
        return None
