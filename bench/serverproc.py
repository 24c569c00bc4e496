"""Start a bench server in its own process, pinned to one core, and watch it from outside."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from .sysinfo import core_seconds, cpu_seconds, rss_kib

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


class LoadProbe:
    """Over a window: the server's CPU time, and how busy its core was with other work."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.cpu0 = server.cpu_seconds()
        self.busy0, self.total0 = core_seconds(server.core)

    def server_cpu(self) -> float:
        return self.server.cpu_seconds() - self.cpu0

    def others_share(self) -> float:
        """Share of the server's core used by other processes during the window (other
        tenants of a shared machine, kernel threads). High values make wall-clock figures
        unreliable; CPU-time figures hold up better."""
        busy, total = core_seconds(self.server.core)
        elapsed = total - self.total0
        if self.server.core is None or elapsed <= 0:
            return 0.0
        return max(0.0, (busy - self.busy0 - self.server_cpu()) / elapsed)


class ServerProcess:
    """A running ``python -m bench.servers KIND``; its CPU and RSS read from /proc."""

    def __init__(
        self, kind: str, proc: asyncio.subprocess.Process, port: int, core: int | None
    ) -> None:
        self.kind = kind
        self.core = core
        self.proc = proc
        self.pid = proc.pid
        self.port = port

    @classmethod
    async def start(
        cls,
        kind: str,
        cpu: int | None,
        profile: Path | None = None,
        timeout: float = 30.0,
        redis: str | None = None,
    ) -> ServerProcess:
        cmd = [sys.executable, "-m", "bench.servers", kind]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        if redis is not None:
            cmd += ["--redis", redis]
        if profile is not None:
            cmd += ["--profile", str(profile)]
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
            info = json.loads(line)
        except (TimeoutError, ValueError):
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"the {kind} server did not start") from None
        return cls(kind, proc, int(info["port"]), cpu)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def load_probe(self) -> LoadProbe:
        return LoadProbe(self)

    async def admin(
        self, http: aiohttp.ClientSession, method: str, path: str, **params: Any
    ) -> Any:
        timeout = aiohttp.ClientTimeout(total=120)
        async with http.request(method, self.url(path), params=params, timeout=timeout) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def settled_rss_kib(self, http: aiohttp.ClientSession, settle: float = 1.0) -> int:
        """RSS after a full garbage collection and a pause for pending closes to finish."""
        await asyncio.sleep(settle)
        await self.admin(http, "POST", "/bench/gc")
        return self.rss_kib()

    async def stop(self, timeout: float = 20.0) -> None:
        proc = self.proc
        if proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        except ProcessLookupError:
            pass
