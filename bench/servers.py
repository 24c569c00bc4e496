"""The servers under test, one per process: ``python -m bench.servers KIND [--cpu N]``.

* ``phxpy``: phxpy mounted at ``/socket`` with a minimal channel (any ``room:*`` joins ok
  ``{}``, ``shout`` broadcasts) and no Presence, so the figures are phxpy's own.
* ``floor``: bare aiohttp. The handler keeps each WebSocket in a set and answers every text
  frame with a canned ok reply (so the same Phoenix client can "join"); a broadcast is one
  pre-encoded string and ``await ws.send_str(text)`` over the set: the simplest fast
  aiohttp fan-out, the floor phxpy is compared with.
* ``rawfloor``: the floor, but a broadcast is framed once and the bytes written to each
  transport, as phxpy's DirectSink does: the ceiling (not in the default run).
* ``presence``: the same minimal channel, plus what the twin does after a join: track the
  joiner in Presence under its ``user`` param and push it ``presence_state``.
* ``twin``: ``examples/twin.py`` (with Presence on).

Every kind adds the same admin routes: ``POST /bench/broadcast?topic=T&seq=S&count=C&pad=P``
does C broadcasts of ``{"seq": S+i, "t": <monotonic ns>, "x_pad": "x" * P}`` as event
``shout``; ``POST /bench/gc`` runs a full collection (before reading RSS; with
``?freeze=1`` it then freezes what survived: ``gc.freeze()``); ``GET /bench/stats``
counts connections and the collector's pauses. Every kind runs with the garbage collector
tuned as the chat runs it (:func:`phxpy.tune_collector`) unless ``BENCH_PYTHON_GC=1``.
The phxpy kinds also have
``POST /bench/feed?topic=T&rate=R&seconds=S&start_ns=N&origin=I&origins=K&pad=P``: from
monotonic time N on, the broadcasts of a steady feed of R per second for S seconds whose seq is I
modulo K (K nodes share one feed), each stamped with the time it was due (``"t"``), so a
node that falls behind shows it in every latency; and ``POST
/bench/flood?topic=T&count=C&batch=B``: C broadcasts, B per event-loop iteration, as fast as
the node goes (what a cluster node's publishing and receiving cost per message is measured
with). With ``--redis URL`` the phxpy server is a node of a cluster on that Redis, and
``/bench/stats`` adds the node's counters. The server prints ``{"port": ..., "pid": ...}``
on one line when it listens (on 127.0.0.1, a free port) and exits on SIGTERM or when its
stdin closes (the load generator is gone).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import importlib.util
import inspect
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import phxpy  # noqa: E402
from phxpy import Channel, ConnectInfo, Ok, Reply, Socket, Stop  # noqa: E402
from phxpy.message import Frame  # noqa: E402
from phxpy.transports.websocket import websocket_frame  # noqa: E402
from phxpy.types import Payload  # noqa: E402

from .sysinfo import raise_fd_limit  # noqa: E402

Broadcaster = Callable[[str, int, int, str], Awaitable[None]]
"""``(topic, first_seq, count, pad)``: do ``count`` broadcasts."""
Counter = Callable[[], int]

KINDS = ("phxpy", "floor", "rawfloor", "presence", "twin")


def bench_payload(seq: int, pad: str) -> dict[str, Any]:
    # Key order matters: the client reads "seq" and "t" at fixed places. phxpy writes keys
    # sorted (as Phoenix's Jason does), the floor in insertion order: names that sort in
    # insertion order give both servers the same bytes.
    return {"seq": seq, "t": time.monotonic_ns(), "x_pad": pad}


# ------------------------------------------------------------------- phxpy


class BenchChannel(Channel):
    async def join(self, payload: Payload) -> Reply:
        return Ok()

    async def handle_in(self, event: str, payload: Payload) -> Reply | Stop | None:
        if event == "shout":
            await self.broadcast("shout", payload)
            return None
        return await super().handle_in(event, payload)


class BenchSocket(Socket):
    channels = [("room:*", BenchChannel)]

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        return True


class PresenceChannel(BenchChannel):
    async def after_join(self) -> None:
        presence = self.endpoint.presence
        meta = {"online_at": str(int(time.time()))}
        await presence.track(self, self.assigns["user"], meta)
        await self.push("presence_state", presence.state_payload(self.topic))


class PresenceSocket(Socket):
    channels = [("room:*", PresenceChannel)]

    async def connect(self, params: dict[str, Any], connect_info: ConnectInfo) -> bool:
        user = params.get("user")
        self.assigns["user"] = user if isinstance(user, str) else "anon"
        return True


def phxpy_app(app: web.Application | None = None) -> tuple[web.Application, Broadcaster, Counter]:
    if app is None:
        app = web.Application()
        phxpy.mount(app, "/socket", BenchSocket, check_origin=False)
    endpoint = app[phxpy.ENDPOINT]

    async def broadcast(topic: str, seq: int, count: int, pad: str) -> None:
        for i in range(count):
            await endpoint.broadcast(topic, "shout", bench_payload(seq + i, pad))

    add_feed_routes(app, endpoint)
    return app, broadcast, lambda: endpoint.connection_count


def add_feed_routes(app: web.Application, endpoint: phxpy.Endpoint) -> None:
    feeds: set[asyncio.Task[None]] = set()

    async def feed(
        topic: str, rate: float, seconds: float, start_ns: int, origin: int, origins: int, pad: str
    ) -> None:
        interval_ns = 1e9 / rate
        total = int(rate * seconds)
        seq = origin
        while seq < total:
            due = start_ns + int(seq * interval_ns)
            now = time.monotonic_ns()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
                continue
            # Everything due by now goes out, each stamped with when it was due.
            payload = {"o": origin, "seq": seq, "t": due, "x_pad": pad}
            await endpoint.broadcast(topic, "shout", payload)
            seq += origins

    async def start_feed(request: web.Request) -> web.Response:
        q = request.query
        task = asyncio.get_running_loop().create_task(
            feed(
                q["topic"],
                float(q["rate"]),
                float(q["seconds"]),
                int(q["start_ns"]),
                int(q.get("origin", "0")),
                int(q.get("origins", "1")),
                "x" * int(q.get("pad", "0")),
            )
        )
        feeds.add(task)
        task.add_done_callback(feeds.discard)
        return web.json_response({"ok": True})

    async def flood(request: web.Request) -> web.Response:
        q = request.query
        topic, count, batch = q["topic"], int(q["count"]), int(q.get("batch", "50"))
        started = time.perf_counter()
        for first in range(0, count, batch):
            for seq in range(first, min(count, first + batch)):
                await endpoint.broadcast(topic, "shout", bench_payload(seq, ""))
            await asyncio.sleep(0)  # one event-loop iteration: one pipeline per batch
        return web.json_response({"seconds": time.perf_counter() - started})

    app.router.add_post("/bench/feed", start_feed)
    app.router.add_post("/bench/flood", flood)


def presence_app() -> tuple[web.Application, Broadcaster, Counter]:
    app = web.Application()
    phxpy.mount(app, "/socket", PresenceSocket, check_origin=False)
    return phxpy_app(app)


def twin_app() -> tuple[web.Application, Broadcaster, Counter]:
    spec = importlib.util.spec_from_file_location("phxpy_twin", ROOT / "examples" / "twin.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("examples/twin.py not found")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    create_app: Callable[..., web.Application] = module.create_app
    # The twin tracks presence only when asked to (newer versions) or always (older ones).
    wants_flag = "presence" in inspect.signature(create_app).parameters
    return phxpy_app(create_app(presence=True) if wants_flag else create_app())


# ------------------------------------------------------------------- floor


def _dumps(value: Any) -> str:
    # As phxpy encodes (compact, UTF-8), so both servers send frames of the same size.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def floor_app(raw: bool = False) -> tuple[web.Application, Broadcaster, Counter]:
    """``raw``: frame the broadcast once and write the bytes to each connection's transport
    (what phxpy's DirectSink does): the ceiling of any asyncio fan-out, one ``send()``
    system call per delivery and next to no Python."""
    clients: dict[web.WebSocketResponse, asyncio.Transport] = {}

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, autoping=True)
        await ws.prepare(request)
        assert isinstance(request.transport, asyncio.Transport)
        clients[ws] = request.transport
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    join_ref, ref, topic = json.loads(msg.data)[:3]
                    reply = {"response": {}, "status": "ok"}
                    await ws.send_str(_dumps([join_ref, ref, topic, "phx_reply", reply]))
        finally:
            clients.pop(ws, None)
        return ws

    async def broadcast(topic: str, seq: int, count: int, pad: str) -> None:
        for i in range(count):
            text = _dumps([None, None, topic, "shout", bench_payload(seq + i, pad)])
            if raw:
                frame = websocket_frame(Frame(text.encode()))
                for transport in tuple(clients.values()):
                    transport.write(frame)
            else:
                for ws in tuple(clients):
                    await ws.send_str(text)

    app = web.Application()
    app.router.add_get("/socket/websocket", websocket)
    return app, broadcast, lambda: len(clients)


# ------------------------------------------------------------------- admin


Stats = Callable[[], dict[str, Any]]

GC_PAUSES: dict[str, float] = {"full": 0, "full_s": 0.0, "full_max_s": 0.0, "young_s": 0.0}
"""The garbage collector's pauses (a full collection of a heap holding thousands of
connections takes long enough to show in a broadcast's latency); ``full_max_s`` is the
longest full collection since the previous ``/bench/stats``."""


def watch_gc() -> None:
    started = 0.0

    def callback(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
            return
        took = time.perf_counter() - started
        if info["generation"] == 2:
            GC_PAUSES["full"] += 1
            GC_PAUSES["full_s"] += took
            GC_PAUSES["full_max_s"] = max(GC_PAUSES["full_max_s"], took)
        else:
            GC_PAUSES["young_s"] += took

    gc.callbacks.append(callback)


def add_admin_routes(
    app: web.Application, broadcast: Broadcaster, count: Counter, stats: Stats | None = None
) -> None:
    async def do_broadcast(request: web.Request) -> web.Response:
        q = request.query
        pad = "x" * int(q.get("pad", "0"))
        await broadcast(q["topic"], int(q.get("seq", "0")), int(q.get("count", "1")), pad)
        return web.json_response({"ok": True})

    async def collect(request: web.Request) -> web.Response:
        collected = gc.collect()
        if request.query.get("freeze"):
            # What is alive now (the joined clients) is never scanned again: later full
            # collections cost what was made since, not the whole heap.
            gc.freeze()
        return web.json_response({"collected": collected, "frozen": gc.get_freeze_count()})

    async def show_stats(_: web.Request) -> web.Response:
        extra = stats() if stats else {}
        pauses = dict(GC_PAUSES)
        GC_PAUSES["full_max_s"] = 0.0
        return web.json_response({"connections": count(), "gc": pauses, **extra})

    app.router.add_post("/bench/broadcast", do_broadcast)
    app.router.add_post("/bench/gc", collect)
    app.router.add_get("/bench/stats", show_stats)


def cluster_app(redis_url: str) -> tuple[web.Application, Broadcaster, Counter, Stats]:
    """``phxpy`` as one node of a cluster on Redis (``--redis URL``)."""
    from phxpy.cluster import RedisCluster

    cluster = RedisCluster(redis_url, name="bench")
    endpoint = phxpy.Endpoint(pubsub=cluster.pubsub)
    app = web.Application()
    phxpy.mount(app, "/socket", BenchSocket, check_origin=False, endpoint=endpoint)

    async def start(_: web.Application) -> None:
        await cluster.start()
        for _attempt in range(500):
            if cluster.connected:
                return
            await asyncio.sleep(0.01)
        raise RuntimeError("no Redis")

    async def stop(_: web.Application) -> None:
        await cluster.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return (*phxpy_app(app), cluster.snapshot)


def build(kind: str, redis_url: str | None = None) -> web.Application:
    stats: Stats | None = None
    if kind == "phxpy" and redis_url:
        app, broadcast, count, stats = cluster_app(redis_url)
    elif kind == "phxpy":
        app, broadcast, count = phxpy_app()
    elif kind == "floor":
        app, broadcast, count = floor_app()
    elif kind == "rawfloor":
        app, broadcast, count = floor_app(raw=True)
    elif kind == "presence":
        app, broadcast, count = presence_app()
    elif kind == "twin":
        app, broadcast, count = twin_app()
    else:
        raise ValueError(f"unknown server kind {kind!r}")
    add_admin_routes(app, broadcast, count, stats)
    return app


# ------------------------------------------------------------------- main


class _StdinWatch(asyncio.Protocol):
    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop.set()


async def serve(kind: str, redis_url: str | None = None) -> None:
    app = build(kind, redis_url)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await loop.connect_read_pipe(lambda: _StdinWatch(stop), sys.stdin)
    print(json.dumps({"port": port, "pid": os.getpid(), "kind": kind}), flush=True)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to one core")
    parser.add_argument("--profile", default=None, help="write cProfile stats to this file")
    parser.add_argument("--redis", default=None, help="phxpy: a cluster node on this Redis")
    args = parser.parse_args(argv)
    raise_fd_limit()
    watch_gc()
    if not os.environ.get("BENCH_PYTHON_GC"):
        # As the chat does at start (GC_YOUNG_THRESHOLD); BENCH_PYTHON_GC=1 keeps Python's
        # own thresholds, to compare.
        phxpy.tune_collector()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    logging.basicConfig(level=logging.WARNING, format="server %(levelname)s %(name)s: %(message)s")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            asyncio.run(serve(args.kind, args.redis))
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
    else:
        asyncio.run(serve(args.kind, args.redis))


if __name__ == "__main__":
    main()
