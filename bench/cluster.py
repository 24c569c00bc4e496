"""One big room, served by one process and by two processes sharing Redis, side by side.

    .venv/bin/python bench/cluster.py                 # the default run, a few minutes
    .venv/bin/python bench/cluster.py --quick         # a smoke run
    .venv/bin/python bench/cluster.py --members 5000 --rates 40,80,120 --seconds 4

A room of ``--members`` phxpy clients (``bench.servers phxpy``: the fastlane, no Presence) is
fed broadcasts at steady rates, stepped through ``--rates`` (broadcasts per second, each
delivered to every member), for ``--seconds`` each:

* **single**: one server process, pinned to one core; every member on it.
* **cluster**: two server processes (one per core) and a redis-server of this run; the
  members spread half and half, and the feed alternates between the two nodes, so half of
  every node's deliveries come from the other node through Redis.

Per step: deliveries per second, delivery latency p50/p99 (from the server's monotonic clock
at broadcast time to the client's at arrival: one machine, one clock), lost deliveries, and
the CPU of every server process and of Redis per delivery. The figure to compare is the best
rate each setup sustains with p99 under 250 ms and nothing lost, and deliveries per CPU-second
there. The load generator (this process) shares the machine's two cores with the servers; its
own CPU share is shown. The machine is shared and noisy: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path.pop(0)
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.phxclient import Fleet  # noqa: E402
from bench.scenarios import connect_fleet, percentile  # noqa: E402
from bench.serverproc import HOST, ServerProcess  # noqa: E402
from bench.sysinfo import cpu_seconds, machine, own_cpu_seconds, raise_fd_limit  # noqa: E402

TOPIC = "room:big"
QUERY = "vsn=2.0.0&token=good-token"
TICK = 0.02
P99_LIMIT_MS = 250.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--members", type=int, default=5000)
    p.add_argument("--rates", default="20,40,60,80,100,120,150", help="broadcasts per second")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--pad", type=int, default=32)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.members, args.rates, args.seconds = 500, "20,100", 2.0
    return args


@dataclass
class Step:
    setup: str
    rate: int
    broadcasts: int
    expected: int
    delivered: int
    lost: int
    seconds: float
    deliveries_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    redis_cpu_s: float
    deliveries_per_cpu_s: float
    loadgen_busy: float

    @property
    def sustained(self) -> bool:
        return self.lost == 0 and self.p99_ms < P99_LIMIT_MS


class Redis:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="bench-redis-")
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> str:
        import socket

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
        for _ in range(200):
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


async def run_setup(
    setup: str, args: argparse.Namespace, http: aiohttp.ClientSession
) -> list[Step]:
    cores = sorted(os.sched_getaffinity(0))
    redis: Redis | None = None
    if setup == "single":
        servers = [await ServerProcess.start("phxpy", cores[0])]
    else:
        redis = Redis()
        url = await redis.start()
        servers = [await ServerProcess.start("phxpy", core, redis=url) for core in cores[:2]]
    fleets = [Fleet(HOST, server.port, TOPIC, QUERY) for server in servers]
    try:
        share = args.members // len(servers)
        for fleet, server in zip(fleets, servers, strict=True):
            result = await connect_fleet(
                fleet, share, server, concurrency=100, timeout=30, deadline=120
            )
            if result.joined < share:
                raise RuntimeError(f"{setup}: only {result.joined} of {share} joined")
        members = sum(len(fleet.clients) for fleet in fleets)
        steps = []
        seq = 0
        for rate in (int(r) for r in args.rates.split(",")):
            step, seq = await feed(setup, rate, seq, args, servers, fleets, members, http, redis)
            steps.append(step)
            print(
                f"  {setup:7} {rate:4}/s  {step.deliveries_per_s:9.0f} deliveries/s  "
                f"p99 {step.p99_ms:7.1f} ms  lost {step.lost:6}  "
                f"{step.deliveries_per_cpu_s:8.0f} per CPU-s  loadgen {step.loadgen_busy:.0%}",
                flush=True,
            )
            if not step.sustained and step.p99_ms > 4 * P99_LIMIT_MS:
                break
        return steps
    finally:
        for fleet in fleets:
            fleet.close_all()
        for server in servers:
            await server.stop()
        if redis is not None:
            await redis.stop()


async def feed(
    setup: str,
    rate: int,
    seq: int,
    args: argparse.Namespace,
    servers: list[ServerProcess],
    fleets: list[Fleet],
    members: int,
    http: aiohttp.ClientSession,
    redis: Redis | None,
) -> tuple[Step, int]:
    for fleet in fleets:
        fleet.reset_fanout()
        for client in fleet.clients:
            client.next_seq = seq
    cpu0 = sum(server.cpu_seconds() for server in servers)
    redis0 = redis.cpu() if redis is not None else 0.0
    own0 = own_cpu_seconds()
    started = time.perf_counter()
    sent = 0
    turn = 0
    while (elapsed := time.perf_counter() - started) < args.seconds:
        due = int(elapsed * rate) + 1 - sent
        if due > 0:
            server = servers[turn % len(servers)]
            turn += 1
            params = {"topic": TOPIC, "seq": seq + sent, "count": due, "pad": args.pad}
            await server.admin(http, "POST", "/bench/broadcast", **params)
            sent += due
        await asyncio.sleep(TICK)
    expected = sent * members
    deadline = time.perf_counter() + 10
    # The fleets count in this process: look at them now and then, up to the deadline.
    while sum(f.deliveries for f in fleets) < expected and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    server_cpu = sum(server.cpu_seconds() for server in servers) - cpu0
    redis_cpu = (redis.cpu() - redis0) if redis is not None else 0.0
    delivered = sum(f.deliveries for f in fleets)
    latencies = sorted(x for f in fleets for x in f.latencies_ns)
    cpu = server_cpu + redis_cpu
    step = Step(
        setup=setup,
        rate=rate,
        broadcasts=sent,
        expected=expected,
        delivered=delivered,
        lost=max(0, expected - delivered),
        seconds=seconds,
        deliveries_per_s=delivered / seconds if seconds else 0.0,
        p50_ms=percentile(latencies, 0.50) / 1e6,
        p99_ms=percentile(latencies, 0.99) / 1e6,
        server_cpu_s=server_cpu,
        redis_cpu_s=redis_cpu,
        deliveries_per_cpu_s=delivered / cpu if cpu else 0.0,
        loadgen_busy=(own_cpu_seconds() - own0) / seconds if seconds else 0.0,
    )
    return step, seq + sent


def best(steps: list[Step]) -> Step | None:
    sustained = [step for step in steps if step.sustained]
    return max(sustained, key=lambda s: s.deliveries_per_s) if sustained else None


async def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raise_fd_limit()
    print(f"{args.members} members, rates {args.rates}/s, {args.seconds} s each")
    async with aiohttp.ClientSession() as http:
        results = {setup: await run_setup(setup, args, http) for setup in ("single", "cluster")}
    single, cluster = best(results["single"]), best(results["cluster"])
    summary: dict[str, Any] = {}
    if single and cluster:
        summary = {
            "single_deliveries_per_s": round(single.deliveries_per_s),
            "cluster_deliveries_per_s": round(cluster.deliveries_per_s),
            "throughput_ratio": round(cluster.deliveries_per_s / single.deliveries_per_s, 2),
            "single_deliveries_per_cpu_s": round(single.deliveries_per_cpu_s),
            "cluster_deliveries_per_cpu_s": round(cluster.deliveries_per_cpu_s),
            "efficiency_ratio": round(
                cluster.deliveries_per_cpu_s / single.deliveries_per_cpu_s, 2
            ),
        }
        print(
            f"\nbest with p99 < {P99_LIMIT_MS:.0f} ms and nothing lost:\n"
            f"  single : {single.deliveries_per_s:9.0f} deliveries/s at {single.rate}/s, "
            f"{single.deliveries_per_cpu_s:8.0f} per CPU-s\n"
            f"  cluster: {cluster.deliveries_per_s:9.0f} deliveries/s at {cluster.rate}/s, "
            f"{cluster.deliveries_per_cpu_s:8.0f} per CPU-s (servers and Redis)\n"
            f"  cluster / single: throughput {summary['throughput_ratio']}x, "
            f"deliveries per CPU-second {summary['efficiency_ratio']:.0%}"
        )
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "args": {k: str(v) for k, v in vars(args).items()},
                "steps": {k: [asdict(s) for s in v] for k, v in results.items()},
                "summary": summary,
            },
            indent=2,
        )
    )
    print(f"results: {out}")


if __name__ == "__main__":
    asyncio.run(main())
