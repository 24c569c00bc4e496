"""The README's embedding example works as printed."""

from __future__ import annotations

import json

from pytest_aiohttp import AiohttpClient

from examples.embed import create_app


async def test_embedded_socket_and_rest_broadcast(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(create_app())
    async with client.ws_connect("/socket/websocket?vsn=2.0.0") as ws:
        await ws.send_str('["1","1","room:lobby","phx_join",{}]')
        reply = json.loads((await ws.receive()).data)
        assert reply[4] == {"response": {"welcome": "room:lobby"}, "status": "ok"}
        assert (await client.post("/announce", data='{"body":"from REST"}')).status == 204
        assert json.loads((await ws.receive()).data) == [
            None,
            None,
            "room:lobby",
            "shout",
            {"body": "from REST"},
        ]
        assert (await client.post("/announce", data="not json")).status == 400
