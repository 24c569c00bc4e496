"""Mount phxpy sockets on an aiohttp application.

::

    app = web.Application()
    endpoint = phxpy.mount(app, "/socket", UserSocket, check_origin=["https://example.com"])
    ...
    await endpoint.broadcast("room:lobby", "new_msg", {"body": "hi"})   # from any handler
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .endpoint import Endpoint
from .options import SocketOptions
from .socket import Socket
from .transports.websocket import WebSocketTransport

ENDPOINT = web.AppKey("phxpy.endpoint", Endpoint)


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
    enabled). Returns the app's :class:`Endpoint`, created on first use.

    Keyword arguments override fields of :class:`SocketOptions`.
    """
    if options is None:
        options = SocketOptions(**overrides)
    elif overrides:
        raise TypeError("pass either options= or keyword overrides, not both")
    existing = app.get(ENDPOINT)
    if endpoint is None:
        endpoint = existing if existing is not None else Endpoint()
    if existing is None:
        app[ENDPOINT] = endpoint
        _manage_lifetime(app, endpoint, options)
    base = path.rstrip("/")
    if options.websocket:
        transport = WebSocketTransport(endpoint, socket, options)
        app.router.add_route("*", f"{base}/websocket", transport.handle)
    if options.longpoll:
        from .transports.longpoll import LongPollTransport

        longpoll = LongPollTransport(endpoint, socket, options)
        app.router.add_route("*", f"{base}/longpoll", longpoll.handle)

        async def close_longpoll(_: web.Application) -> None:
            await longpoll.close()

        app.on_cleanup.append(close_longpoll)
    return endpoint


def _manage_lifetime(app: web.Application, endpoint: Endpoint, options: SocketOptions) -> None:
    sweep_every = max(1.0, (options.idle_timeout or 60.0) / 4)

    async def start(_: web.Application) -> None:
        endpoint.start(sweep_every)

    async def shutdown(_: web.Application) -> None:
        await endpoint.shutdown()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
