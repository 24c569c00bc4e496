"""The ticket chat (``python -m server``) in its own process for a benchmark: started on a
free loopback port with the benchmark's keys, pinned to a core, watched from outside (CPU
time, a py-spy profile), stopped at the end."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from .sysinfo import cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Made afresh for each run: nothing signed by a benchmark is ever valid anywhere else.
SECRET = secrets.token_urlsafe(32)
SERVICE_KEY = secrets.token_urlsafe(32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running chat process."""

    proc: asyncio.subprocess.Process
    port: int
    profile: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    async def start_profile(self, output: Path | None) -> None:
        """py-spy, from now until :meth:`stop_profile` (when it is installed)."""
        venv = str(Path(sys.executable).parent)
        spy = shutil.which("py-spy") or shutil.which("py-spy", path=venv)
        if output is None or spy is None:
            return
        self.profile = await asyncio.create_subprocess_exec(
            spy,
            "record",
            "--pid",
            str(self.proc.pid),
            "--rate",
            "250",
            "--output",
            str(output),
            "--format",
            "raw",
            "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

    async def stop_profile(self) -> None:
        profile, self.profile = self.profile, None
        if profile is None or profile.returncode is not None:
            return
        profile.send_signal(signal.SIGINT)  # py-spy writes its output and exits
        with suppress(TimeoutError):
            await asyncio.wait_for(profile.wait(), 30)


@asynccontextmanager
async def run_server(
    database_url: str,
    core: int | None,
    env: dict[str, str] | None = None,
    *,
    root: Path = ROOT,
    log_prefix: str = "chat-bench-server-",
) -> AsyncIterator[Server]:
    """The chat from ``root`` on ``database_url``, pinned to ``core``, with ``env`` on top of
    the benchmark's keys; healthy when this yields, stopped (SIGTERM) when it returns."""
    port = free_port()
    full_env = {
        **os.environ,
        "PORT": str(port),
        "HOST": HOST,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "SERVICE_API_KEY": SERVICE_KEY,
        "PYTHONPATH": str(root),
        **(env or {}),
    }

    def pin() -> None:
        if core is not None:
            os.sched_setaffinity(0, {core})

    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed when the server stops
        "w", prefix=log_prefix, suffix=".log", delete=False
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server",
        cwd=root,
        env=full_env,
        stdout=log,
        stderr=log,
        preexec_fn=pin,
    )
    server = Server(proc, port)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                with suppress(aiohttp.ClientError):
                    async with http.get(f"{server.url}/healthz") as response:
                        if response.status == 200:
                            break
                if proc.returncode is not None:
                    raise RuntimeError(f"the server exited; see {log.name}")
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the server did not start; see {log.name}")
        yield server
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await server.stop_profile()
        log.close()
