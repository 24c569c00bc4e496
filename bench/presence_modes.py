"""What presence costs each member of a big room: list mode against count mode.

    .venv/bin/python bench/presence_modes.py                 # 5,000 members
    .venv/bin/python bench/presence_modes.py --members 500   # a smaller room
    .venv/bin/python bench/presence_modes.py --quick         # a smoke run

The ticket chat (``python -m server``, SQLite, pinned to one core) serves one event whose
room ``--members`` holders join one after another (``--concurrency`` joins in flight), each
on a WebSocket of its own (bench/wsclient.py, on the other core). Twice, on the same data:
with PRESENCE_LIST_LIMIT above the room's size (list mode: every member gets the whole list
at join and every change after it) and with the default limit (count mode past it: members
get their own entries and ``presence_count``). Each member counts the presence frames it
receives (``presence_state``, ``presence_diff``, ``presence_count``, ``presence_mode``) and
their bytes, from its join until the room has been quiet for ``--quiet`` seconds after the
last join; in count mode each member's last count must be the room's size.

Reported per mode: presence bytes and frames per member (mean and max), the server's CPU
for the whole burst, and the time until the room was quiet. The holders and their tokens are
written straight into the database with the service's own db layer (no REST sign-ups: they
are not what is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "bench":
    sys.path.pop(0)  # run as a script: import bench.* from the repository root instead
sys.path.insert(0, str(ROOT))


from bench.chatserver import HOST, SECRET, SERVICE_KEY, run_server  # noqa: E402
from bench.sysinfo import cpu_seconds, machine, pin_cores, raise_fd_limit  # noqa: E402
from bench.wsclient import WebSocketClient  # noqa: E402
from server.auth.tokens import issue_token  # noqa: E402
from server.clock import utc_now  # noqa: E402
from server.config import DEFAULT_PRESENCE_LIST_LIMIT, Settings  # noqa: E402
from server.db import events as event_store  # noqa: E402
from server.db import tickets as ticket_store  # noqa: E402
from server.db import users as user_store  # noqa: E402
from server.db.open import open_database  # noqa: E402
from server.db.schema import apply_schema  # noqa: E402
from server.domain import NewEvent  # noqa: E402

PRESENCE_EVENTS = (b'"presence_state"', b'"presence_diff"', b'"presence_count"', b'"presence_mode"')


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--members", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=50, help="joins in flight")
    p.add_argument("--quiet", type=float, default=3.0, help="seconds without presence frames")
    p.add_argument("--limit", type=int, default=DEFAULT_PRESENCE_LIST_LIMIT)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    if args.quick:
        args.members, args.limit, args.quiet = 300, 100, 1.0
    return args


# ------------------------------------------------------------------------------ the data


async def prepare(database_url: str, members: int) -> tuple[str, list[str]]:
    """One event and ``members`` holders of an assigned ticket; their tokens."""
    db = await open_database(database_url, pool_size=1)
    now = utc_now()
    settings = Settings(database_url=database_url, secret_key=SECRET, service_api_key=SERVICE_KEY)
    try:
        await apply_schema(db)
        async with db.write() as conn:
            event = await event_store.create_event(
                conn,
                NewEvent(
                    name="big room",
                    description="benchmark",
                    location="loopback",
                    start_time=now + timedelta(days=1),
                    end_time=now + timedelta(days=1, hours=4),
                ),
                now=now,
            )
            user_ids = []
            for n in range(members):
                user = await user_store.create_user(
                    conn, username=f"m{n}", email=f"m{n}@bench.test", password_hash="-", now=now
                )
                ticket = await ticket_store.create_ticket(
                    conn, event_id=event.id, ticket_number=f"BIG-{n}", now=now
                )
                await ticket_store.assign_ticket(
                    conn, ticket_id=ticket.id, user_id=user.id, now=now
                )
                user_ids.append(user.id)
    finally:
        await db.close()
    tokens = [issue_token(settings, user_id=u, token_version=0, now=now) for u in user_ids]
    return event.id, tokens


# ---------------------------------------------------------------------------- the server


# ---------------------------------------------------------------------------- the members


class Room:
    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.last_presence = time.monotonic()


class Member(WebSocketClient):
    """Joins with no ticket number (the assigned ticket), counts presence frames."""

    def __init__(self, room: Room, port: int, token: str) -> None:
        super().__init__(HOST, port, f"/socket/websocket?vsn=2.0.0&token={token}")
        self.room = room
        self.joined: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.bytes = 0
        self.last_count: int | None = None

    def on_open(self) -> None:
        join = json.dumps(["1", "1", self.room.topic, "phx_join", {}]).encode()
        self.send_text(join)

    def on_message(self, data: bytes, binary: bool, now_ns: int) -> None:
        head = data[:200]
        if any(name in head for name in PRESENCE_EVENTS):
            self.frames += 1
            self.bytes += len(data)
            self.room.last_presence = time.monotonic()
            if b'"presence_count"' in head:
                self.last_count = int(json.loads(data)[4]["online"])
            return
        if not self.joined.done() and b'"phx_reply"' in head:
            message = json.loads(data)
            if message[1] == "1":
                self.joined.set_result(str(message[4].get("status")))

    def on_close(self, reason: str) -> None:
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(reason))


@dataclass
class ModeResult:
    mode: str
    members: int
    joined: int
    presence_bytes_per_member_mean: float
    presence_bytes_per_member_max: int
    presence_frames_per_member_mean: float
    presence_frames_per_member_max: int
    counts_right: int | None
    """Count mode: members whose last presence_count is the room's size."""
    server_cpu_s: float
    seconds_until_quiet: float


