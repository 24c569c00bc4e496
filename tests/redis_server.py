"""A real ``redis-server`` on a loopback port, started and stopped by the test that needs it.

Nothing is written to disk (``--save ''``, ``--appendonly no``): the cluster keeps nothing in
Redis that the database does not hold. :meth:`RedisServer.kill` and :meth:`RedisServer.start`
let a test take Redis away and bring it back on the same port. Only the process this module
started is ever signalled.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import pytest

from tests.server.server_process import HOST, free_port

BINARY = "redis-server"
ENV_VAR = "TEST_REDIS_URL"
"""A Redis the whole run shares (``.ci/run`` starts one), for tests that do not stop it."""


def missing_reason() -> str | None:
    if shutil.which(BINARY) is None:
        return "redis-server is not installed (apt-get install redis-server; .ci/run does)"
    return None


class RedisServer:
    def __init__(self, port: int, log: Path, options: tuple[str, ...] = ()) -> None:
        self.port = port
        self.log = log
        self.options = options
        """More redis-server options (``--requirepass``, say)."""
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    async def start(self, timeout: float = 10.0) -> None:
        """Start (again) on this port and wait until it answers PING."""
        assert self.process is None or self.process.returncode is not None
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                BINARY,
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                *self.options,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        async with asyncio.timeout(timeout):
            while not await self._pong():
                if self.process.returncode is not None:
                    raise AssertionError(f"redis-server exited:\n{self.log.read_text()}")
                await asyncio.sleep(0.02)

    async def _pong(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection(HOST, self.port)
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            # Up: it answers, even if only to say that it wants a password.
            return (await reader.readline()).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False
        finally:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    async def kill(self) -> None:
        """``kill -9``: connections drop, everything in flight is lost."""
        process = self.process
        if process is not None and process.returncode is None:
            with suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
            await process.wait()

    async def stop(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            with suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                await self.kill()


@asynccontextmanager
async def redis_server(log_dir: Path, *options: str) -> AsyncIterator[RedisServer]:
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = RedisServer(free_port(), log_dir / "redis.log", options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def shared_redis_url(log_dir: Path) -> AsyncIterator[str]:
    """``TEST_REDIS_URL`` when set (tests then keep apart by their own channel names),
    else a redis-server of the test's own."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        yield configured
        return
    async with redis_server(log_dir) as server:
        yield server.url
