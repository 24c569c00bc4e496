"""The Presence burst: N clients join one topic, each tracked in Presence.

The server is ``bench.servers presence`` (the minimal bench channel plus the twin's
``after_join``: track the joiner, push ``presence_state``) or, with ``server="twin"``,
``examples/twin.py`` itself.

Every client keeps its own presence list exactly as phoenix.js's ``Presence`` class does
(``syncState`` / ``syncDiff``, diffs that arrive before the first ``presence_state`` held
back and applied after it), counts the presence frames and bytes it receives, and notes
when its list first holds all N users. Reported: frames per member, and the time from the
first connect until every client's list is complete.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from .phxclient import Fleet, PhxClient
from .scenarios import connect_fleet
from .serverproc import HOST, ServerProcess
from .sysinfo import own_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "room:presence"
QUERY = "vsn=2.0.0&token=good-token"

State = dict[str, dict[str, Any]]


def presence_available() -> bool:
    return (ROOT / "phxpy" / "presence.py").exists()


def _refs(metas: list[dict[str, Any]]) -> set[Any]:
    return {meta.get("phx_ref") for meta in metas}


def sync_diff(state: State, diff: dict[str, Any]) -> State:
    """phoenix.js ``Presence.syncDiff``: joins replace a key's metas (keeping older metas
    not in the join), leaves remove metas by ``phx_ref``; an empty key disappears."""
    # phoenix.js clones what it stores; a freshly decoded frame is ours alone, so no copy.
    for key, joined in diff.get("joins", {}).items():
        current = state.get(key)
        if current is not None:
            joined_refs = _refs(joined["metas"])
            kept = [m for m in current["metas"] if m.get("phx_ref") not in joined_refs]
            joined["metas"] = kept + joined["metas"]
        state[key] = joined
    for key, left in diff.get("leaves", {}).items():
        current = state.get(key)
        if current is None:
            continue
        gone = _refs(left["metas"])
        current["metas"] = [m for m in current["metas"] if m.get("phx_ref") not in gone]
        if not current["metas"]:
            del state[key]
    return state


def sync_state(state: State, new_state: State) -> State:
    """phoenix.js ``Presence.syncState``: turn the new full state into a diff against ours."""
    joins: State = {}
    leaves: State = {key: value for key, value in state.items() if key not in new_state}
    for key, presence in new_state.items():
        current = state.get(key)
        if current is None:
            joins[key] = presence
            continue
        new_refs, cur_refs = _refs(presence["metas"]), _refs(current["metas"])
        joined = [m for m in presence["metas"] if m.get("phx_ref") not in cur_refs]
        left = [m for m in current["metas"] if m.get("phx_ref") not in new_refs]
        if joined:
            joins[key] = presence | {"metas": joined}
        if left:
            leaves[key] = current | {"metas": left}
    return sync_diff(state, {"joins": joins, "leaves": leaves})


class PresenceFleet(Fleet):
    def __init__(self, port: int, expected: int) -> None:
        super().__init__(HOST, port, TOPIC, QUERY)
        self.expected = expected
        self.complete = 0
        self.presence_frames = 0


class PresenceClient(PhxClient):
    """A member that keeps the topic's presence list."""

    fleet: PresenceFleet

    def __init__(self, fleet: PresenceFleet, index: int) -> None:
        super().__init__(fleet, index)
        self.state: State = {}
        self.synced = False
        self.pending: list[dict[str, Any]] = []
        self.frames = 0
        self.diffs = 0
        self.bytes = 0
        self.complete_ns: int | None = None

    def on_message(self, data: bytes, binary: bool, now_ns: int) -> None:
        message = json.loads(data)
        event = message[3] if isinstance(message, list) and len(message) == 5 else None
        if event == "presence_state":
            self.state = sync_state(self.state, message[4])
            self.synced = True
            for diff in self.pending:
                sync_diff(self.state, diff)
            self.pending.clear()
        elif event == "presence_diff":
            self.diffs += 1
            if self.synced:
                sync_diff(self.state, message[4])
            else:
                self.pending.append(message[4])
        else:
            self.on_other(message)
            return
        self.frames += 1
        self.bytes += len(data)
        fleet = self.fleet
        fleet.presence_frames += 1
        if self.complete_ns is None and len(self.state) >= fleet.expected:
            self.complete_ns = now_ns
            fleet.complete += 1
            if fleet.complete >= fleet.target:
                fleet.reached.set()


async def _wait_complete(fleet: PresenceFleet, limit: float) -> bool:
    """Wait until every list is complete; True if ``limit`` passed first (or if no presence
    frame came at all within 5 s: then the server does not track)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(fleet.reached.wait(), 5.0)
            return False
        except TimeoutError:
            if not fleet.presence_frames:
                return True
    return True


async def presence_burst(
    clients: int,
    http: aiohttp.ClientSession,
    server_kind: str,
    core: int | None,
    profile: Path | None,
    *,
    concurrency: int,
    timeout: float,
    heartbeat: float,
) -> dict[str, Any]:
    server = await ServerProcess.start(server_kind, core, profile)
    try:
        fleet = PresenceFleet(server.port, clients)
        fleet.expect(clients)
        cpu0, own0 = server.cpu_seconds(), own_cpu_seconds()
        start_ns = time.monotonic_ns()
        heartbeats = asyncio.create_task(fleet.heartbeat_forever(heartbeat))
        connect = await connect_fleet(
            fleet,
            clients,
            server,
            concurrency=concurrency,
            timeout=timeout,
            deadline=300.0,
            client_class=PresenceClient,
        )
        joined_ns = time.monotonic_ns()
        try:
            timed_out = await _wait_complete(fleet, max(timeout, 120.0))
        finally:
            heartbeats.cancel()
        done_ns = time.monotonic_ns()
        server_cpu = server.cpu_seconds() - cpu0
        own = own_cpu_seconds() - own0
        members: list[PresenceClient] = [c for c in fleet.clients if isinstance(c, PresenceClient)]
        n = len(members) or 1
        completes = [c.complete_ns for c in members if c.complete_ns is not None]
        exact = sum(1 for c in members if len(c.state) == clients)
        fleet.close_all()
        return {
            "clients": clients,
            "server": server_kind,
            "topic": TOPIC,
            "joined": connect.joined,
            "connect_seconds": connect.seconds,
            "complete_clients": len(completes),
            "exact_lists": exact,
            "seconds_to_complete": (max(completes) - start_ns) / 1e9 if completes else None,
            "settle_after_last_join_s": (
                max(0, max(completes) - joined_ns) / 1e9 if completes else None
            ),
            "frames_per_member_mean": sum(c.frames for c in members) / n,
            "frames_per_member_max": max((c.frames for c in members), default=0),
            "diffs_per_member_mean": sum(c.diffs for c in members) / n,
            "bytes_per_member_mean": sum(c.bytes for c in members) / n,
            "server_cpu_s": server_cpu,
            "loadgen_busy": own / ((done_ns - start_ns) / 1e9),
            "timed_out": timed_out,
            "dropped_clients": fleet.closed_early,
            "note": "" if fleet.presence_frames else "no presence frame: the server tracks nobody",
        }
    finally:
        await server.stop()
