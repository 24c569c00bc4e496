"""Phoenix V2 clients for the benchmark, and the fleet that counts what they receive.

A :class:`PhxClient` joins one topic (``["1","1",topic,"phx_join",{}]``) and then counts
the fan-out broadcasts ``[null,null,topic,"shout",{"seq":N,"t":NS,"x_pad":"..."}]``. Those are
recognised by their fixed prefix and read without ``json.loads`` (the load generator decodes
a million of them per run); every other frame is decoded normally.

Each client checks that the sequence numbers arrive in order, once each: anything else is a
duplicate or a gap, counted on the client. ``t`` is the server's ``time.monotonic_ns()``
when the broadcast started; on Linux that clock is system-wide, so ``now - t`` is the
delivery latency across the two processes.
"""

from __future__ import annotations

import asyncio
import json
import time
from array import array
from typing import Any

from .wsclient import WebSocketClient

JOIN_REF = "1"


class Fleet:
    """What all clients of one run share: counters, latencies, the completion event."""

    def __init__(self, host: str, port: int, topic: str, query: str) -> None:
        self.host = host
        self.port = port
        self.topic = topic
        self.query = query
        self.clients: list[PhxClient] = []
        self.prefix = f'[null,null,"{topic}","shout",{{"seq":'.encode()
        self.deliveries = 0
        self.target = 0
        self.reached = asyncio.Event()
        self.latencies_ns = array("q")
        self.closed_early = 0
        self.last_frame_bytes = 0

    def path(self, index: int) -> str:
        return f"/socket/websocket?{self.query}&user=u{index}"

    def expect(self, target: int) -> None:
        """Set :attr:`reached` once :attr:`deliveries` gets to ``target``."""
        self.target = target
        self.reached.clear()
        if self.deliveries >= target:
            self.reached.set()

    def reset_fanout(self) -> None:
        self.deliveries = 0
        self.target = 0
        self.latencies_ns = array("q")
        for client in self.clients:
            client.next_seq = 0
            client.received = 0
            client.duplicates = 0
            client.gaps = 0

    async def heartbeat_forever(self, interval: float) -> None:
        """Heartbeat each client ``interval`` seconds after its last frame out, as
        phoenix.js does (30 s), until cancelled. Keeps the server's idle timeout away."""
        frame = json.dumps([None, "hb", "phoenix", "heartbeat", {}]).encode()
        tick = min(interval / 10, 1.0)
        while True:
            await asyncio.sleep(tick)
            due = time.monotonic() - interval
            for client in self.clients:
                if client.last_sent < due:
                    client.send_text(frame)
                    client.last_sent = time.monotonic()

    def close_all(self) -> None:
        for client in self.clients:
            client.close()


class PhxClient(WebSocketClient):
    """Connects, joins the fleet's topic, counts fan-out broadcasts."""

    def __init__(self, fleet: Fleet, index: int) -> None:
        super().__init__(fleet.host, fleet.port, fleet.path(index))
        self.fleet = fleet
        self.index = index
        self.joined: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.next_seq = 0
        self.received = 0
        self.duplicates = 0
        self.gaps = 0
        self.other_frames = 0
        self.closing = False
        self.last_sent = time.monotonic()

    def on_open(self) -> None:
        self.last_sent = time.monotonic()
        self.send_text(json.dumps([JOIN_REF, JOIN_REF, self.fleet.topic, "phx_join", {}]).encode())

    def close(self) -> None:
        self.closing = True
        super().close()

    def on_close(self, reason: str) -> None:
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(reason))
        elif not self.closing:
            self.fleet.closed_early += 1  # the server dropped a joined client

    def on_message(self, data: bytes, binary: bool, now_ns: int) -> None:
        fleet = self.fleet
        prefix = fleet.prefix
        if not data.startswith(prefix):
            self.on_other(json.loads(data))
            return
        # {"seq":N,"t":NS,... — two integers at known places.
        comma = data.index(b",", len(prefix))
        seq = int(data[len(prefix) : comma])
        t_start = comma + 5  # ,"t":
        sent_ns = int(data[t_start : data.index(b",", t_start)])
        if seq >= self.next_seq:
            if seq != self.next_seq:
                self.gaps += 1
            self.next_seq = seq + 1
            self.received += 1
        else:
            self.duplicates += 1
        fleet.latencies_ns.append(now_ns - sent_ns)
        fleet.last_frame_bytes = len(data)
        fleet.deliveries += 1
        if fleet.deliveries >= fleet.target:
            fleet.reached.set()

    def on_other(self, message: Any) -> None:
        """A frame that is not a fan-out broadcast: the join reply, heartbeat replies..."""
        self.other_frames += 1
        if (
            isinstance(message, list)
            and len(message) == 5
            and message[3] == "phx_reply"
            and message[1] == JOIN_REF
            and not self.joined.done()
        ):
            status = message[4].get("status") if isinstance(message[4], dict) else None
            self.joined.set_result(str(status))
