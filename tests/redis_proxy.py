"""A TCP proxy in front of a real Redis that loses every Nth broadcast a node publishes.

It reads the commands the node sends (RESP arrays of bulk strings) and rewrites every
``every``-th ``PUBLISH`` on the cluster's shared channel to a channel nobody listens on:
Redis answers it as usual (0 receivers), so the node sees a publish that succeeded and
was lost, which is what a Redis restart does to messages in flight. Replies pass unchanged.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from tests.server.server_process import HOST

SHARED = b"phxpy:ticket-chat"
NOWHERE = b"phxpy:nobody-listens"


class DroppingRedisProxy:
    def __init__(self, redis_port: int, *, every: int) -> None:
        self.redis_port = redis_port
        self.every = every
        self.published = 0
        self.dropped = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.redis_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._commands(reader, up_writer), _copy(up_reader, writer))

    async def _commands(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readline()
                if not header:
                    break
                if not header.startswith(b"*"):
                    writer.write(header)  # an inline command: passed as it is
                    continue
                parts = []
                for _ in range(int(header[1:])):
                    size = int((await reader.readline())[1:])
                    parts.append((await reader.readexactly(size + 2))[:-2])
                if len(parts) == 3 and parts[0].upper() == b"PUBLISH" and parts[1] == SHARED:
                    self.published += 1
                    if self.published % self.every == 0:
                        self.dropped += 1
                        parts[1] = NOWHERE
                writer.write(_command(parts))
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


def _command(parts: list[bytes]) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out += [b"$%d\r\n" % len(part), part, b"\r\n"]
    return b"".join(out)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with suppress(OSError):
            writer.close()
