"""Small load balancers for the cluster tests, on loopback ports.

* :class:`TcpBalancer`: each new TCP connection goes to the next live backend, round-robin
  (WebSockets, and failover: a backend taken out gets no new connections).
* :class:`HttpBalancer`: each HTTP request goes to the next backend, whatever connection it
  came on: no sticky sessions at all, as LongPoll behind a plain round-robin proxy meets it.
"""

from __future__ import annotations

import asyncio
import itertools
from contextlib import suppress

import aiohttp
from aiohttp import web

from tests.server.server_process import HOST

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


class TcpBalancer:
    def __init__(self, backends: list[int]) -> None:
        self.backends = list(backends)
        self.down: set[int] = set()
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def take_out(self, port: int) -> None:
        self.down.add(port)

    def _next(self) -> int:
        live = [port for port in self.backends if port not in self.down]
        return live[next(self._turn) % len(live)]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self._next())
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


class HttpBalancer:
    def __init__(self, backends: list[int]) -> None:
        self.backends = list(backends)
        self.served: dict[int, int] = {port: 0 for port in backends}
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._proxy)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def _proxy(self, request: web.Request) -> web.Response:
        assert self._http is not None
        port = self.backends[next(self._turn) % len(self.backends)]
        self.served[port] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read()
        try:
            async with self._http.request(
                request.method,
                f"http://{HOST}:{port}{request.path_qs}",
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as answer:
                data = await answer.read()
                out = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=answer.status, body=data, headers=out)
        except aiohttp.ClientError:
            return web.Response(status=502)

    async def close(self) -> None:
        # The upstream session first: held polls end at once instead of holding the
        # runner's cleanup for their whole window.
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()
