"""SIGTERM under load: ``python -m server`` stops accepting, closes the sockets with 1012
spread over SHUTDOWN_DRAIN_SECONDS while they go on posting, stores every message it
acknowledged, and exits 0."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.server.process_rest import new_ticket, open_event, rest, sign_up
from tests.server.server_process import server_process

MEMBERS = 20
DRAIN = 2.0
IN_FLIGHT = 5


@dataclass
class Poster:
    """A member who posts all the time, a few messages in flight, and notes the acks."""

    ws: aiohttp.ClientWebSocketResponse
    topic: str
    name: str
    acked: dict[int, str] = field(default_factory=dict)
    closed_at: float | None = None
    close_code: int | None = None

    async def run(self) -> None:
        outstanding: dict[str, str] = {}
        sent = 0
        sending = True
        while True:
            while sending and len(outstanding) < IN_FLIGHT:
                sent += 1
                ref, content = f"{sent}", f"{self.name} #{sent}"
                outstanding[ref] = content
                post = {"content": content, "client_id": ref}
                frame = ["1", ref, self.topic, "new_message", post]
                try:
                    await self.ws.send_str(json.dumps(frame))
                except ConnectionError:  # the server is closing it: read to the Close frame
                    sending = False
            message = await self.ws.receive()
            if message.type is not aiohttp.WSMsgType.TEXT:
                self.closed_at = time.monotonic()
                # The code of the server's Close frame, as a browser reports it.
                closing = message.type is aiohttp.WSMsgType.CLOSE
                self.close_code = int(message.data) if closing else None
                return
            _, ref, _, event, payload = json.loads(message.data)
            if event == "phx_reply" and ref in outstanding:
                content = outstanding.pop(ref)
                if payload["status"] == "ok":
                    self.acked[payload["response"]["message"]["seq"]] = content


async def test_sigterm_drains_the_sockets_and_keeps_every_acked_message(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        "SHUTDOWN_DRAIN_SECONDS": str(int(DRAIN)),
        "CHAT_MESSAGES_PER_SECOND": "1000",  # the posting limit is not what this is about
        "CHAT_MESSAGE_BURST": "1000",
    }
    async with (
        server_process(database_url, tmp_path, env=env) as server,
        aiohttp.ClientSession() as http,
    ):
        event = await open_event(http, server, "restart")
        topic = f"event:{event['id']}"
        posters = []
        for n in range(MEMBERS):
            token = await sign_up(http, server, f"member{n}")
            number = await new_ticket(http, server, event["id"])
            ws = await http.ws_connect(f"{server.socket_url}/websocket?vsn=2.0.0&token={token}")
            await ws.send_str(json.dumps(["1", "0", topic, "phx_join", {"ticket_number": number}]))
            reply: Any = json.loads((await ws.receive()).data)
            assert reply[4]["status"] == "ok", reply
            posters.append(Poster(ws, topic, f"member{n}"))

        running = [asyncio.create_task(poster.run()) for poster in posters]
        async with asyncio.timeout(30):  # under load: every member has had acks
            while not all(len(p.acked) >= 5 for p in posters):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        server.process.terminate()  # SIGTERM
        signalled = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*running), 30)
        assert await asyncio.wait_for(server.process.wait(), 30) == 0

    # A member sending at the very moment its socket is closed can find the connection
    # reset before it reads the Close frame (aiohttp closes the connection once its Close
    # is out); phoenix.js then sees 1006 and reconnects all the same.
    codes = [p.close_code for p in posters if p.close_code is not None]
    assert set(codes) == {1012} and len(codes) >= MEMBERS - 2, codes
    closes = sorted(p.closed_at - signalled for p in posters if p.closed_at is not None)
    # Spread over the window, not all at once: the first at once, the last near its end.
    assert closes[0] < DRAIN / 4, closes
    assert closes[-1] - closes[0] >= DRAIN / 2, closes
    assert sum(1 for c in closes if c < DRAIN / 2) <= MEMBERS * 3 // 4, closes

    acked = {seq: content for p in posters for seq, content in p.acked.items()}
    async with server_process(database_url, tmp_path) as again, aiohttp.ClientSession() as http:
        stored: dict[int, str] = {}
        before = ""
        while True:  # every page of the history, newest first
            page = await rest(
                http,
                "GET",
                f"{again.url}/api/events/{event['id']}/messages?limit=100{before}",
                token=token,
            )
            stored |= {m["seq"]: m["content"] for m in page["data"]}
            if len(page["data"]) < 100:
                break
            before = f"&before={min(m['seq'] for m in page['data'])}"
    assert len(acked) >= MEMBERS * 5
    missing = {seq: content for seq, content in acked.items() if stored.get(seq) != content}
    assert not missing, missing
