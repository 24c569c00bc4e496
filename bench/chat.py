"""The ticket chat's own hot path, measured as its users meet it.

    .venv/bin/python bench/chat.py                   # SQLite (and PostgreSQL if configured)
    .venv/bin/python bench/chat.py --quick           # a smoke run of a few seconds
    .venv/bin/python bench/chat.py --db postgres --rates 1000,5000 --seconds 5
    .venv/bin/python bench/chat.py --profile         # py-spy records the server (if installed)
    .venv/bin/python bench/chat.py --nodes 1,2       # one process, then two sharing Redis

``python -m server`` runs pinned to one core with its default settings but for the chat's
per-user message limit (raised, so a few hundred members can offer thousands of messages a
second), each socket's inbound budget and the sign-up limits, and cheap bcrypt; real
phoenix.js 1.8 clients (``bench/chat_load.mjs``, one Node process) run on the other core.
PostgreSQL runs when ``--db postgres``/``both`` is given or ``TEST_POSTGRES_URL`` is set,
each run in a fresh schema.

* **joins**: ``--joiners`` holders, their sockets already open, join their rooms at once with
  their ticket numbers (the first join claims the ticket), leave, and join again without one
  (a returning holder): joins per second and server CPU per join. The rooms are empty, or
  hold ``--history`` messages each (organisers' announcements posted before), which every
  join reply then carries (the latest 50).
* **ingest**: ``--rooms`` rooms of ``--members`` members; every member posts ``new_message``
  with a ``client_id`` at a steady rate, the total stepped through ``--rates`` for
  ``--seconds`` each (open loop: the offered rate does not wait for acks). Per step: acked
  messages per second, ack p50/p99, server CPU per stored message, and what the members saw:
  every member must get every seq of its room once, in order (lost / duplicated / out of
  order must be 0).

**Several nodes** (``--nodes 2``, or ``--nodes 1,2`` for both side by side): that many
``python -m server`` processes in cluster mode, sharing the PostgreSQL schema and a
redis-server of the run, one per core; every room has members on every node (a room's
members are dealt to the nodes in turn), so each message is stored by one node and reaches
the room's members on the other through Redis and the rooms' relay: the order and loss
checks above then cover the cross-node path. The Node process and Redis are left unpinned
(two cores for three busy processes); server CPU is then every node's plus Redis's.

Server CPU is read from /proc around each phase, so it is the server's own time whatever
else the machine does. The machine is shared: compare figures from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path.pop(0)  # run as a script: import bench.* from the repository root instead
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.chatserver import HOST, SERVICE_KEY, Server  # noqa: E402
from bench.chatserver import run_server as chat_server  # noqa: E402
from bench.redisproc import Redis  # noqa: E402
from bench.sysinfo import machine, pin_cores, raise_fd_limit  # noqa: E402

LOADGEN = ROOT / "bench" / "chat_load.mjs"
DEFAULT_RATES = "500,1000,2000,3000,5000,7500,10000"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default=None)
    p.add_argument("--rooms", type=int, default=100)
    p.add_argument("--members", type=int, default=2, help="members per room")
    p.add_argument("--rates", default=DEFAULT_RATES, help="total msgs/s per step")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each step")
    p.add_argument("--joiners", type=int, default=1000)
    p.add_argument("--history", type=int, default=0, help="messages in each room before joins")
    p.add_argument("--server-root", type=Path, default=ROOT, help="run the server from here")
    p.add_argument("--profile", action="store_true", help="py-spy record the server")
    p.add_argument(
        "--nodes",
        default="1",
        help="server processes (cluster mode above 1, PostgreSQL only); 1,2 runs both",
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.rooms, args.joiners, args.seconds = 20, 100, 2.0
        args.rates = "200,1000"
    return args


def postgres_url() -> str | None:
    return os.environ.get("TEST_POSTGRES_URL") or None


# --------------------------------------------------------------------------- the server


@dataclass
class Servers:
    """The nodes of one run (one, or several sharing Redis), seen as one service."""

    nodes: list[Server]
    redis: Redis | None = None

    def cpu(self) -> float:
        """Every node's CPU time, and Redis's."""
        return sum(node.cpu() for node in self.nodes) + (self.redis.cpu() if self.redis else 0)

    @property
    def first(self) -> Server:
        return self.nodes[0]

    def node_for(self, index: int, rooms: int) -> Server:
        """The node of member ``index`` (members go to rooms in turn): a room's members are
        dealt to the nodes in turn too."""
        return self.nodes[(index // rooms) % len(self.nodes)]

    async def start_profile(self, output: Path | None) -> None:
        for n, node in enumerate(self.nodes):
            await node.start_profile(output and output.with_suffix(f".node{n}{output.suffix}"))

    async def stop_profile(self) -> None:
        for node in self.nodes:
            await node.stop_profile()


@asynccontextmanager
async def run_servers(
    root: Path, database_url: str, cores: tuple[int | None, int | None], count: int
) -> Any:
    """``count`` nodes; more than one share a redis-server of their own and run one per
    core (the load generator then shares the cores with them)."""
    if count == 1:
        async with run_server(root, database_url, cores[0]) as server:
            yield Servers([server])
        return
    redis = Redis()
    url = await redis.start()
    try:
        async with AsyncExitStack() as stack:
            usable = [c for c in cores if c is not None]
            nodes = [
                await stack.enter_async_context(
                    run_server(
                        root,
                        database_url,
                        usable[n % len(usable)] if usable else None,
                        {"REDIS_URL": url},
                    )
                )
                for n in range(count)
            ]
            yield Servers(nodes, redis)
    finally:
        await redis.stop()


@asynccontextmanager
async def run_server(
    root: Path, database_url: str, core: int | None, extra: dict[str, str] | None = None
) -> AsyncIterator[Server]:
    env = {
        "BCRYPT_ROUNDS": "4",
        # A few hundred members offer thousands of messages a second: lift the per-user
        # limits (they are the chat's defence against a flooding user, not what is measured).
        "CHAT_MESSAGES_PER_SECOND": "1000",
        "CHAT_MESSAGE_BURST": "1000",
        # The set-up signs up thousands of users from one address at once.
        "SIGN_UP_LIMIT_PER_IP": "off",
        "CONNECTIONS_PER_IP": "100000",
        "PASSWORD_HASH_QUEUE": "10000",
        # Likewise each socket's inbound budget: a member offers tens of messages a second.
        "SOCKET_FRAMES_PER_SECOND": "100000",
        "SOCKET_BYTES_PER_SECOND": str(1024**3),
        **(extra or {}),
    }
    async with chat_server(database_url, core, env, root=root) as server:
        yield server


@asynccontextmanager
async def database(kind: str, workdir: Path) -> Any:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    import asyncpg

    url = postgres_url() or "postgresql://phx:phx@127.0.0.1:5432/phx_test"
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        separator = "&" if "?" in url else "?"
        yield f"{url}{separator}search_path={schema}"
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


# --------------------------------------------------------------------------- set-up


class Rest:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def post(self, path: str, body: Any, token: str = SERVICE_KEY) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.post(self.base + path, json=body, headers=headers) as response:
            if response.status >= 300:
                raise RuntimeError(f"{path}: {response.status} {await response.text()}")
            return await response.json()


async def gather_limited(coros: list[Any], limit: int = 20) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def run(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(run(c) for c in coros)))


async def make_rooms(rest: Rest, count: int) -> list[str]:
    # Starting within the two hours' lead: the room is open as soon as it is created.
    start = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    fmt = "%Y-%m-%d %H:%M:%S"

    async def one(i: int) -> str:
        body = {
            "event": {
                "name": f"bench {i}",
                "description": "benchmark",
                "location": "loopback",
                "start_time": start.strftime(fmt),
                "end_time": (start + timedelta(hours=4)).strftime(fmt),
            }
        }
        return str((await rest.post("/api/events/create_event", body))["data"]["id"])

    return await gather_limited([one(i) for i in range(count)])


async def fill_history(rest: Rest, event_ids: list[str], per_room: int) -> None:
    """``per_room`` announcements in each room, the rooms in parallel."""

    async def one(event_id: str) -> None:
        for n in range(per_room):
            body = {"content": f"announcement {n}: " + "lorem ipsum " * 8, "actor": "bench"}
            for _ in range(50):  # the room opens a moment after its event is created
                try:
                    await rest.post(f"/api/events/{event_id}/announcements", body)
                    break
                except RuntimeError as error:
                    if "409" not in str(error):
                        raise
                    await asyncio.sleep(0.1)

    await gather_limited([one(event_id) for event_id in event_ids])


async def make_members(
    rest: Rest, event_ids: list[str], per_room: int, tag: str
) -> list[dict[str, str]]:
    async def one(event_id: str, i: int) -> dict[str, str]:
        name = f"{tag}{i}-{secrets.token_hex(4)}"
        user = await rest.post(
            "/api/users/create",
            {
                "user_params": {
                    "username": name,
                    "email": f"{name}@bench.test",
                    "password": "pw-" + name,
                }
            },
        )
        number = secrets.token_hex(12)
        await rest.post(
            "/api/tickets/create", {"ticket": {"ticket_number": number, "event_id": event_id}}
        )
        return {"token": user["data"]["token"], "topic": f"event:{event_id}", "ticket": number}

    jobs = [one(event_ids[i % len(event_ids)], i) for i in range(per_room * len(event_ids))]
    return await gather_limited(jobs)


# --------------------------------------------------------------------------- load generator


class LoadGen:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    @asynccontextmanager
    async def start(cls, core: int | None) -> Any:
        """The Node process, pinned to ``core`` (None: wherever the kernel puts it)."""

        def pin() -> None:
            if core is not None:
                os.sched_setaffinity(0, {core})

        proc = await asyncio.create_subprocess_exec(
            "node",
            str(LOADGEN),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
            preexec_fn=pin,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        try:
            yield cls(proc)
        finally:
            if proc.returncode is None:
                assert proc.stdin is not None
                with suppress(ConnectionError):
                    proc.stdin.write(b'{"cmd": "quit"}\n')
                    await proc.stdin.drain()
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()

    async def run(self, server: Server | Servers, cmd: str, **fields: Any) -> dict[str, Any]:
        """One command, with the server's CPU time around it."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        cpu0, wall0 = server.cpu(), time.perf_counter()
        self.proc.stdin.write((json.dumps({"cmd": cmd, **fields}) + "\n").encode())
        await self.proc.stdin.drain()
        line = await self.proc.stdout.readline()
        cpu, wall = server.cpu() - cpu0, time.perf_counter() - wall0
        if not line:
            raise RuntimeError("the load generator exited")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"{cmd}: {answer.get('error')}")
        answer["server_cpu_s"] = cpu
        answer["wall_s"] = wall
        return answer


