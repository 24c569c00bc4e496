"""The socket: authenticates a connection and routes topics to channels.

::

    class UserSocket(Socket):
        async def connect(self, params, connect_info):
            user = await check_token(params.get("token") or connect_info.auth_token)
            if user is None:
                return False                      # HTTP 403, as in Phoenix
            self.assigns["user_id"] = user.id
            return True

        def id(self):
            return f"users_socket:{self.assigns['user_id']}"

    UserSocket.channel("room:*", RoomChannel)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .types import Params, Topic

if TYPE_CHECKING:
    from .channel import Channel
    from .endpoint import Endpoint


@dataclass(frozen=True, slots=True)
class ConnectInfo:
    """What ``connect`` may look at besides the params."""

    transport: str
    """``"websocket"`` or ``"longpoll"``."""
    peer: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    auth_token: str | None = None
    """phoenix.js 1.8's ``authToken`` (WebSocket sub-protocol or ``X-Phoenix-AuthToken``)."""
    uri: str = ""


class Socket:
    """Subclass it, override :meth:`connect` and :meth:`id`, register channels."""

    _routes: ClassVar[list[tuple[str, type[Channel]]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._routes = list(cls._routes)  # each subclass its own table (starting from its parent's)

    def __init__(self, endpoint: Endpoint, transport: str) -> None:
        self.endpoint = endpoint
        self.transport = transport
        self.assigns: dict[str, Any] = {}

    @classmethod
    def channel(cls, pattern: str, channel: type[Channel]) -> None:
        """Route topics to ``channel``: an exact topic, or a prefix ending in ``*``.
        The first registered match wins."""
        if "*" in pattern[:-1]:
            raise ValueError(f"a wildcard may only end a topic pattern: {pattern!r}")
        cls._routes.append((pattern, channel))

    @classmethod
    def route(cls, topic: Topic) -> type[Channel] | None:
        for pattern, channel in cls._routes:
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

    def id(self) -> str | None:
        """The socket id (e.g. ``"users_socket:42"``): ``Endpoint.disconnect(id)`` closes
        every connection that has it. ``None``: anonymous."""
        return None
