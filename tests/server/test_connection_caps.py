"""How many connections one user holds: WebSockets and LongPoll sessions count alike, and
a crowd of connects at once gets no more than the cap."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import aiohttp

from server.config import Settings
from tests.server.api_client import Api
from tests.server.chat_support import AiohttpClient, build_app, stepping_clock

__all__ = ["stepping_clock"]

CAP = 3


async def test_longpoll_sessions_count_against_the_sockets_of_a_user(
    aiohttp_client: AiohttpClient, settings: Settings, stepping_clock: Any
) -> None:
    client = await aiohttp_client(
        build_app(replace(settings, chat_sockets_per_user=CAP), stepping_clock)
    )
    fan = await Api(client).sign_up()
    websocket = f"/socket/websocket?vsn=2.0.0&token={fan.token}"
    longpoll = f"/socket/longpoll?vsn=2.0.0&token={fan.token}"
    first = await client.ws_connect(websocket)
    sessions = []
    for _ in range(CAP - 1):
        response = await client.get(longpoll)
        sessions.append(await response.json())
    assert [s["status"] for s in sessions] == [410] * (CAP - 1)  # new sessions
    response = await client.get(longpoll)
    assert await response.json() == {"status": 403}
    try:
        await client.ws_connect(websocket)
        raise AssertionError("a connection over the cap was let in")
    except aiohttp.WSServerHandshakeError as refused:
        assert refused.status == 429
    await first.close()


async def test_a_crowd_of_connects_at_once_gets_the_cap_and_no_more(
    aiohttp_client: AiohttpClient, settings: Settings, stepping_clock: Any
) -> None:
    client = await aiohttp_client(
        build_app(replace(settings, chat_sockets_per_user=CAP), stepping_clock)
    )
    fan = await Api(client).sign_up()
    url = str(client.make_url(f"/socket/websocket?vsn=2.0.0&token={fan.token}"))
    async with aiohttp.ClientSession() as http:

        async def connect() -> aiohttp.ClientWebSocketResponse | int:
            try:
                return await http.ws_connect(url)
            except aiohttp.WSServerHandshakeError as refused:
                return refused.status

        outcomes = await asyncio.gather(*(connect() for _ in range(30)))
        opened = [o for o in outcomes if isinstance(o, aiohttp.ClientWebSocketResponse)]
        assert len(opened) == CAP
        assert sorted(o for o in outcomes if isinstance(o, int)) == [429] * (30 - CAP)
        for ws in opened:
            await ws.close()