async def burst(
    mode: str, database_url: str, event_id: str, tokens: list[str], args: argparse.Namespace
) -> ModeResult:
    limit = len(tokens) + 1 if mode == "list" else args.limit
    server_core = args.server_core
    env = {"PRESENCE_LIST_LIMIT": str(limit)}
    async with run_server(database_url, server_core, env, log_prefix="presence-bench-") as server:
        proc, port = server.proc, server.port
        room = Room(f"event:{event_id}")
        members: list[Member] = []
        loop = asyncio.get_running_loop()
        queue = iter(tokens)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()

        async def worker() -> None:
            for token in queue:
                member = Member(room, port, token)
                await loop.create_connection(lambda m=member: m, HOST, port)  # type: ignore[misc]
                status = await asyncio.wait_for(member.joined, 60)
                if status != "ok":
                    raise RuntimeError(f"join refused: {status}")
                members.append(member)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        while (quiet := time.monotonic() - room.last_presence) < args.quiet:  # noqa: ASYNC110
            await asyncio.sleep(args.quiet - quiet)
        seconds = time.monotonic() - t0 - args.quiet
        cpu = cpu_seconds(proc.pid) - cpu0
        for member in members:
            member.close()
    n = len(members) or 1
    return ModeResult(
        mode=mode,
        members=len(tokens),
        joined=len(members),
        presence_bytes_per_member_mean=sum(m.bytes for m in members) / n,
        presence_bytes_per_member_max=max((m.bytes for m in members), default=0),
        presence_frames_per_member_mean=sum(m.frames for m in members) / n,
        presence_frames_per_member_max=max((m.frames for m in members), default=0),
        counts_right=(
            sum(1 for m in members if m.last_count == len(tokens)) if mode == "count" else None
        ),
        server_cpu_s=cpu,
        seconds_until_quiet=seconds,
    )


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    args.server_core, _ = pin_cores()
    with tempfile.TemporaryDirectory(prefix="presence-bench-") as workdir:
        database_url = f"sqlite:///{Path(workdir) / 'bench.sqlite3'}"
        event_id, tokens = await prepare(database_url, args.members)
        results = [
            await burst(mode, database_url, event_id, tokens, args) for mode in ("list", "count")
        ]
    print(
        f"presence for a room of {args.members} members joining (PRESENCE_LIST_LIMIT "
        f"{args.limit} in count mode)"
    )
    print(f"{'':34} {'list':>14} {'count':>14}")
    list_mode, count_mode = results

    def row(label: str, cell: Callable[[ModeResult], str]) -> None:
        print(f"{label:34} {cell(list_mode):>14} {cell(count_mode):>14}")

    row(
        "presence KiB per member (mean)",
        lambda r: f"{r.presence_bytes_per_member_mean / 1024:,.1f}",
    )
    row("presence KiB per member (max)", lambda r: f"{r.presence_bytes_per_member_max / 1024:,.1f}")
    row("presence frames per member (mean)", lambda r: f"{r.presence_frames_per_member_mean:,.1f}")
    row("server CPU for the burst (s)", lambda r: f"{r.server_cpu_s:,.1f}")
    row("seconds until quiet", lambda r: f"{r.seconds_until_quiet:,.1f}")
    count = results[1]
    print(f"count mode: {count.counts_right} of {count.joined} members' last count is right")
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"presence-modes-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine(),
                "args": {k: str(v) for k, v in vars(args).items()},
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
    )
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
