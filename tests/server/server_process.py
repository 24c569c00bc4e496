"""``python -m server`` as a real process on a loopback port, for tests that must kill it,
restart it, or run several of them."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from tests.server.api_client import SECRET_KEY, SERVICE_KEY

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log
        self.ready = asyncio.Event()
        self._reader = asyncio.create_task(self._read_output())

    async def _read_output(self) -> None:
        """Keep the output in the log file; ``ready`` once aiohttp says it is listening."""
        assert self.process.stdout is not None
        with self.log.open("ab") as log:
            while line := await self.process.stdout.readline():
                log.write(line)
                log.flush()
                if b"Running on" in line:
                    self.ready.set()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def socket_url(self) -> str:
        return f"ws://{HOST}:{self.port}/socket"

    def kill(self) -> None:
        """``kill -9``: no chance to finish anything."""
        with suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process.returncode is None:
            with suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.kill()
                await self.process.wait()
        await self._reader

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _limit_open_files(count: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))

    return limit


@asynccontextmanager
async def server_process(
    database_url: str,
    log_dir: Path,
    *,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 30.0,
    open_files: int | None = None,
) -> AsyncIterator[ServerProcess]:
    """Start the service and wait until it listens; stop it afterwards (if the test has not
    killed it). ``open_files``: the process's open-file limit (soft and hard)."""
    port = port or free_port()
    log = log_dir / f"server-{port}.log"
    environment = {
        **os.environ,
        "HOST": HOST,
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "SERVICE_API_KEY": SERVICE_KEY,
        "BCRYPT_ROUNDS": "4",
        # Stopping closes the sockets at once unless a test is about the drain.
        "SHUTDOWN_DRAIN_SECONDS": "0",
        **(env or {}),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-u",
        "-m",
        "server",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        preexec_fn=None if open_files is None else _limit_open_files(open_files),
    )
    server = ServerProcess(process, port, log)
    try:
        exited = asyncio.ensure_future(process.wait())
        ready = asyncio.ensure_future(server.ready.wait())
        await asyncio.wait({exited, ready}, timeout=ready_timeout, return_when="FIRST_COMPLETED")
        ready.cancel()
        if not server.ready.is_set():
            raise AssertionError(f"the server did not start:\n{server.output()}")
        exited.cancel()
        yield server
    finally:
        await server.stop()
