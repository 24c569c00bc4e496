"""An acknowledged message is stored for good: ``kill -9`` right after the acks loses none."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.phoenixjs import PhoenixJS, phoenixjs
from tests.server.process_rest import new_ticket, open_event, rest, sign_up
from tests.server.server_process import server_process

__all__ = ["phoenixjs"]


async def test_acknowledged_messages_survive_kill_9(
    database_url: str, tmp_path: Path, phoenixjs: PhoenixJS
) -> None:
    # (The per-user message limit is not what this is about.)
    limits = {"CHAT_MESSAGE_BURST": "100"}
    async with (
        server_process(database_url, tmp_path, env=limits) as server,
        aiohttp.ClientSession() as http,
    ):
        event = await open_event(http, server, "durable")
        token = await sign_up(http, server, "keeper")
        number = await new_ticket(http, server, event["id"])
        client = await phoenixjs.connect(server.socket_url, params={"token": token})
        topic = f"event:{event['id']}"
        joined = await client.join(topic, {"ticket_number": number})
        assert joined["status"] == "ok", joined
        ids = [
            await client.push_nowait(
                topic, "new_message", {"content": f"m{n}", "client_id": f"c{n}"}
            )
            for n in range(60)
        ]
        acks = [await client.expect(event="reply", id=ident) for ident in ids]
        assert all(ack["status"] == "ok" for ack in acks), acks
        acked = sorted(ack["response"]["message"]["seq"] for ack in acks)
        server.kill()
        await server.process.wait()

    async with server_process(database_url, tmp_path) as again, aiohttp.ClientSession() as http:
        history = await rest(
            http,
            "GET",
            f"{again.url}/api/events/{event['id']}/messages?limit=100",
            token=token,
        )
    assert sorted(m["seq"] for m in history["data"]) == acked == list(range(1, 61))
    assert [m["content"] for m in history["data"]] == [f"m{n}" for n in range(60)]
