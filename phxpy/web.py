"""Mount phxpy sockets on an aiohttp application.

::

    app = web.Application()
    app[DB] = database                   # channels and sockets reach it as self.app[DB]
    endpoint = phxpy.mount(app, "/socket", UserSocket, check_origin=["https://example.com"])
    ...
    await endpoint.broadcast("room:lobby", "new_msg", {"body": "hi"})   # from any handler

An application has one :class:`~phxpy.endpoint.Endpoint` (``app[phxpy.ENDPOINT]``), made by
the first ``mount``; every later mount on the app shares it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .channel_server import check_routes
from .endpoint import Endpoint
from .options import SocketOptions
from .socket import Socket
from .transports.longpoll import LongPollTransport
from .transports.websocket import WebSocketTransport

ENDPOINT = web.AppKey("phxpy.endpoint", Endpoint)

MIN_SWEEP_INTERVAL = 1.0


def mount(
    app: web.Application,
    path: str,
    socket: type[Socket],
    *,
    endpoint: Endpoint | None = None,
    options: SocketOptions | None = None,
    **overrides: Any,
) -> Endpoint:
    """Serve ``socket`` at ``path`` (``<path>/websocket``, and ``<path>/longpoll`` when
    enabled). Returns the app's :class:`Endpoint`: ``endpoint`` if given (only the first
    mount of an app may give one), else the one an earlier mount made, else a new one.

    Keyword arguments override fields of :class:`SocketOptions`. Raises :class:`TypeError`
    when a route of ``socket`` is not a :class:`~phxpy.channel.Channel` subclass, and
    :class:`ValueError` when the app already has another endpoint.
    """
    if options is None:
        options = SocketOptions(**overrides)
    elif overrides:
        raise TypeError("pass either options= or keyword overrides, not both")
    check_routes(socket)
    existing = app.get(ENDPOINT)
    if existing is None:
        endpoint = endpoint if endpoint is not None else Endpoint()
        app[ENDPOINT] = endpoint
        _manage_lifetime(app, endpoint)
    elif endpoint is None or endpoint is existing:
        endpoint = existing
    else:
        # Its connections would be neither swept nor closed at shutdown, and
        # app[ENDPOINT] would name the other one.
        raise ValueError(
            "this app already has an endpoint: mount every socket of an app with the same "
            "one (pass it to the first mount, or no endpoint= at all)"
        )
    if options.idle_timeout is not None:
        endpoint.sweep_at_least_every(max(MIN_SWEEP_INTERVAL, options.idle_timeout / 4))
    base = path.rstrip("/")
    if options.websocket:
        transport = WebSocketTransport(endpoint, socket, options)
        app.router.add_route("*", f"{base}/websocket", transport.handle)
    if options.longpoll:
        longpoll = LongPollTransport(endpoint, socket, options, path=f"{base}/longpoll")
        app.router.add_route("*", f"{base}/longpoll", longpoll.handle)

        async def close_longpoll(_: web.Application) -> None:
            await longpoll.close()

        app.on_cleanup.append(close_longpoll)
    return endpoint


def _manage_lifetime(app: web.Application, endpoint: Endpoint) -> None:
    async def start(_: web.Application) -> None:
        endpoint.start()

    async def shutdown(_: web.Application) -> None:
        await endpoint.shutdown()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
