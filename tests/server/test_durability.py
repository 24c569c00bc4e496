"""An acknowledged message is stored for good: ``kill -9`` right after the acks loses none."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.phoenixjs import PhoenixJS, phoenixjs
from tests.server.api_client import SERVICE_KEY
from tests.server.server_process import server_process

__all__ = ["phoenixjs"]

FMT = "%Y-%m-%d %H:%M:%S"


async def rest(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, token: str = SERVICE_KEY
) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, url, json=body, headers=headers) as response:
        assert response.status < 300, await response.text()
        return await response.json()


async def test_acknowledged_messages_survive_kill_9(
    database_url: str, tmp_path: Path, phoenixjs: PhoenixJS
) -> None:
    # An event starting within the two hours' lead: its room is open at once.
    start = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    # (The per-user message limit is not what this is about.)
    limits = {"CHAT_MESSAGE_BURST": "100"}
    async with (
        server_process(database_url, tmp_path, env=limits) as server,
        aiohttp.ClientSession() as http,
    ):
        event = (
            await rest(
                http,
                "POST",
                f"{server.url}/api/events/create_event",
                {
                    "event": {
                        "name": "durable",
                        "description": "d",
                        "location": "here",
                        "start_time": start.strftime(FMT),
                        "end_time": (start + timedelta(hours=3)).strftime(FMT),
                    }
                },
            )
        )["data"]
        signup = await rest(
            http,
            "POST",
            f"{server.url}/api/users/create",
            {
                "user_params": {
                    "username": "keeper",
                    "email": "k@example.com",
                    "password": "pw-1234567",
                }
            },
        )
        token = signup["data"]["token"]
        number = f"T-{uuid.uuid4().hex[:8]}"
        await rest(
            http,
            "POST",
            f"{server.url}/api/tickets/create",
            {"ticket": {"ticket_number": number, "event_id": event["id"]}},
        )
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
