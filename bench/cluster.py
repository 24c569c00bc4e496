"""One big room on one process and on two processes sharing Redis, side by side in one run.

    .venv/bin/python bench/cluster.py                 # the default run, a few minutes
    .venv/bin/python bench/cluster.py --quick         # a smoke run
    .venv/bin/python bench/cluster.py --rates 8,12,16 --seconds 5 --profile

**The room.** ``--members`` clients (5,000) join one topic of the phxpy bench server
(``bench.servers phxpy``: the fastlane, no Presence). The servers feed it themselves, at a
steady rate stepped through ``--rates`` (broadcasts per second, each delivered to every
member) for ``--seconds`` each; every broadcast carries the time it was due, so a server
that falls behind shows it in the latency of every delivery after (no coordinated
omission). Two setups:

* **single**: one server process; every member on it; it feeds the whole rate.
* **cluster**: two server processes, each a node on a redis-server of this run; the members
  split half and half; each node feeds half the rate (alternate seqs), so half of each
  node's deliveries are broadcasts of the other node that came through Redis.

Per step: deliveries per second, delivery latency p50/p99 (due time on the server to arrival
at the client: one machine, one monotonic clock), lost / duplicated / out-of-order
deliveries, and CPU per delivery of the servers and Redis together. The figures to compare:
the highest rate each setup sustains (p99 under 250 ms, nothing lost), and deliveries per
CPU-second there.

**Who runs where.** The machine has two cores, shared by the servers, Redis and the load
generator. The clients are ``bench/fanout_sink.c`` (built here with ``cc -O2``): thousands of
WebSocket clients in one epoll loop, a few µs of CPU per frame against the server's ~14, so
the servers, not the load generator, set the pace. *single*: the server alone on the first
core, the sink and this script on the second: the one server process gets a whole core, as
it would on a machine with a core to spare. *cluster*: one node on each core, Redis, the
sink and this script unpinned: the kernel runs them wherever there is room, as a second
process on the same machine has to share. The sink's CPU share is shown for each step.

**Publish and receive cost.** ``--pubsub N``: two nodes with no clients; one broadcasts N
messages, 50 per event-loop iteration (so one pipeline carries 50), the other receives
them: CPU per message of the publishing node (less what the same broadcasts cost a node
without Redis), of the receiving node, and of Redis.

The machine is shared: the load average is shown; compare ratios from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path.pop(0)
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.redisproc import Redis  # noqa: E402
from bench.serverproc import HOST, ServerProcess  # noqa: E402
from bench.sysinfo import core_seconds, machine, own_cpu_seconds, raise_fd_limit  # noqa: E402

TOPIC = "room:big"
QUERY = "vsn=2.0.0&token=good-token"
P99_LIMIT_MS = 250.0
SINK_SOURCE = ROOT / "bench" / "fanout_sink.c"
DRAIN_LIMIT = 15.0
"""Seconds after a step's feed ends during which late deliveries still count."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--members", type=int, default=5000)
    p.add_argument(
        "--rates",
        default="4,6,8,10,12,14,16,18,20,22,24,26,28,30,33,36,40",
        help="broadcasts per second, stepped up until a setup fails twice",
    )
    p.add_argument("--seconds", type=float, default=5.0, help="length of each step")
    p.add_argument("--pad", type=int, default=32, help="padding bytes in each broadcast")
    p.add_argument(
        "--setups",
        default="single,cluster",
        help="single, cluster (nodes pinned one per core), cluster-unpinned; in this order",
    )
    p.add_argument(
        "--attempts", type=int, default=2, help="runs of a rate before it counts as failed"
    )
    p.add_argument(
        "--quiet",
        type=float,
        default=0.25,
        help="before each step, wait (up to --quiet-wait s) until other processes use less "
        "than this many cores",
    )
    p.add_argument("--quiet-wait", type=float, default=120.0)
    p.add_argument(
        "--gc-freeze",
        action="store_true",
        help="once the members joined, each server freezes its heap (gc.freeze()): full "
        "collections then skip the connections' objects",
    )
    p.add_argument("--pubsub", type=int, default=20000, help="messages of the cost phase")
    p.add_argument("--profile", action="store_true", help="py-spy every server (slower)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.members, args.rates, args.seconds, args.pubsub = 500, "20,100", 2.0, 2000
        args.attempts = 1
    return args


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- the parts


def build_sink(workdir: Path) -> Path:
    binary = workdir / "fanout_sink"
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise SystemExit("bench/cluster.py needs a C compiler (cc) for bench/fanout_sink.c")
    subprocess.run([compiler, "-O2", "-o", str(binary), str(SINK_SOURCE)], check=True)
    return binary


class Sink:
    """bench/fanout_sink.c: the members."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(
        cls, binary: Path, ports: list[tuple[int, int]], core: int | None
    ) -> tuple[Sink, int]:
        def pin() -> None:
            if core is not None:
                os.sched_setaffinity(0, {core})

        spread = [f"{port}:{count}" for port, count in ports]
        proc = await asyncio.create_subprocess_exec(
            str(binary),
            HOST,
            TOPIC,
            QUERY,
            *spread,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            preexec_fn=pin,
        )
        sink = cls(proc)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 300)
        if not line:
            raise RuntimeError("the sink exited")
        return sink, int(json.loads(line)["joined"])

    async def command(self, cmd: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(cmd.encode() + b"\n")
        await self.proc.stdin.drain()
        answer: dict[str, Any] = json.loads(await self.proc.stdout.readline())
        return answer

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Profiler:
    """py-spy on every server process (``--profile``), folded stacks per process."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.procs: list[tuple[asyncio.subprocess.Process, Path]] = []

    async def start(self, servers: list[ServerProcess], label: str) -> None:
        venv = str(Path(sys.executable).parent)
        spy = shutil.which("py-spy") or shutil.which("py-spy", path=venv)
        if spy is None:
            print("  (py-spy not installed: no profile)")
            return
        for n, server in enumerate(servers):
            path = self.out / f"{label}-node{n}.folded"
            proc = await asyncio.create_subprocess_exec(
                spy,
                "record",
                "--pid",
                str(server.pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(path),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            self.procs.append((proc, path))

    async def stop(self) -> list[Path]:
        paths = []
        for proc, path in self.procs:
            if proc.returncode is None:
                proc.send_signal(2)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
            paths.append(path)
        self.procs = []
        return paths


def top_functions(path: Path, limit: int = 12) -> list[tuple[str, float]]:
    """Own time per function (the innermost frame of each sample), from folded stacks."""
    own: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = re.sub(r":\d+\)$", ")", stack.rsplit(";", 1)[-1])  # the function, any line
        own[leaf] += int(count)
        total += int(count)
    return [(name, n / total) for name, n in own.most_common(limit)] if total else []


# --------------------------------------------------------------------------- the room


@dataclass
class Step:
    setup: str
    rate: float
    broadcasts: int
    expected: int
    delivered: int
    lost: int
    duplicates: int
    out_of_order: int
    seconds: float
    deliveries_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_s: float
    redis_cpu_s: float
    deliveries_per_cpu_s: float
    sink_cpu_share: float
    """The load generator's CPU over the step's wall time (out of the machine's 2 cores)."""
    node_cpu_share: list[float]
    others_cores: float
    """CPU the machine spent meanwhile on everything but this run (other tenants), in
    cores: what to read the step's latencies against."""
    full_gcs: int
    """Full garbage collections in the servers meanwhile..."""
    full_gc_max_ms: float
    """...and the longest (a pause every member of the node waits out)."""

    @property
    def sustained(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.p99_ms < P99_LIMIT_MS


async def run_room(
    setup: str, args: argparse.Namespace, sink_binary: Path, http: aiohttp.ClientSession
) -> list[Step]:
    cores = sorted(os.sched_getaffinity(0))
    redis: Redis | None = None
    sink_core: int | None
    own_core: int | None
    if setup == "single":
        servers = [await ServerProcess.start("phxpy", cores[0])]
        sink_core = own_core = cores[1]
    else:
        redis = Redis()
        url = await redis.start()
        pinned = setup != "cluster-unpinned"
        servers = [
            await ServerProcess.start("phxpy", core if pinned else None, redis=url)
            for core in cores[:2]
        ]
        sink_core = own_core = None
    os.sched_setaffinity(0, {own_core} if own_core is not None else set(cores))
    spread = [(s.port, args.members // len(servers)) for s in servers]
    sink: Sink | None = None
    profiler = Profiler(args.results) if args.profile else None
    try:
        if redis is not None:
            await until_peers(http, servers)
        sink, joined = await Sink.start(sink_binary, spread, sink_core)
        members = sum(count for _, count in spread)
        if joined < members:
            raise RuntimeError(f"{setup}: only {joined} of {members} joined")
        if args.gc_freeze:
            for server in servers:
                await server.admin(http, "POST", "/bench/gc", freeze=1)
        print(
            f"{setup}: {members} members on {len(servers)} process(es); "
            f"load average {load_average()}",
            flush=True,
        )
        # A short warm-up step, not recorded: imports, first allocations, TCP windows.
        await step(setup, 2.0, 2.0, args, servers, sink, members, http, redis)
        if profiler is not None:
            await profiler.start(servers, f"cluster-{setup}-{time.strftime('%H%M%S')}")
        steps: list[Step] = []
        failures = 0
        for rate in (float(r) for r in args.rates.split(",") if r.strip()):
            result = await step(
                setup, rate, args.seconds, args, servers, sink, members, http, redis
            )
            print("  " + step_line(result), flush=True)
            for _ in range(args.attempts - 1):
                if result.sustained:
                    break
                # Another tenant's burst can spoil one step's p99: the rate gets another go,
                # and the better of the two counts.
                again = await step(
                    setup, rate, args.seconds, args, servers, sink, members, http, redis
                )
                print("  " + step_line(again) + " (again)", flush=True)
                result = again if again.sustained or again.p99_ms < result.p99_ms else result
            steps.append(result)
            failures += not result.sustained
            if failures >= 2 or result.p99_ms > 8 * P99_LIMIT_MS:
                break
        if profiler is not None:
            for path in await profiler.stop():
                print(f"  profile {path.name}: own time by function")
                for name, share in top_functions(path):
                    print(f"    {share:6.1%}  {name}")
        return steps
    finally:
        if profiler is not None:
            await profiler.stop()
        if sink is not None:
            await sink.stop()
        for server in servers:
            await server.stop()
        if redis is not None:
            await redis.stop()
        os.sched_setaffinity(0, set(cores))


async def until_peers(http: aiohttp.ClientSession, servers: list[ServerProcess]) -> None:
    """Until every node hears every other (so no broadcast of the first step is lost)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stats = [await s.admin(http, "GET", "/bench/stats") for s in servers]
        if all(st.get("peers") == len(servers) - 1 for st in stats):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the nodes did not find each other")


async def step(
    setup: str,
    rate: float,
    seconds: float,
    args: argparse.Namespace,
    servers: list[ServerProcess],
    sink: Sink,
    members: int,
    http: aiohttp.ClientSession,
    redis: Redis | None,
) -> Step:
    await wait_until_quiet(args)
    gc0 = [(await s.admin(http, "GET", "/bench/stats"))["gc"] for s in servers]
    await sink.command("mark")
    before = await sink.command("stats")
    cpu0 = [s.cpu_seconds() for s in servers]
    redis0 = redis.cpu() if redis is not None else 0.0
    busy0, _ = core_seconds(None)
    own0 = own_cpu_seconds()
    start_ns = time.monotonic_ns() + 200_000_000
    for origin, server in enumerate(servers):
        await server.admin(
            http,
            "POST",
            "/bench/feed",
            topic=TOPIC,
            rate=rate,
            seconds=seconds,
            start_ns=start_ns,
            origin=origin,
            origins=len(servers),
            pad=args.pad,
        )
    broadcasts = int(rate * seconds)
    expected = broadcasts * members
    await asyncio.sleep(0.2 + seconds)
    # Late deliveries count until they stop coming for 2 s (or DRAIN_LIMIT).
    deadline = time.monotonic() + DRAIN_LIMIT
    stats = await sink.command("stats")
    progress = time.monotonic()
    while stats["delivered"] < expected and time.monotonic() < min(deadline, progress + 2):
        await asyncio.sleep(0.25)
        later = await sink.command("stats")
        if later["delivered"] > stats["delivered"]:
            progress = time.monotonic()
        stats = later
    wall = (time.monotonic_ns() - start_ns) / 1e9
    node_cpu = [s.cpu_seconds() - c for s, c in zip(servers, cpu0, strict=True)]
    server_cpu = sum(node_cpu)
    redis_cpu = (redis.cpu() - redis0) if redis is not None else 0.0
    sink_cpu = stats["cpu_s"] - before["cpu_s"]
    gc1 = [(await s.admin(http, "GET", "/bench/stats"))["gc"] for s in servers]
    full_gcs = sum(int(b["full"] - a["full"]) for a, b in zip(gc0, gc1, strict=True))
    full_max = max(b["full_max_s"] for b in gc1)
    ours = server_cpu + redis_cpu + sink_cpu + own_cpu_seconds() - own0
    others = max(0.0, core_seconds(None)[0] - busy0 - ours) / (wall + 0.2)
    delivered = int(stats["delivered"])
    active = max(seconds, (stats["last_ns"] - start_ns) / 1e9) if delivered else seconds
    cpu = server_cpu + redis_cpu
    return Step(
        setup=setup,
        rate=rate,
        broadcasts=broadcasts,
        expected=expected,
        delivered=delivered,
        lost=max(0, expected - delivered),
        duplicates=int(stats["duplicates"]),
        out_of_order=int(stats["gaps"]),
        seconds=active,
        deliveries_per_s=delivered / active,
        p50_ms=stats["p50_ns"] / 1e6,
        p99_ms=stats["p99_ns"] / 1e6,
        max_ms=stats["max_ns"] / 1e6,
        server_cpu_s=server_cpu,
        redis_cpu_s=redis_cpu,
        deliveries_per_cpu_s=delivered / cpu if cpu else 0.0,
        sink_cpu_share=sink_cpu / wall,
        node_cpu_share=[c / wall for c in node_cpu],
        others_cores=others,
        full_gcs=full_gcs,
        full_gc_max_ms=full_max * 1000,
    )


async def wait_until_quiet(args: argparse.Namespace) -> None:
    """Until other processes use less than ``--quiet`` cores over a second (this run is
    idle between steps), or ``--quiet-wait`` seconds have passed."""
    deadline = time.monotonic() + args.quiet_wait
    while True:
        busy0, _ = core_seconds(None)
        await asyncio.sleep(1.0)
        busy = core_seconds(None)[0] - busy0
        if busy < args.quiet or time.monotonic() > deadline:
            return


def step_line(s: Step) -> str:
    nodes = "+".join(f"{share:.0%}" for share in s.node_cpu_share)
    return (
        f"{s.setup:7} {s.rate:5.1f}/s  {s.deliveries_per_s:8,.0f} deliveries/s  "
        f"p50 {s.p50_ms:6.1f}  p99 {s.p99_ms:7.1f} ms  lost {s.lost:7,}  dup {s.duplicates}  "
        f"ooo {s.out_of_order}  {s.deliveries_per_cpu_s:7,.0f}/CPU-s  "
        f"CPU nodes {nodes} redis {s.redis_cpu_s:.2f}s sink {s.sink_cpu_share:.0%} "
        f"others {s.others_cores:.2f} cores  full GCs {s.full_gcs}"
        + (f" (up to {s.full_gc_max_ms:.0f} ms)" if s.full_gcs else "")
        + ("" if s.sustained else "  (not sustained)")
    )


def best(steps: list[Step]) -> Step | None:
    sustained = [s for s in steps if s.sustained]
    return max(sustained, key=lambda s: s.deliveries_per_s) if sustained else None


# --------------------------------------------------------------------------- pub/sub cost


async def run_pubsub(args: argparse.Namespace, http: aiohttp.ClientSession) -> dict[str, Any]:
    """CPU per message of publishing (over what the broadcast costs without Redis), of
    receiving, and of Redis, with no clients anywhere."""
    cores = sorted(os.sched_getaffinity(0))
    count = args.pubsub
    alone = await ServerProcess.start("phxpy", cores[0])
    try:
        cpu0 = alone.cpu_seconds()
        await alone.admin(http, "POST", "/bench/flood", topic="nobody", count=count, batch=50)
        baseline = alone.cpu_seconds() - cpu0
    finally:
        await alone.stop()
    redis = Redis()
    url = await redis.start()
    nodes = [await ServerProcess.start("phxpy", core, redis=url) for core in cores[:2]]
    try:
        await until_peers(http, nodes)
        publisher, receiver = nodes
        before = [await n.admin(http, "GET", "/bench/stats") for n in nodes]
        cpu0s = [n.cpu_seconds() for n in nodes]
        redis0 = redis.cpu()
        started = time.perf_counter()
        await publisher.admin(http, "POST", "/bench/flood", topic="nobody", count=count, batch=50)
        target = before[1]["broadcasts_in"] + count
        deadline = time.monotonic() + 60
        received = before[1]["broadcasts_in"]
        while received < target and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            received = (await receiver.admin(http, "GET", "/bench/stats"))["broadcasts_in"]
        seconds = time.perf_counter() - started
        cpu = [n.cpu_seconds() - c for n, c in zip(nodes, cpu0s, strict=True)]
        after = await publisher.admin(http, "GET", "/bench/stats")
        pipelines = after["pipelines"] - before[0]["pipelines"]
        result = {
            "messages": count,
            "received": received - before[1]["broadcasts_in"],
            "seconds": seconds,
            "pipelines": pipelines,
            "broadcast_without_redis_us": baseline / count * 1e6,
            "publisher_node_us": cpu[0] / count * 1e6,
            "publishing_us": (cpu[0] - baseline) / count * 1e6,
            "receiving_node_us": cpu[1] / count * 1e6,
            "redis_us": (redis.cpu() - redis0) / count * 1e6,
        }
    finally:
        for node in nodes:
            await node.stop()
        await redis.stop()
    print(
        f"publish/receive ({count} messages, {result['pipelines']} pipelines): "
        f"broadcast without Redis {result['broadcast_without_redis_us']:.1f} µs; "
        f"publishing node {result['publisher_node_us']:.1f} µs "
        f"(+{result['publishing_us']:.1f} µs for Redis); "
        f"receiving node {result['receiving_node_us']:.1f} µs; "
        f"Redis {result['redis_us']:.1f} µs per message; "
        f"{result['received']} received",
        flush=True,
    )
    return result


# --------------------------------------------------------------------------- main


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("bench/cluster.py needs two cores")
    document: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "load_average": {"start": load_average()},
        "steps": {},
    }
    print(
        f"{args.members} members, rates {args.rates}/s, {args.seconds} s each; "
        f"load average {load_average()}",
        flush=True,
    )
    args.results.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as workdir:
        sink = build_sink(Path(workdir))
        async with aiohttp.ClientSession() as http:
            for setup in [s.strip() for s in args.setups.split(",") if s.strip()]:
                steps = await run_room(setup, args, sink, http)
                document["steps"][setup] = [asdict(s) | {"sustained": s.sustained} for s in steps]
            if args.pubsub:
                document["pubsub"] = await run_pubsub(args, http)
    document["load_average"]["end"] = load_average()
    by_setup = {
        setup: [Step(**{f: v for f, v in s.items() if f != "sustained"}) for s in listed]
        for setup, listed in document["steps"].items()
    }
    single, cluster = best(by_setup.get("single", [])), best(by_setup.get("cluster", []))
    if single and cluster:
        summary = {
            "single_rate": single.rate,
            "cluster_rate": cluster.rate,
            "single_deliveries_per_s": round(single.deliveries_per_s),
            "cluster_deliveries_per_s": round(cluster.deliveries_per_s),
            "throughput_ratio": round(cluster.deliveries_per_s / single.deliveries_per_s, 2),
            "single_deliveries_per_cpu_s": round(single.deliveries_per_cpu_s),
            "cluster_deliveries_per_cpu_s": round(cluster.deliveries_per_cpu_s),
            "efficiency_ratio": round(
                cluster.deliveries_per_cpu_s / single.deliveries_per_cpu_s, 3
            ),
        }
        document["summary"] = summary
        print(
            f"\nbest with p99 < {P99_LIMIT_MS:.0f} ms and nothing lost:\n"
            f"  single : {single.deliveries_per_s:9,.0f} deliveries/s at {single.rate:g}/s, "
            f"{single.deliveries_per_cpu_s:8,.0f} per CPU-s (p99 {single.p99_ms:.0f} ms)\n"
            f"  cluster: {cluster.deliveries_per_s:9,.0f} deliveries/s at {cluster.rate:g}/s, "
            f"{cluster.deliveries_per_cpu_s:8,.0f} per CPU-s, servers and Redis "
            f"(p99 {cluster.p99_ms:.0f} ms)\n"
            f"  cluster / single: throughput {summary['throughput_ratio']}x, "
            f"deliveries per CPU-second {summary['efficiency_ratio']:.0%}"
        )
    print(f"load average: {document['load_average']['start']} at the start, "
          f"{document['load_average']['end']} at the end")  # fmt: skip
    out = args.results / f"cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(document, indent=2))
    print(f"results: {out}")
    return document


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raise_fd_limit()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
