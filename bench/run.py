"""phxpy benchmark: fan-out, connect+join and memory, side by side with bare aiohttp.

    .venv/bin/python bench/run.py              # the default run, a few minutes
    .venv/bin/python bench/run.py --quick      # a smoke run of a few seconds
    .venv/bin/python bench/run.py --clients 2000 --broadcasts 100 --profile
    .venv/bin/python bench/run.py --chat [...]  # the ticket chat instead (bench/chat.py)

Each server (bare aiohttp "floor" and phxpy, in ABBA order over two rounds, then phxpy with
Presence for the burst) runs in its own process pinned to one core; this process is the load
generator, pinned to the other. Deliveries per server CPU-second is the figure to compare:
wall-clock rates move with the other tenants' load (the table shows how much of the server's
core they took).
Both are on 127.0.0.1. The ratios in the table are measured in the same run: the machine is
shared and noisy, absolute figures move from run to run, the ratios much less.
Results: a table on stdout and a JSON file in bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import pstats
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path.pop(0)  # run as a script: import bench.* from the repository root instead
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench import report  # noqa: E402
from bench.phxclient import Fleet  # noqa: E402
from bench.presence_burst import presence_available, presence_burst  # noqa: E402
from bench.scenarios import connect_fleet, fanout  # noqa: E402
from bench.serverproc import HOST, ServerProcess  # noqa: E402
from bench.sysinfo import machine, pin_cores, raise_fd_limit  # noqa: E402

TOPIC = "room:bench"
QUERY = "vsn=2.0.0&token=good-token"
WARMUP_CLIENTS = 50


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=5000, help="joined clients per server")
    p.add_argument("--broadcasts", type=int, default=200, help="fan-out broadcasts")
    p.add_argument("--burst", type=int, default=10, help="broadcasts per back-to-back burst")
    p.add_argument("--pad", type=int, default=64, help="padding bytes in each broadcast")
    p.add_argument("--presence-clients", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    p.add_argument("--heartbeat", type=float, default=30.0, help="client heartbeat interval")
    p.add_argument("--timeout", type=float, default=30.0, help="bound of every single wait")
    p.add_argument(
        "--servers", default="floor,phxpy", help="comma-separated: floor,phxpy[,rawfloor]"
    )
    p.add_argument(
        "--rounds", type=int, default=2, help="rounds, in ABBA order (floor phxpy phxpy floor)"
    )
    p.add_argument("--no-presence", action="store_true", help="skip the Presence burst")
    p.add_argument(
        "--presence-server",
        choices=("presence", "twin"),
        default="presence",
        help="the bench's presence server, or examples/twin.py",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="run the servers under cProfile (slower!) and print their top functions",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: small sizes, a few seconds")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.clients = min(args.clients, 200)
        args.broadcasts = min(args.broadcasts, 20)
        args.burst = min(args.burst, 5)
        args.presence_clients = min(args.presence_clients, 100)
        args.rounds = 1
    return args


async def bench_server(
    kind: str,
    args: argparse.Namespace,
    http: aiohttp.ClientSession,
    core: int | None,
    profile: Path | None,
) -> dict[str, Any]:
    """One server: connect+join, RSS per idle connection, fan-out."""
    server = await ServerProcess.start(kind, core, profile)
    limits = {"concurrency": args.concurrency, "timeout": args.timeout, "deadline": 300.0}
    try:
        # Warm-up: the first connections import and allocate what later ones reuse.
        warm = Fleet(HOST, server.port, TOPIC, QUERY)
        await connect_fleet(warm, min(WARMUP_CLIENTS, args.clients), server, **limits)
        warm.close_all()
        before = await server.settled_rss_kib(http)

        fleet = Fleet(HOST, server.port, TOPIC, QUERY)
        # As phoenix.js does; without them the server's idle timeout (60 s) would close
        # connections on a slow (shared) machine.
        heartbeats = asyncio.create_task(fleet.heartbeat_forever(args.heartbeat))
        try:
            connect = await connect_fleet(fleet, args.clients, server, **limits)
            seen = (await server.admin(http, "GET", "/bench/stats"))["connections"]
            after = await server.settled_rss_kib(http)
            joined = connect.joined or 1
            print(
                f"  {kind}: {connect.joined} joined in {connect.seconds:.1f} s, "
                f"RSS +{(after - before) / joined:.1f} KiB/conn; fanning out...",
                flush=True,
            )
            fan = await fanout(
                fleet,
                server,
                http,
                broadcasts=args.broadcasts,
                burst=args.burst,
                pad=args.pad,
                timeout=args.timeout,
            )
        finally:
            heartbeats.cancel()
        rss_after_fanout = server.rss_kib()
        fleet.close_all()
        return {
            "server": kind,
            "connect": asdict(connect),
            "rss": {
                "before_kib": before,
                "after_kib": after,
                "after_fanout_kib": rss_after_fanout,
                "connections_seen_by_server": seen,
                "per_conn_kib": (after - before) / joined,
            },
            "fanout": asdict(fan),
        }
    finally:
        await server.stop()


def print_profile(path: Path, limit: int = 25) -> None:
    if not path.exists():
        print(f"(no profile written at {path})")
        return
    print(f"\n--- {path.name}: top {limit} by own time (cProfile, so slower than unprofiled)")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(limit)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    server_core, loadgen_core = pin_cores()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    document: dict[str, Any] = {
        "started": stamp,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine() | {"server_core": server_core, "loadgen_core": loadgen_core},
        "rounds": [],
    }
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    print(
        f"phxpy bench: {args.clients} clients, {args.broadcasts} broadcasts in bursts of "
        f"{args.burst}, servers {kinds} on core {server_core}, load generator on core "
        f"{loadgen_core}",
        flush=True,
    )
    profiles: list[Path] = []
    async with aiohttp.ClientSession() as http:
        for number in range(args.rounds):
            # ABBA: a slow drift of the machine's load favours neither server.
            order = kinds if number % 2 == 0 else kinds[::-1]
            results: dict[str, Any] = {}
            for kind in order:
                profile = None
                if args.profile:
                    profile = args.results / f"{stamp}-{kind}-r{number + 1}.prof"
                    args.results.mkdir(parents=True, exist_ok=True)
                    profiles.append(profile)
                print(f"round {number + 1}/{args.rounds}: {kind}", flush=True)
                results[kind] = await bench_server(kind, args, http, server_core, profile)
            document["rounds"].append(results)
        document["summary"] = report.pooled(document["rounds"])
        if not args.no_presence:
            if presence_available():
                profile = None
                if args.profile:
                    profile = args.results / f"{stamp}-{args.presence_server}.prof"
                if profile is not None:
                    profiles.append(profile)
                print(f"  presence burst: {args.presence_clients} clients...", flush=True)
                document["presence"] = await presence_burst(
                    args.presence_clients,
                    http,
                    args.presence_server,
                    server_core,
                    profile,
                    concurrency=args.concurrency,
                    timeout=args.timeout,
                    heartbeat=args.heartbeat,
                )
            else:
                document["presence"] = {"skipped": "phxpy/presence.py does not exist yet"}
    document["profiles"] = [str(p) for p in profiles]
    return document


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--chat" in argv:
        # The ticket chat's own benchmark (bench/chat.py), with the rest of the arguments.
        from bench import chat

        chat.main([arg for arg in argv if arg != "--chat"])
        return
    args = parse_args(argv)
    raise_fd_limit()
    document = asyncio.run(main_async(args))
    for number, results in enumerate(document["rounds"], 1):
        print(f"\n=== round {number}")
        print(report.fanout_table(results))
    if document["rounds"]:
        print(f"\n=== summary over {len(document['rounds'])} round(s)")
        for line in report.summary_lines(document["summary"]):
            print(line)
    presence = document.get("presence")
    if presence:
        print()
        if "skipped" in presence:
            print(f"presence burst skipped: {presence['skipped']}")
        else:
            print(report.presence_table(presence))
    for profile in document["profiles"]:
        print_profile(Path(profile))
    path = report.write_json(args.results, document)
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
