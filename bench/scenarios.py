"""The measured steps: connect+join a fleet, fan out to it. Every wait is bounded."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from .phxclient import Fleet, PhxClient
from .serverproc import HOST, ServerProcess
from .sysinfo import own_cpu_seconds
from .wsclient import WebSocketClient


def percentile(sorted_values: Any, fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0.0 when empty)."""
    if not len(sorted_values):
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return float(sorted_values[rank])


async def open_client(client: WebSocketClient, port: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.create_connection(lambda: client, HOST, port), timeout)


@dataclass
class ConnectResult:
    requested: int
    joined: int
    failed: int
    seconds: float
    rate: float
    """Joined clients per second of wall time."""
    server_cpu_s: float
    server_cpu_us_per_join: float
    join_p50_ms: float
    join_p99_ms: float


async def connect_fleet(
    fleet: Fleet,
    count: int,
    server: ServerProcess,
    *,
    concurrency: int,
    timeout: float,
    deadline: float,
    client_class: type[PhxClient] = PhxClient,
) -> ConnectResult:
    """Connect ``count`` clients, ``concurrency`` handshakes in flight, each joining the
    fleet's topic; the joined ones go to ``fleet.clients``. Stops at ``deadline`` seconds."""
    indexes = iter(range(len(fleet.clients), len(fleet.clients) + count))
    latencies: list[int] = []
    failures = 0
    started = time.monotonic()

    async def worker() -> None:
        nonlocal failures
        for index in indexes:  # shared by all workers: each index is taken once
            if time.monotonic() - started > deadline:
                failures += 1
                continue
            client = client_class(fleet, index)
            t0 = time.monotonic_ns()
            try:
                await open_client(client, fleet.port, timeout)
                status = await asyncio.wait_for(asyncio.shield(client.joined), timeout)
            except (OSError, TimeoutError, ConnectionError):
                failures += 1
                client.abort()
                continue
            if status != "ok":
                failures += 1
                client.close()
                continue
            latencies.append(time.monotonic_ns() - t0)
            fleet.clients.append(client)

    probe = server.load_probe()
    wall0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))
    seconds = time.perf_counter() - wall0
    cpu = probe.server_cpu()
    latencies.sort()
    joined = len(latencies)
    return ConnectResult(
        requested=count,
        joined=joined,
        failed=failures,
        seconds=seconds,
        rate=joined / seconds if seconds else 0.0,
        server_cpu_s=cpu,
        server_cpu_us_per_join=cpu * 1e6 / joined if joined else 0.0,
        join_p50_ms=percentile(latencies, 0.50) / 1e6,
        join_p99_ms=percentile(latencies, 0.99) / 1e6,
    )


@dataclass
class FanoutResult:
    clients: int
    broadcasts: int
    burst: int
    frame_bytes: int
    expected: int
    delivered: int
    lost: int
    duplicates: int
    out_of_order: int
    dropped_clients: int
    timed_out: bool
    seconds: float
    deliveries_per_s: float
    server_cpu_s: float
    deliveries_per_server_cpu_s: float
    loadgen_cpu_s: float
    loadgen_busy: float
    """Load generator CPU / wall time: near 1.0 means it, not the server, set the pace."""
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_core_others: float
    """Share of the server's core taken by other processes meanwhile (noise)."""


async def fanout(
    fleet: Fleet,
    server: ServerProcess,
    http: aiohttp.ClientSession,
    *,
    broadcasts: int,
    burst: int,
    pad: int,
    timeout: float,
) -> FanoutResult:
    """``broadcasts`` broadcasts to the fleet's topic, ``burst`` back-to-back per admin
    request; the next burst starts once every client has received the previous one."""
    fleet.reset_fanout()
    clients = len(fleet.clients)
    sent = 0
    timed_out = False
    probe = server.load_probe()
    own0, wall0 = own_cpu_seconds(), time.perf_counter()
    while sent < broadcasts and not timed_out:
        count = min(burst, broadcasts - sent)
        fleet.expect(fleet.deliveries + count * clients)
        params = {"topic": fleet.topic, "seq": sent, "count": count, "pad": pad}
        await server.admin(http, "POST", "/bench/broadcast", **params)
        sent += count
        try:
            await asyncio.wait_for(fleet.reached.wait(), timeout)
        except TimeoutError:
            timed_out = True
    seconds = time.perf_counter() - wall0
    server_cpu = probe.server_cpu()
    others = probe.others_share()
    loadgen_cpu = own_cpu_seconds() - own0
    await asyncio.sleep(0.2)  # late duplicates, if any, would land now
    expected = sent * clients
    received = sum(c.received for c in fleet.clients)
    latencies = sorted(fleet.latencies_ns)
    return FanoutResult(
        clients=clients,
        broadcasts=sent,
        burst=burst,
        frame_bytes=fleet.last_frame_bytes,
        expected=expected,
        delivered=fleet.deliveries,
        lost=expected - received,
        duplicates=sum(c.duplicates for c in fleet.clients),
        out_of_order=sum(c.gaps for c in fleet.clients),
        dropped_clients=fleet.closed_early,
        timed_out=timed_out,
        seconds=seconds,
        deliveries_per_s=received / seconds if seconds else 0.0,
        server_cpu_s=server_cpu,
        deliveries_per_server_cpu_s=received / server_cpu if server_cpu else 0.0,
        loadgen_cpu_s=loadgen_cpu,
        loadgen_busy=loadgen_cpu / seconds if seconds else 0.0,
        p50_ms=percentile(latencies, 0.50) / 1e6,
        p99_ms=percentile(latencies, 0.99) / 1e6,
        max_ms=latencies[-1] / 1e6 if latencies else 0.0,
        server_core_others=others,
    )