# --------------------------------------------------------------------------- scenarios


@dataclass
class DbResult:
    db: str
    nodes: int = 1
    joins: dict[str, Any] = field(default_factory=dict)
    ingest: list[dict[str, Any]] = field(default_factory=list)


async def bench_db(
    kind: str, args: argparse.Namespace, cores: tuple[int | None, int | None], nodes: int = 1
) -> DbResult:
    result = DbResult(kind, nodes)
    label = kind if nodes == 1 else f"{kind}, {nodes} nodes"
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as tmp:
        profile = None
        if args.profile:
            args.results.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            profile = args.results / f"chat-{kind}-{nodes}n-{stamp}.folded"
            print(f"[{label}] profiling the joins and the ingest steps into {profile}")
        async with AsyncExitStack() as stack:
            url = await stack.enter_async_context(database(kind, Path(tmp)))
            server = await stack.enter_async_context(
                run_servers(args.server_root, url, cores, nodes)
            )
            http = await stack.enter_async_context(aiohttp.ClientSession())
            rest = Rest(http, server.first.url)
            print(f"[{label}] setting up {args.rooms} rooms...", flush=True)
            rooms = await make_rooms(rest, args.rooms)
            if args.history:
                print(f"[{label}] {args.history} messages in each room...", flush=True)
                await fill_history(rest, rooms, args.history)
            joiners = await make_members(rest, rooms, max(1, args.joiners // len(rooms)), "j")
            members = await make_members(rest, rooms, args.members, "m")
            for group in (joiners, members):
                for index, member in enumerate(group):
                    member["url"] = f"ws://{HOST}:{server.node_for(index, len(rooms)).port}/socket"
            ws = f"ws://{HOST}:{server.first.port}/socket"
            # Several nodes take both cores: the load generator goes where there is room.
            load = await stack.enter_async_context(LoadGen.start(cores[1] if nodes == 1 else None))

            print(f"[{label}] joins: {len(joiners)} holders...", flush=True)
            await load.run(server, "connect", url=ws, members=joiners)
            await server.start_profile(profile and profile.with_suffix(".first-joins.folded"))
            first = await load.run(server, "join", ticket=True)
            await server.stop_profile()
            await load.run(server, "leave")
            await server.start_profile(profile and profile.with_suffix(".returning-joins.folded"))
            again = await load.run(server, "join", ticket=False)
            await server.stop_profile()
            await load.run(server, "leave")
            await load.run(server, "disconnect")
            result.joins = {"holders": len(joiners), "first": first, "returning": again}
            for name, phase in (("first join (ticket)", first), ("returning join", again)):
                errors = f", errors {phase['errors']}" if phase["errors"] else ""
                print(f"[{label}]   {name}: {join_line(phase)}{errors}", flush=True)

            print(f"[{label}] ingest: {len(members)} members in {len(rooms)} rooms...", flush=True)
            await load.run(server, "connect", url=ws, members=members)
            joined = await load.run(server, "join", ticket=True)
            if joined["errors"]:
                raise RuntimeError(f"ingest members could not join: {joined['errors']}")
            await server.start_profile(profile)
            for rate in rates:
                step = await load.run(server, "ingest", rate=rate, seconds=args.seconds)
                step["acked_per_s"] = step["acked"] / max(step["ack_seconds"], 1e-9)
                step["cpu_us_per_msg"] = step["server_cpu_s"] / max(1, step["acked"]) * 1e6
                result.ingest.append(step)
                print(f"[{label}]   {ingest_line(step)}", flush=True)
                if step["p99_ms"] is not None and step["p99_ms"] > 5000:
                    print(f"[{label}]   saturated; higher rates skipped", flush=True)
                    break
            await server.stop_profile()
    return result


def join_line(phase: dict[str, Any]) -> str:
    joined = max(1, phase["joined"])
    return (
        f"{phase['joined']} in {phase['seconds']:.2f} s = {joined / phase['seconds']:,.0f} "
        f"joins/s, server CPU {phase['server_cpu_s'] / joined * 1e6:,.0f} µs/join"
    )


def ingest_line(step: dict[str, Any]) -> str:
    p50 = "-" if step["p50_ms"] is None else f"{step['p50_ms']:.1f}"
    p99 = "-" if step["p99_ms"] is None else f"{step['p99_ms']:.1f}"
    errors = f", errors {step['errors']}" if step["errors"] else ""
    return (
        f"offered {step['offered']:>6,.0f}/s: acked {step['acked_per_s']:>7,.0f}/s, "
        f"p50 {p50} ms, p99 {p99} ms, CPU {step['cpu_us_per_msg']:,.0f} µs/msg, "
        f"lost {step['lost']}, dup {step['duplicates']}, out of order {step['out_of_order']}"
        f"{errors}"
    )


def table(results: list[DbResult]) -> str:
    lines = []
    for result in results:
        nodes = "" if result.nodes == 1 else f", {result.nodes} nodes sharing Redis"
        lines.append(f"\n{result.db}{nodes}")
        lines.append(
            "| offered msgs/s | acked msgs/s | ack p50 ms | ack p99 ms | server CPU µs/msg "
            "| lost / dup / out of order |"
        )
        lines.append("|---:|---:|---:|---:|---:|---|")
        for s in result.ingest:
            p50 = "-" if s["p50_ms"] is None else f"{s['p50_ms']:.1f}"
            p99 = "-" if s["p99_ms"] is None else f"{s['p99_ms']:.1f}"
            lines.append(
                f"| {s['offered']:,.0f} | {s['acked_per_s']:,.0f} | {p50} | {p99} "
                f"| {s['cpu_us_per_msg']:,.0f} | {s['lost']} / {s['duplicates']} / "
                f"{s['out_of_order']} |"
            )
        for name in ("first", "returning"):
            phase = result.joins.get(name)
            if phase:
                lines.append(f"joins ({name}): {join_line(phase)}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[DbResult]:
    every_core = os.sched_getaffinity(0)
    cores = pin_cores()
    kinds = {"sqlite": ["sqlite"], "postgres": ["postgres"], "both": ["sqlite", "postgres"]}
    chosen = (
        kinds[args.db] if args.db else (["sqlite", "postgres"] if postgres_url() else ["sqlite"])
    )
    counts = [int(n) for n in args.nodes.split(",") if n.strip()]
    print(
        f"chat bench: {chosen}, nodes {counts}; one server on core {cores[0]} and phoenix.js "
        f"on core {cores[1]}, several servers one per core and phoenix.js unpinned; load "
        f"average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    results = []
    for kind in chosen:
        for count in counts:
            if count > 1 and kind == "sqlite":
                print(f"[{kind}] {count} nodes skipped: cluster mode needs PostgreSQL")
                continue
            # (The load generator inherits this process's cores when it is not pinned.)
            os.sched_setaffinity(0, every_core if count > 1 or cores[1] is None else {cores[1]})
            results.append(await bench_db(kind, args, cores, count))
    return results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raise_fd_limit()
    results = asyncio.run(main_async(args))
    print(table(results))
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"chat-{time.strftime('%Y%m%d-%H%M%S')}.json"
    document = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine(),
        "results": [r.__dict__ for r in results],
    }
    path.write_text(json.dumps(document, indent=2))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
