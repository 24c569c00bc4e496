"""A redis-server of one benchmark run, on a free loopback port, with no persistence."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile

from .sysinfo import cpu_seconds

HOST = "127.0.0.1"


class Redis:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> str:
        """Start it; its URL once it accepts connections."""
        if shutil.which("redis-server") is None:
            raise SystemExit("this benchmark needs redis-server (apt-get install redis-server)")
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.proc = await asyncio.create_subprocess_exec(
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
            stdout=asyncio.subprocess.DEVNULL,
        )
        for _ in range(250):
            try:
                _, writer = await asyncio.open_connection(HOST, self.port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.02)
        return f"redis://{HOST}:{self.port}/0"

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid) if self.proc is not None else 0.0

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
